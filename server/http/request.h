// Plain request/response values exchanged between the HTTP server and the
// handlers. They carry no socket state, so handlers are testable without a
// network:
//
//   Request req;
//   req.method = "GET";
//   req.path = "/api/v1/query";
//   req.form = *ParseUrlEncoded("query=up&time=10");
//   Response resp = handler(req);
#ifndef VIGIL_SERVER_HTTP_REQUEST_H_
#define VIGIL_SERVER_HTTP_REQUEST_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vigil::server::http {

// Ordered (name, value) pairs: a parameter may repeat (match[]=a&match[]=b).
using Params = std::vector<std::pair<std::string, std::string>>;

// Decodes an application/x-www-form-urlencoded string ("a=1&b=%20x+y").
// Fails with InvalidArgument naming the offending escape on bad %-escapes.
absl::StatusOr<Params> ParseUrlEncoded(absl::string_view input);

// %-encodes everything but unreserved characters (RFC 3986).
std::string UrlEncode(absl::string_view input);

struct Request {
  std::string method;  // "GET", "POST", ...
  // Path without the query string and without the route prefix.
  std::string path;
  std::string raw_query;
  // Lower-cased header names.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;
  // URL query parameters, plus form-encoded POST body parameters (body
  // first, as Go's Request.ParseForm orders them). Filled by the server.
  Params form;
  // The matched route pattern ("/api/v1/label/:name/values"), for metrics.
  std::string route;
  // Values of ":name" segments of the matched route pattern.
  std::vector<std::pair<std::string, std::string>> path_params;

  // First value of header `name` (lower-case), or "".
  absl::string_view Header(absl::string_view name) const;
  // First value of form parameter `name`, or "" when absent.
  absl::string_view FormValue(absl::string_view name) const;
  bool HasForm(absl::string_view name) const;
  // Every value of form parameter `name`, in order.
  std::vector<std::string> FormValues(absl::string_view name) const;
  absl::string_view PathParam(absl::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

}  // namespace vigil::server::http

#endif  // VIGIL_SERVER_HTTP_REQUEST_H_
