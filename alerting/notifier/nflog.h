// The notification log: per aggregation group, receiver and integration,
// which alerts the last notification reported firing and resolved, and
// when. The dispatcher consults it to decide whether a flush must notify
// (new firing alerts, newly resolved ones, or repeat_interval elapsed).
//
// Alertmanager keeps this log on disk (its nflog snapshot) so a restart does
// not notify receivers again about alerts they were already told about.
// Vigil's built-in routing does the same: the log is written to a JSON file
// (temp file, then rename) whenever it changed, and loaded at start-up.
// Entries older than the retention (Alertmanager's --data.retention, 120 h
// by default) are dropped on load and save.
//
//   NotificationLog log("/data/nflog.json", 120 * 3600 * 1000);
//   absl::Status st = log.Load(now_ms);
//   log.Put(key, {firing, resolved, now_ms});
//   st = log.SaveIfChanged(now_ms);
//
// Not thread-safe: the dispatcher calls it under its own lock.
#ifndef VIGIL_ALERTING_NOTIFIER_NFLOG_H_
#define VIGIL_ALERTING_NOTIFIER_NFLOG_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"

namespace vigil::alerting::notifier {

class NotificationLog {
 public:
  struct Entry {
    absl::flat_hash_set<uint64_t> firing;    // alert fingerprints
    absl::flat_hash_set<uint64_t> resolved;  // alert fingerprints
    int64_t timestamp_ms = 0;                // when it was notified
  };

  // `path` "" keeps the log in memory only.
  NotificationLog(std::string path, int64_t retention_ms);

  // Reads the file written by Save. A missing file is an empty log; a
  // malformed one is DataLoss naming the file and what is wrong.
  absl::Status Load(int64_t now_ms);

  // nullptr when `key` was never notified (or its entry expired).
  const Entry* Find(const std::string& key) const;
  void Put(const std::string& key, Entry entry);

  // Writes the log when Put was called since the last save.
  absl::Status SaveIfChanged(int64_t now_ms);

  size_t size() const { return entries_.size(); }

 private:
  void DropExpired(int64_t now_ms);

  std::string path_;
  int64_t retention_ms_;
  absl::flat_hash_map<std::string, Entry> entries_;
  bool changed_ = false;
};

}  // namespace vigil::alerting::notifier

#endif  // VIGIL_ALERTING_NOTIFIER_NFLOG_H_
