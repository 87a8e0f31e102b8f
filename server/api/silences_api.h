// Alertmanager's API v2, served by Vigil's built-in Alertmanager
// (--alerting.config.file): silences, alerts and status with Alertmanager
// 0.25's JSON shapes (key order included), status codes and error texts,
// so amtool-style clients and dashboards work unchanged.
//
//   GET    /api/v2/silences[?filter=name="v"...]   GettableSilences
//   POST   /api/v2/silences    PostableSilence -> {"silenceID":"..."}
//   GET    /api/v2/silence/{id}                    GettableSilence
//   DELETE /api/v2/silence/{id}                    expires it
//   GET    /api/v2/alerts[?filter=&active=&silenced=&inhibited=&receiver=]
//   POST   /api/v2/alerts      PostableAlerts (what Prometheus sends)
//   GET    /api/v2/status
//
//   RegisterAlertmanagerApi(&router, [&] { return service.get(); }, info);
//
// Errors are JSON strings ("silence not found") with 400/404/500 as
// Alertmanager answers; request validation that Alertmanager does in its
// generated Swagger layer (missing fields, bad UUIDs) answers 400 (422 for
// a malformed silence id in the path) with {"code","message"} as it does.
// Silences persist in the service's silences file (under the storage
// directory in `vigil serve`), so they survive restarts.
//
// Thread-safety: handlers run concurrently; `service` must return a
// pointer that stays valid while a request uses it (or null).
#ifndef VIGIL_SERVER_API_SILENCES_API_H_
#define VIGIL_SERVER_API_SILENCES_API_H_

#include <cstdint>
#include <functional>
#include <string>

#include "alerting/alerting.h"
#include "server/http/request.h"
#include "server/http/router.h"

namespace vigil::server::api {

// What GET /api/v2/status reports besides configuration and uptime.
struct AlertmanagerApiInfo {
  std::string version = "0.1.0";
  std::string revision = "unknown";
  std::string branch = "main";
  std::string build_user = "unknown";
  std::string build_date = "unknown";
  std::string go_version = "unknown";  // the compiler, in Go's field
  // Wall clock in Unix ms; unset: the system clock.
  std::function<int64_t()> now_ms;
};

// Adds the /api/v2 endpoints above to `router`. `service` is called per
// request; when it returns null, or a service without built-in routing,
// the endpoints answer 404 saying how to enable them.
void RegisterAlertmanagerApi(
    http::Router* router, std::function<alerting::AlertingService*()> service,
    AlertmanagerApiInfo info = {});

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_SILENCES_API_H_
