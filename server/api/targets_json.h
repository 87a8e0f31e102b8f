// JSON for /api/v1/targets from the scrape manager, in Prometheus 2.42's
// shape ({"activeTargets":[...],"droppedTargets":[...]}, health
// "up"/"down"/"unknown", intervals as Prometheus durations).
#ifndef VIGIL_SERVER_API_TARGETS_JSON_H_
#define VIGIL_SERVER_API_TARGETS_JSON_H_

#include <string>
#include <vector>

#include "server/api/json_writer.h"
#include "server/scrape/manager.h"

namespace vigil::server::api {

// `state` is the ?state= filter: "active", "dropped", "any" or "" (any).
void WriteTargets(const std::vector<scrape::TargetInfo>& active,
                  const std::vector<scrape::DroppedTargetInfo>& dropped,
                  const std::string& state, JsonWriter* w);

}  // namespace vigil::server::api

#endif  // VIGIL_SERVER_API_TARGETS_JSON_H_
