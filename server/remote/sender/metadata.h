// Metric metadata a remote_write destination receives in
// WriteRequest.metadata (metadata_config in prometheus.yml): what the
// scrape targets expose in # TYPE, # HELP and # UNIT lines.
#ifndef VIGIL_SERVER_REMOTE_SENDER_METADATA_H_
#define VIGIL_SERVER_REMOTE_SENDER_METADATA_H_

#include <functional>
#include <string>
#include <vector>

#include "tsdb/textparse/parser.h"

namespace vigil::server::remote::sender {

// The fields of scrape::MetricMetadata, so a source converts field by
// field without this library depending on the scrape manager.
struct MetricMetadata {
  std::string metric;  // metric family name
  tsdb::textparse::MetricType type = tsdb::textparse::MetricType::kUnknown;
  std::string help;
  std::string unit;
};

// Returns the metadata of every active scrape target (duplicates across
// targets are fine: they are sent once). Called every
// metadata_config.send_interval from a sender thread; must be thread-safe.
using MetadataSource = std::function<std::vector<MetricMetadata>()>;

}  // namespace vigil::server::remote::sender

#endif  // VIGIL_SERVER_REMOTE_SENDER_METADATA_H_
