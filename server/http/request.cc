#include "server/http/request.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace vigil::server::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> Unescape(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      bool complete = i + 2 < in.size();
      int hi = complete ? HexValue(in[i + 1]) : -1;
      int lo = complete ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid URL escape \"",
            in.substr(i, std::min<size_t>(3, in.size() - i)), "\""));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Params> ParseUrlEncoded(absl::string_view input) {
  Params out;
  while (!input.empty()) {
    size_t amp = input.find('&');
    absl::string_view part = input.substr(0, amp);
    input = amp == absl::string_view::npos ? absl::string_view()
                                           : input.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    absl::string_view key = part.substr(0, eq);
    absl::string_view value = eq == absl::string_view::npos
                                  ? absl::string_view()
                                  : part.substr(eq + 1);
    absl::StatusOr<std::string> k = Unescape(key);
    if (!k.ok()) return k.status();
    absl::StatusOr<std::string> v = Unescape(value);
    if (!v.ok()) return v.status();
    out.emplace_back(*std::move(k), *std::move(v));
  }
  return out;
}

std::string UrlEncode(absl::string_view input) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(input.size());
  for (unsigned char c : input) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::string_view Request::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

absl::string_view Request::FormValue(absl::string_view name) const {
  for (const auto& [k, v] : form) {
    if (k == name) return v;
  }
  return {};
}

bool Request::HasForm(absl::string_view name) const {
  for (const auto& kv : form) {
    if (kv.first == name) return true;
  }
  return false;
}

std::vector<std::string> Request::FormValues(absl::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : form) {
    if (k == name) out.push_back(v);
  }
  return out;
}

absl::string_view Request::PathParam(absl::string_view name) const {
  for (const auto& [k, v] : path_params) {
    if (k == name) return v;
  }
  return {};
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

}  // namespace vigil::server::http
