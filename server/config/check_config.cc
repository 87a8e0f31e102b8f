#include "server/config/check_config.h"

#include <glob.h>
#include <sys/stat.h>

#include <iostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/config/relabel.h"
#include "server/discovery/file_sd.h"

namespace vigil::config {
namespace {

std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}

absl::Status CheckFileExists(const std::string& path, absl::string_view what) {
  if (path.empty()) return absl::OkStatus();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "error checking ", what, " \"", path, "\": no such file or directory"));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "error checking ", what, " \"", path, "\": is a directory"));
  }
  return absl::OkStatus();
}

absl::Status CheckTls(const TlsConfig& tls) {
  if (!tls.cert_file.empty() && tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client cert file \"", tls.cert_file,
                     "\" specified without client key file"));
  }
  if (tls.cert_file.empty() && !tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client key file \"", tls.key_file,
                     "\" specified without client cert file"));
  }
  for (const auto& [file, what] :
       {std::pair<const std::string&, const char*>{tls.ca_file, "CA file"},
        {tls.cert_file, "client cert file"},
        {tls.key_file, "client key file"}}) {
    if (absl::Status s = CheckFileExists(file, what); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// What the scraper will do to each target: merge group labels, add the
// job's defaults, relabel, and require a usable __address__.
absl::Status CheckTargets(const std::vector<discovery::TargetGroup>& groups,
                          const ScrapeConfig& sc) {
  for (const discovery::TargetGroup& g : groups) {
    for (size_t i = 0; i < g.targets.size(); ++i) {
      tsdb::LabelsBuilder lb(g.labels);
      for (const tsdb::Label& l : g.targets[i]) lb.Set(l.name, l.value);
      auto set_default = [&lb](absl::string_view name,
                               absl::string_view value) {
        if (lb.Get(name).empty()) lb.Set(name, value);
      };
      set_default("job", sc.job_name);
      set_default("__scrape_interval__",
                  FormatPromDuration(sc.scrape_interval));
      set_default("__scrape_timeout__", FormatPromDuration(sc.scrape_timeout));
      set_default("__metrics_path__", sc.metrics_path);
      set_default("__scheme__", sc.scheme);
      if (!Relabel(sc.relabel_configs, &lb)) continue;  // dropped: fine
      absl::string_view addr = lb.Get(discovery::kAddressLabel);
      if (addr.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "instance ", i, " in group ", g.source, ": no address"));
      }
      if (absl::StrContains(addr, "/")) {
        return absl::InvalidArgumentError(
            absl::StrCat("instance ", i, " in group ", g.source, ": \"", addr,
                         "\" is not a valid hostname"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CheckConfigFile(
    const std::string& path, std::vector<std::string>* warnings) {
  absl::StatusOr<Config> cfg = LoadConfigFile(path);
  if (!cfg.ok()) return cfg.status();

  // Rule files: a name without a wildcard must exist.
  std::vector<std::string> rule_files;
  std::string dir;
  if (size_t slash = path.rfind('/'); slash != std::string::npos) {
    dir = path.substr(0, slash + 1);
  }
  for (const std::string& rf : cfg->rule_files) {
    std::string full = (rf.empty() || rf[0] == '/') ? rf : dir + rf;
    std::vector<std::string> matches = Glob(full);
    if (!absl::StrContains(rf, "*")) {
      if (matches.empty()) {
        return absl::NotFoundError(
            absl::StrCat("\"", full, "\" does not point to an existing file"));
      }
      if (absl::Status s = CheckFileExists(matches[0], "rule file"); !s.ok()) {
        return s;
      }
    }
    rule_files.insert(rule_files.end(), matches.begin(), matches.end());
  }

  for (const ScrapeConfig& sc : cfg->scrape_configs) {
    if (absl::Status s =
            CheckFileExists(sc.bearer_token_file, "bearer token file");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckTls(sc.tls_config); !s.ok()) return s;
    if (absl::Status s = CheckTargets(sc.static_configs, sc); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scrape job \"", sc.job_name, "\": ", s.message()));
    }
    for (const FileSDConfig& fsd : sc.file_sd_configs) {
      for (const std::string& pattern : fsd.files) {
        std::vector<std::string> files = Glob(pattern);
        if (files.empty()) {
          warnings->push_back(absl::StrCat("file \"", pattern,
                                           "\" for file_sd in scrape job \"",
                                           sc.job_name, "\" does not exist"));
          continue;
        }
        for (const std::string& f : files) {
          absl::StatusOr<std::vector<discovery::TargetGroup>> groups =
              discovery::ReadFileSDFile(f);
          if (!groups.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat("checking SD file \"", pattern,
                             "\": ", groups.status().message()));
          }
          if (absl::Status s = CheckTargets(*groups, sc); !s.ok()) {
            return absl::InvalidArgumentError(absl::StrCat(
                "scrape job \"", sc.job_name, "\": ", s.message()));
          }
        }
      }
    }
  }
  for (const AlertmanagerConfig& am : cfg->alerting.alertmanagers) {
    if (absl::Status s = CheckTls(am.tls_config); !s.ok()) return s;
    for (const FileSDConfig& fsd : am.file_sd_configs) {
      for (const std::string& pattern : fsd.files) {
        std::vector<std::string> files = Glob(pattern);
        if (files.empty()) {
          warnings->push_back(absl::StrCat(
              "file \"", pattern,
              "\" for file_sd in alertmanager config does not exist"));
          continue;
        }
        for (const std::string& f : files) {
          absl::StatusOr<std::vector<discovery::TargetGroup>> groups =
              discovery::ReadFileSDFile(f);
          if (!groups.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat("checking SD file \"", pattern,
                             "\": ", groups.status().message()));
          }
        }
      }
    }
  }
  for (const RemoteWriteConfig& rw : cfg->remote_write) {
    if (absl::Status s = CheckTls(rw.tls_config); !s.ok()) return s;
  }
  return rule_files;
}

int RunCheckConfigCommand(const std::vector<std::string>& files,
                          std::ostream& out, std::ostream& err) {
  if (files.empty()) {
    err << "usage: vigil check config FILE...\n";
    return 1;
  }
  bool failed = false;
  for (const std::string& file : files) {
    out << "Checking " << file << "\n";
    std::vector<std::string> warnings;
    absl::StatusOr<std::vector<std::string>> rule_files =
        CheckConfigFile(file, &warnings);
    for (const std::string& w : warnings) out << "  WARNING: " << w << "\n";
    if (!rule_files.ok()) {
      out.flush();
      err << "  FAILED: " << rule_files.status().message() << "\n";
      err.flush();
      failed = true;
    } else {
      if (!rule_files->empty()) {
        out << "  SUCCESS: " << rule_files->size() << " rule files found\n";
      }
      out << " SUCCESS: " << file
          << " is valid prometheus config file syntax\n";
    }
    out << "\n";
  }
  out.flush();
  return failed ? 1 : 0;
}

int RunCheckConfigCommand(const std::vector<std::string>& files) {
  return RunCheckConfigCommand(files, std::cout, std::cerr);
}

}  // namespace vigil::config
