#include "server/discovery/file_sd.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace vigil::discovery {
namespace {

// How often files are stat()ed; a changed file is re-read at once.
constexpr absl::Duration kStatInterval = absl::Seconds(5);

absl::Status Invalid(const std::string& path, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", msg));
}

// Builds the group and applies the common file_sd rules: targets become
// __address__ label sets, labels are validated, __meta_filepath is added.
absl::StatusOr<TargetGroup> MakeGroup(const std::string& path, size_t index,
                                      std::vector<std::string> targets,
                                      std::vector<tsdb::Label> labels) {
  TargetGroup g;
  g.source = absl::StrCat(path, ":", index);
  for (const tsdb::Label& l : labels) {
    if (!tsdb::IsValidLabelName(l.name)) {
      return Invalid(path, absl::StrCat("group ", index, ": \"", l.name,
                                        "\" is not a valid label name"));
    }
  }
  labels.erase(std::remove_if(labels.begin(), labels.end(),
                              [](const tsdb::Label& l) {
                                return l.name == kFilePathLabel;
                              }),
               labels.end());
  labels.push_back({kFilePathLabel, path});
  absl::StatusOr<tsdb::Labels> ls = tsdb::Labels::FromPairs(std::move(labels));
  if (!ls.ok()) {
    return Invalid(path,
                   absl::StrCat("group ", index, ": ", ls.status().message()));
  }
  g.labels = *std::move(ls);
  for (std::string& t : targets) {
    g.targets.push_back(tsdb::Labels::FromSortedUnchecked(
        {tsdb::Label{kAddressLabel, std::move(t)}}));
  }
  return g;
}

absl::StatusOr<std::vector<TargetGroup>> ParseJson(absl::string_view content,
                                                   const std::string& path) {
  nlohmann::json doc = nlohmann::json::parse(
      content.begin(), content.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Invalid(path, "invalid JSON");
  if (!doc.is_array()) return Invalid(path, "expected a JSON list of groups");
  std::vector<TargetGroup> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& g = doc[i];
    if (g.is_null()) return Invalid(path, "nil target group item found");
    if (!g.is_object()) {
      return Invalid(path, absl::StrCat("group ", i, " is not an object"));
    }
    std::vector<std::string> targets;
    std::vector<tsdb::Label> labels;
    for (auto it = g.begin(); it != g.end(); ++it) {
      if (it.key() == "targets") {
        if (it->is_null()) continue;
        if (!it->is_array()) {
          return Invalid(
              path, absl::StrCat("group ", i, ": \"targets\" must be a list"));
        }
        for (const nlohmann::json& t : *it) {
          if (!t.is_string()) {
            return Invalid(
                path, absl::StrCat("group ", i, ": targets must be strings"));
          }
          targets.push_back(t.get<std::string>());
        }
      } else if (it.key() == "labels") {
        if (it->is_null()) continue;
        if (!it->is_object()) {
          return Invalid(path, absl::StrCat("group ", i,
                                            ": \"labels\" must be an object"));
        }
        for (auto l = it->begin(); l != it->end(); ++l) {
          if (!l->is_string()) {
            return Invalid(
                path, absl::StrCat("group ", i, ": value of label \"", l.key(),
                                   "\" must be a string"));
          }
          labels.push_back({l.key(), l->get<std::string>()});
        }
      } else {
        return Invalid(path, absl::StrCat("group ", i, ": unknown field \"",
                                          it.key(), "\""));
      }
    }
    absl::StatusOr<TargetGroup> tg =
        MakeGroup(path, i, std::move(targets), std::move(labels));
    if (!tg.ok()) return tg.status();
    out.push_back(*std::move(tg));
  }
  return out;
}

absl::StatusOr<std::vector<TargetGroup>> ParseYaml(absl::string_view content,
                                                   const std::string& path) {
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(content));
  } catch (const YAML::Exception& e) {
    return Invalid(path, absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
  std::vector<TargetGroup> out;
  if (doc.IsNull()) return out;
  if (!doc.IsSequence()) return Invalid(path, "expected a list of groups");
  for (size_t i = 0; i < doc.size(); ++i) {
    const YAML::Node g = doc[i];
    const int line = g.Mark().line + 1;
    if (g.IsNull()) return Invalid(path, "nil target group item found");
    if (!g.IsMap()) {
      return Invalid(path, absl::StrCat("line ", line, ": group ", i,
                                        " is not a mapping"));
    }
    std::vector<std::string> targets;
    std::vector<tsdb::Label> labels;
    std::set<std::string> seen;
    for (auto it = g.begin(); it != g.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const std::string name = key.IsScalar() ? key.Scalar() : "";
      const int kline = key.Mark().line + 1;
      if (!seen.insert(name).second) {
        return Invalid(path, absl::StrCat("line ", kline, ": field \"", name,
                                          "\" already set"));
      }
      if (name == "targets") {
        if (value.IsNull()) continue;
        if (!value.IsSequence()) {
          return Invalid(path, absl::StrCat("line ", kline,
                                            ": \"targets\" must be a list"));
        }
        for (size_t t = 0; t < value.size(); ++t) {
          const YAML::Node tn = value[t];
          if (!tn.IsScalar()) {
            return Invalid(path, absl::StrCat("line ", tn.Mark().line + 1,
                                              ": targets must be strings"));
          }
          targets.push_back(tn.Scalar());
        }
      } else if (name == "labels") {
        if (value.IsNull()) continue;
        if (!value.IsMap()) {
          return Invalid(path, absl::StrCat("line ", kline,
                                            ": \"labels\" must be a mapping"));
        }
        for (auto l = value.begin(); l != value.end(); ++l) {
          const YAML::Node lk = l->first;
          const YAML::Node lv = l->second;
          if (!lk.IsScalar() || !(lv.IsScalar() || lv.IsNull())) {
            return Invalid(path, absl::StrCat("line ", lk.Mark().line + 1,
                                              ": labels must map strings to "
                                              "strings"));
          }
          labels.push_back({lk.Scalar(), lv.IsNull() ? "" : lv.Scalar()});
        }
      } else {
        return Invalid(path, absl::StrCat("line ", kline, ": unknown field \"",
                                          name, "\" in group ", i));
      }
    }
    absl::StatusOr<TargetGroup> tg =
        MakeGroup(path, i, std::move(targets), std::move(labels));
    if (!tg.ok()) return tg.status();
    out.push_back(*std::move(tg));
  }
  return out;
}

std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<TargetGroup>> ParseFileSDContent(
    absl::string_view content, const std::string& path) {
  std::string lower = absl::AsciiStrToLower(path);
  if (absl::EndsWith(lower, ".json")) return ParseJson(content, path);
  if (absl::EndsWith(lower, ".yml") || absl::EndsWith(lower, ".yaml")) {
    return ParseYaml(content, path);
  }
  return Invalid(path, "file_sd files must end in .json, .yml or .yaml");
}

absl::StatusOr<std::vector<TargetGroup>> ReadFileSDFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string msg = absl::StrCat(path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg)
                         : absl::UnavailableError(msg);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return ParseFileSDContent(buf.str(), path);
}

FileSDProvider::FileSDProvider(config::FileSDConfig cfg)
    : cfg_(std::move(cfg)) {}

absl::Duration FileSDProvider::refresh_interval() const {
  return std::min(cfg_.refresh_interval, kStatInterval);
}

std::vector<TargetGroup> FileSDProvider::Refresh() {
  std::set<std::string> paths;
  for (const std::string& pattern : cfg_.files) {
    for (std::string& p : Glob(pattern)) paths.insert(std::move(p));
  }
  // Files that no longer match take their groups with them.
  for (auto it = files_.begin(); it != files_.end();) {
    it = paths.count(it->first) ? std::next(it) : files_.erase(it);
  }

  for (const std::string& path : paths) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;  // raced with a delete
    FileState& fs = files_[path];
    int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                       st.st_mtim.tv_nsec;
    if (fs.size == st.st_size && fs.mtime_ns == mtime_ns &&
        fs.inode == st.st_ino) {
      continue;
    }
    absl::StatusOr<std::vector<TargetGroup>> groups = ReadFileSDFile(path);
    if (!groups.ok()) {
      // Keep the last good groups; retry on the next change.
      fs.error = groups.status();
      fs.size = st.st_size;
      fs.mtime_ns = mtime_ns;
      fs.inode = st.st_ino;
      continue;
    }
    fs.size = st.st_size;
    fs.mtime_ns = mtime_ns;
    fs.inode = st.st_ino;
    fs.groups = *std::move(groups);
    fs.error = absl::OkStatus();
  }

  last_error_ = absl::OkStatus();
  for (const auto& [path, fs] : files_) {
    if (!fs.error.ok()) {
      last_error_ = fs.error;
      break;
    }
  }

  std::vector<TargetGroup> out;
  for (const auto& [path, fs] : files_) {
    out.insert(out.end(), fs.groups.begin(), fs.groups.end());
  }
  return out;
}

}  // namespace vigil::discovery
