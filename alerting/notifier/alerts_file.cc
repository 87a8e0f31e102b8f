#include "alerting/notifier/alerts_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "alerting/notifier/state_file.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting::notifier {
namespace {

nlohmann::json LabelsObject(const tsdb::Labels& labels) {
  nlohmann::json o = nlohmann::json::object();
  for (const tsdb::Label& l : labels) o[l.name] = l.value;
  return o;
}

// Empty string on success, else what is wrong.
std::string ReadLabels(const nlohmann::json& j, const char* field,
                       tsdb::Labels* out) {
  if (!j.contains(field) || !j[field].is_object()) {
    return absl::StrCat("\"", field, "\" must be an object of strings");
  }
  std::vector<tsdb::Label> pairs;
  for (const auto& [name, value] : j[field].items()) {
    if (!value.is_string()) {
      return absl::StrCat("\"", field, "\".", name, " is not a string");
    }
    pairs.push_back(tsdb::Label{name, value.get<std::string>()});
  }
  absl::StatusOr<tsdb::Labels> l = tsdb::Labels::FromPairs(std::move(pairs));
  if (!l.ok()) return absl::StrCat("\"", field, "\": ", l.status().message());
  *out = *std::move(l);
  return "";
}

std::string ReadInt(const nlohmann::json& j, const char* field, int64_t* out) {
  if (!j.contains(field) || !j[field].is_number_integer()) {
    return absl::StrCat("\"", field, "\" must be an integer");
  }
  *out = j[field].get<int64_t>();
  return "";
}

std::string ReadAlert(const nlohmann::json& e, Alert* a) {
  if (!e.is_object()) return "not an object";
  std::string err = ReadLabels(e, "labels", &a->labels);
  if (!err.empty()) return err;
  if (a->labels.empty()) return "\"labels\" is empty";
  err = ReadLabels(e, "annotations", &a->annotations);
  if (!err.empty()) return err;
  for (auto [field, out] : {std::pair{"starts_at_ms", &a->starts_at_ms},
                            std::pair{"ends_at_ms", &a->ends_at_ms},
                            std::pair{"updated_at_ms", &a->updated_at_ms}}) {
    err = ReadInt(e, field, out);
    if (!err.empty()) return err;
  }
  if (!e.contains("generator_url") || !e["generator_url"].is_string()) {
    return "\"generator_url\" must be a string";
  }
  a->generator_url = e["generator_url"].get<std::string>();
  return "";
}

}  // namespace

absl::Status SaveAlertsFile(const std::string& path,
                            const std::vector<Alert>& alerts) {
  nlohmann::json arr = nlohmann::json::array();
  for (const Alert& a : alerts) {
    arr.push_back({{"labels", LabelsObject(a.labels)},
                   {"annotations", LabelsObject(a.annotations)},
                   {"starts_at_ms", a.starts_at_ms},
                   {"ends_at_ms", a.ends_at_ms},
                   {"updated_at_ms", a.updated_at_ms},
                   {"generator_url", a.generator_url}});
  }
  nlohmann::json doc = {{"alerts", std::move(arr)}};
  return ReplaceStateFile(path, doc.dump(), "the alerts");
}

absl::StatusOr<std::vector<Alert>> LoadAlertsFile(const std::string& path) {
  std::vector<Alert> out;
  std::string text;
  if (!ReadStateFile(path, &text)) return out;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("alerts") ||
      !j["alerts"].is_array()) {
    return absl::DataLossError(absl::StrCat(
        path, ": alerts file is not a JSON object with \"alerts\""));
  }
  size_t index = 0;
  for (const nlohmann::json& e : j["alerts"]) {
    Alert a;
    std::string err = ReadAlert(e, &a);
    if (!err.empty()) {
      return absl::DataLossError(
          absl::StrCat(path, ": alert ", index, ": ", err));
    }
    out.push_back(std::move(a));
    ++index;
  }
  return out;
}

}  // namespace vigil::alerting::notifier
