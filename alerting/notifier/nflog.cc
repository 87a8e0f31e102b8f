#include "alerting/notifier/nflog.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alerting/notifier/state_file.h"
#include "nlohmann/json.hpp"

namespace vigil::alerting::notifier {
namespace {

// Sorted, so the file is deterministic and easy to diff.
nlohmann::json FingerprintArray(const absl::flat_hash_set<uint64_t>& set) {
  std::vector<uint64_t> sorted(set.begin(), set.end());
  std::sort(sorted.begin(), sorted.end());
  nlohmann::json arr = nlohmann::json::array();
  for (uint64_t fp : sorted) arr.push_back(fp);
  return arr;
}

bool ReadFingerprints(const nlohmann::json& j,
                      absl::flat_hash_set<uint64_t>* out) {
  if (!j.is_array()) return false;
  for (const nlohmann::json& e : j) {
    if (!e.is_number_unsigned()) return false;
    out->insert(e.get<uint64_t>());
  }
  return true;
}

}  // namespace

NotificationLog::NotificationLog(std::string path, int64_t retention_ms)
    : path_(std::move(path)), retention_ms_(retention_ms) {}

absl::Status NotificationLog::Load(int64_t now_ms) {
  if (path_.empty()) return absl::OkStatus();
  std::string text;
  if (!ReadStateFile(path_, &text)) return absl::OkStatus();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("entries") ||
      !j["entries"].is_array()) {
    return absl::DataLossError(absl::StrCat(
        path_, ": notification log is not a JSON object with \"entries\""));
  }
  absl::flat_hash_map<std::string, Entry> loaded;
  size_t index = 0;
  for (const nlohmann::json& e : j["entries"]) {
    Entry entry;
    bool ok = e.is_object() && e.contains("key") && e["key"].is_string() &&
              e.contains("timestamp_ms") &&
              e["timestamp_ms"].is_number_integer() && e.contains("firing") &&
              ReadFingerprints(e["firing"], &entry.firing) &&
              e.contains("resolved") &&
              ReadFingerprints(e["resolved"], &entry.resolved);
    if (!ok) {
      return absl::DataLossError(absl::StrCat(
          path_, ": notification log entry ", index,
          " needs \"key\" (string), \"timestamp_ms\" (integer) and "
          "\"firing\"/\"resolved\" (arrays of fingerprints)"));
    }
    entry.timestamp_ms = e["timestamp_ms"].get<int64_t>();
    loaded[e["key"].get<std::string>()] = std::move(entry);
    ++index;
  }
  entries_ = std::move(loaded);
  DropExpired(now_ms);
  changed_ = false;
  return absl::OkStatus();
}

const NotificationLog::Entry* NotificationLog::Find(
    const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void NotificationLog::Put(const std::string& key, Entry entry) {
  entries_[key] = std::move(entry);
  changed_ = true;
}

void NotificationLog::DropExpired(int64_t now_ms) {
  absl::erase_if(entries_, [&](const auto& kv) {
    return kv.second.timestamp_ms < now_ms - retention_ms_;
  });
}

absl::Status NotificationLog::SaveIfChanged(int64_t now_ms) {
  if (!changed_ || path_.empty()) return absl::OkStatus();
  DropExpired(now_ms);
  std::vector<const std::string*> keys;
  for (const auto& kv : entries_) keys.push_back(&kv.first);
  std::sort(keys.begin(), keys.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  nlohmann::json arr = nlohmann::json::array();
  for (const std::string* key : keys) {
    const Entry& e = entries_.at(*key);
    arr.push_back({{"key", *key},
                   {"timestamp_ms", e.timestamp_ms},
                   {"firing", FingerprintArray(e.firing)},
                   {"resolved", FingerprintArray(e.resolved)}});
  }
  nlohmann::json doc = {{"version", 1}, {"entries", std::move(arr)}};
  // Invalid UTF-8 in a label (which validation should have stopped) must
  // not make the save throw; at worst that group notifies again.
  absl::Status st = ReplaceStateFile(
      path_, doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      "the notification log");
  if (!st.ok()) return st;
  changed_ = false;
  return absl::OkStatus();
}

}  // namespace vigil::alerting::notifier
