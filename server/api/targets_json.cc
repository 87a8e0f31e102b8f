#include "server/api/targets_json.h"

#include "absl/time/time.h"
#include "server/duration.h"

namespace vigil::server::api {
namespace {

const char* HealthName(scrape::TargetHealth h) {
  switch (h) {
    case scrape::TargetHealth::kUp:
      return "up";
    case scrape::TargetHealth::kDown:
      return "down";
    default:
      return "unknown";
  }
}

}  // namespace

void WriteTargets(const std::vector<scrape::TargetInfo>& active,
                  const std::vector<scrape::DroppedTargetInfo>& dropped,
                  const std::string& state, JsonWriter* w) {
  bool show_active = state.empty() || state == "any" || state == "active";
  bool show_dropped = state.empty() || state == "any" || state == "dropped";
  w->BeginObject();
  w->Key("activeTargets");
  w->BeginArray();
  if (show_active) {
    for (const scrape::TargetInfo& t : active) {
      w->BeginObject();
      w->Key("discoveredLabels");
      w->LabelSet(t.discovered_labels);
      w->Key("labels");
      w->LabelSet(t.labels);
      w->Key("scrapePool");
      w->String(t.scrape_pool);
      w->Key("scrapeUrl");
      w->String(t.scrape_url);
      w->Key("globalUrl");
      w->String(t.scrape_url);
      w->Key("lastError");
      w->String(t.status.last_error);
      w->Key("lastScrape");
      w->String(t.status.last_scrape == absl::InfinitePast()
                    ? "0001-01-01T00:00:00Z"
                    : absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ",
                                       t.status.last_scrape,
                                       absl::UTCTimeZone()));
      w->Key("lastScrapeDuration");
      w->Double(absl::ToDoubleSeconds(t.status.last_duration));
      w->Key("health");
      w->String(HealthName(t.status.health));
      w->Key("scrapeInterval");
      w->String(FormatPromDuration(absl::ToInt64Milliseconds(t.interval)));
      w->Key("scrapeTimeout");
      w->String(FormatPromDuration(absl::ToInt64Milliseconds(t.timeout)));
      w->EndObject();
    }
  }
  w->EndArray();
  w->Key("droppedTargets");
  w->BeginArray();
  if (show_dropped) {
    for (const scrape::DroppedTargetInfo& t : dropped) {
      w->BeginObject();
      w->Key("discoveredLabels");
      w->LabelSet(t.discovered_labels);
      w->EndObject();
    }
  }
  w->EndArray();
  w->EndObject();
}

}  // namespace vigil::server::api
