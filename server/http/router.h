// A small method+path router. Patterns are literal paths whose segments may
// be ":name" placeholders matching one non-empty segment:
//
//   Router r("/prom");                       // --web.route-prefix
//   r.Handle("GET", "/api/v1/label/:name/values", LabelValues);
//   r.Handle("", "/-/healthy", Healthy);     // "" = any method
//   Response resp = r.Dispatch(&req);        // req.path "/prom/-/healthy"
//
// Unknown paths get 404, known paths with the wrong method 405. Routes are
// registered before serving; Dispatch is then thread-safe.
#ifndef VIGIL_SERVER_HTTP_ROUTER_H_
#define VIGIL_SERVER_HTTP_ROUTER_H_

#include <functional>
#include <string>
#include <vector>

#include "server/http/request.h"

namespace vigil::server::http {

using Handler = std::function<Response(const Request&)>;

class Router {
 public:
  // `route_prefix` ("" or "/" for none) is stripped from request paths;
  // requests outside it get 404.
  explicit Router(std::string route_prefix = "");

  // `method` is "GET", "POST", ... or "" for any. Later registrations of the
  // same method+pattern win.
  void Handle(std::string method, std::string pattern, Handler handler);

  // Strips the prefix from req->path, fills req->path_params and calls the
  // handler.
  Response Dispatch(Request* req) const;

  const std::string& route_prefix() const { return prefix_; }

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::string prefix_;  // normalised: "" or "/x" without trailing slash
  std::vector<Route> routes_;
};

}  // namespace vigil::server::http

#endif  // VIGIL_SERVER_HTTP_ROUTER_H_
