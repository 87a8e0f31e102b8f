// File-based service discovery (`file_sd_configs`), as in Prometheus: each
// file holds a list of target groups in JSON (.json) or YAML (.yml/.yaml):
//
//   [{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"],
//     "labels": {"env": "prod"}}]
//
// Every group gets `__meta_filepath` (the file's path) and the source
// "<path>:<index>". Files are matched by the config's globs at every refresh
// and re-read when their mtime, size or inode changes. A file that fails to
// read or parse keeps its last good groups (the error is recorded); a file
// that disappears takes its groups with it.
#ifndef VIGIL_SERVER_DISCOVERY_FILE_SD_H_
#define VIGIL_SERVER_DISCOVERY_FILE_SD_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/discovery/provider.h"
#include "server/discovery/target_group.h"

namespace vigil::discovery {

inline constexpr char kFilePathLabel[] = "__meta_filepath";

// Parses the content of a file_sd file. The format comes from `path`'s
// extension; `path` also names the groups' source and __meta_filepath.
// Strict: unknown fields, invalid label names and targets that are not
// strings are InvalidArgument errors naming the file.
absl::StatusOr<std::vector<TargetGroup>> ParseFileSDContent(
    absl::string_view content, const std::string& path);

// Reads and parses one file.
absl::StatusOr<std::vector<TargetGroup>> ReadFileSDFile(
    const std::string& path);

// Polls the files of one file_sd_configs entry. Not thread-safe: the
// DiscoveryManager calls it from one thread.
class FileSDProvider : public Provider {
 public:
  explicit FileSDProvider(config::FileSDConfig cfg);

  std::vector<TargetGroup> Refresh() override;
  // Files are stat()ed often (changes show up within seconds, like
  // Prometheus's inotify) but only re-read when they changed.
  absl::Duration refresh_interval() const override;
  absl::Status last_error() const override { return last_error_; }

 private:
  struct FileState {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
    std::vector<TargetGroup> groups;  // last good parse
    absl::Status error;               // of the last read, if it failed
  };

  config::FileSDConfig cfg_;
  std::map<std::string, FileState> files_;
  absl::Status last_error_;
};

}  // namespace vigil::discovery

#endif  // VIGIL_SERVER_DISCOVERY_FILE_SD_H_
