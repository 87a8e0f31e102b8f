#include "server/compat/api_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace vigil::compat {
namespace {

bool SameNumberString(const std::string& a, const std::string& b, double tol) {
  if (a == b) return true;
  char* ea;
  char* eb;
  double x = std::strtod(a.c_str(), &ea);
  double y = std::strtod(b.c_str(), &eb);
  if (*ea != '\0' || *eb != '\0' || a.empty() || b.empty()) return false;
  if (std::isnan(x) || std::isnan(y) || std::isinf(x) || std::isinf(y)) {
    return false;
  }
  return std::fabs(x - y) <= tol * std::max(std::fabs(x), std::fabs(y));
}

std::string Diff(const nlohmann::json& a, const nlohmann::json& b,
                 const std::string& path, double tol) {
  if (a.type() != b.type()) {
    return absl::StrCat(path, ": ", a.dump(), " vs ", b.dump());
  }
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key())) {
        return absl::StrCat(path, ".", it.key(), ": missing in second");
      }
      std::string d = Diff(it.value(), b[it.key()], path + "." + it.key(), tol);
      if (!d.empty()) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) {
        return absl::StrCat(path, ".", it.key(), ": missing in first");
      }
    }
    return "";
  }
  if (a.is_array()) {
    if (a.size() != b.size()) {
      return absl::StrCat(path, ": ", a.size(), " vs ", b.size(),
                          " elements: ", a.dump().substr(0, 300), " vs ",
                          b.dump().substr(0, 300));
    }
    for (size_t i = 0; i < a.size(); ++i) {
      std::string d = Diff(a[i], b[i], absl::StrCat(path, "[", i, "]"), tol);
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a.is_string()) {
    if (SameNumberString(a.get<std::string>(), b.get<std::string>(), tol)) {
      return "";
    }
    return absl::StrCat(path, ": ", a.dump(), " vs ", b.dump());
  }
  if (a.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    if (x == y ||
        std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), std::fabs(y))) {
      return "";
    }
  }
  if (a == b) return "";
  return absl::StrCat(path, ": ", a.dump(), " vs ", b.dump());
}

}  // namespace

void NormalizeApi(nlohmann::json* j) {
  if (!j->is_object() || !j->contains("data")) return;
  nlohmann::json& data = (*j)["data"];
  auto by_dump = [](const nlohmann::json& x, const nlohmann::json& y) {
    return x.dump() < y.dump();
  };
  if (data.is_object() && data.contains("result") &&
      (data.value("resultType", "") == "vector" ||
       data.value("resultType", "") == "matrix")) {
    auto& r = data["result"];
    std::sort(r.begin(), r.end(),
              [](const nlohmann::json& x, const nlohmann::json& y) {
                return x.value("metric", nlohmann::json::object()).dump() <
                       y.value("metric", nlohmann::json::object()).dump();
              });
  } else if (data.is_array()) {
    std::sort(data.begin(), data.end(), by_dump);
  }
}

std::string CompareApi(int status_a, const std::string& body_a, int status_b,
                       const std::string& body_b, double value_tolerance) {
  if (status_a != status_b) {
    return absl::StrCat("HTTP ", status_a, " vs ", status_b, ": ",
                        body_a.substr(0, 300), " | ", body_b.substr(0, 300));
  }
  nlohmann::json a = nlohmann::json::parse(body_a, nullptr, false);
  nlohmann::json b = nlohmann::json::parse(body_b, nullptr, false);
  if (a.is_discarded() || b.is_discarded()) {
    return absl::StrCat("not JSON: ", body_a.substr(0, 200), " | ",
                        body_b.substr(0, 200));
  }
  if (a.value("status", "") == "error") {
    for (const char* k : {"status", "errorType"}) {
      if (a.value(k, "") != b.value(k, "")) {
        return absl::StrCat(k, ": ", a.dump(), " vs ", b.dump());
      }
    }
    return "";
  }
  NormalizeApi(&a);
  NormalizeApi(&b);
  return Diff(a, b, "$", value_tolerance);
}

}  // namespace vigil::compat
