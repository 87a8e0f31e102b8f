#include "server/http/router.h"

#include <utility>

#include "absl/strings/str_split.h"

namespace vigil::server::http {
namespace {

std::vector<std::string> SplitPath(absl::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view seg : absl::StrSplit(path, '/')) {
    out.emplace_back(seg);
  }
  return out;
}

}  // namespace

Router::Router(std::string route_prefix) : prefix_(std::move(route_prefix)) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  if (!prefix_.empty() && prefix_.front() != '/') prefix_.insert(0, "/");
}

void Router::Handle(std::string method, std::string pattern, Handler handler) {
  std::vector<std::string> segments = SplitPath(pattern);
  Route route{std::move(method), std::move(pattern), std::move(segments),
              std::move(handler)};
  for (Route& r : routes_) {
    if (r.method == route.method && r.segments == route.segments) {
      r = std::move(route);
      return;
    }
  }
  routes_.push_back(std::move(route));
}

Response Router::Dispatch(Request* req) const {
  if (!prefix_.empty()) {
    absl::string_view p = req->path;
    if (p.substr(0, prefix_.size()) != prefix_ ||
        (p.size() > prefix_.size() && p[prefix_.size()] != '/')) {
      return Response::Text(404, "404 page not found\n");
    }
    std::string rest(p.substr(prefix_.size()));
    req->path = rest.empty() ? "/" : std::move(rest);
  }
  std::vector<std::string> segs = SplitPath(req->path);
  bool path_matched = false;
  for (const Route& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::vector<std::pair<std::string, std::string>> params;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      const std::string& want = r.segments[i];
      if (!want.empty() && want[0] == ':') {
        if (segs[i].empty()) ok = false;
        params.emplace_back(want.substr(1), segs[i]);
      } else if (want != segs[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    path_matched = true;
    if (!r.method.empty() && r.method != req->method &&
        !(r.method == "GET" && req->method == "HEAD")) {
      continue;
    }
    req->path_params = std::move(params);
    req->route = r.pattern;
    return r.handler(*req);
  }
  if (path_matched) {
    return Response::Text(405, "Method Not Allowed\n");
  }
  return Response::Text(404, "404 page not found\n");
}

}  // namespace vigil::server::http
