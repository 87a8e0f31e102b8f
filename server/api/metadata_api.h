// /api/v1/metadata and /api/v1/targets/metadata: the metric metadata
// (TYPE, HELP, UNIT) the scrape loops collected, in Prometheus 2.42's JSON
// shapes and with its parameters and errors.
//
//   MetadataApi metadata([&] { return scrape_manager->ActiveTargets(); });
//   api.Register(&router);
//   metadata.Register(&router);  // after Api: replaces its empty answers
//
// /api/v1/metadata?metric=&limit=&limit_per_metric= answers
//   {"<metric>":[{"type":"counter","help":"...","unit":""},...],...}
// with the distinct metadata of every active target per metric name.
// /api/v1/targets/metadata?match_target=&metric=&limit= answers
//   [{"target":{<labels>},"metric":"<name>","type":...,"help":...,
//     "unit":...},...]
// ("metric" left out when the request names one).
//
// Thread-safe if the source function is.
#ifndef VIGIL_SERVER_API_METADATA_API_H_
#define VIGIL_SERVER_API_METADATA_API_H_

#include <functional>
#include <vector>

#include "server/http/request.h"
#include "server/http/router.h"
#include "server/scrape/manager.h"

namespace vigil::server::api {

// The active targets with their metadata (ScrapeManager::ActiveTargets()).
using ActiveTargetsFn = std::function<std::vector<scrape::TargetInfo>()>;

class MetadataApi {
 public:
  explicit MetadataApi(ActiveTargetsFn targets);

  // Adds GET /api/v1/metadata and GET /api/v1/targets/metadata.
  void Register(http::Router* router);

  // Handlers, public for tests that bypass HTTP.
  http::Response Metadata(const http::Request& req) const;
  http::Response TargetsMetadata(const http::Request& req) const;

 private:
  const ActiveTargetsFn targets_;
};

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_METADATA_API_H_
