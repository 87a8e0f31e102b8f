#include "alerting/rules/rule_file.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "alerting/template/template.h"
#include "yaml-cpp/yaml.h"

namespace vigil::alerting {
namespace {

bool ValidLabelName(absl::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok =
        absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool ValidMetricName(absl::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = absl::ascii_isalpha(c) || c == '_' || c == ':' ||
              (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

// Collects errors; each is prefixed with file:line.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void Add(const YAML::Node& at, absl::string_view ctx, absl::string_view msg) {
    Add(at.Mark().line + 1, ctx, msg);
  }
  void Add(int line, absl::string_view ctx, absl::string_view msg) {
    std::string e = absl::StrCat(file_, ":", line, ": ");
    if (!ctx.empty()) absl::StrAppend(&e, ctx, ": ");
    absl::StrAppend(&e, msg);
    errors_.push_back(std::move(e));
  }
  bool empty() const { return errors_.empty(); }
  absl::Status ToStatus() const {
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

// Reads a scalar string; adds an error and returns false when `n` is not a
// scalar.
bool Scalar(const YAML::Node& n, absl::string_view field, absl::string_view ctx,
            Errors* errs, std::string* out) {
  if (n.IsNull()) {
    out->clear();
    return true;
  }
  if (!n.IsScalar()) {
    errs->Add(n, ctx, absl::StrCat("field \"", field, "\" must be a string"));
    return false;
  }
  *out = n.Scalar();
  return true;
}

bool StringMap(const YAML::Node& n, absl::string_view field,
               absl::string_view ctx, Errors* errs,
               std::vector<std::pair<std::string, std::string>>* out) {
  if (n.IsNull()) return true;
  if (!n.IsMap()) {
    errs->Add(n, ctx, absl::StrCat("field \"", field, "\" must be a map"));
    return false;
  }
  std::set<std::string> seen;
  for (const auto& kv : n) {
    std::string k, v;
    if (!Scalar(kv.first, field, ctx, errs, &k) ||
        !Scalar(kv.second, field, ctx, errs, &v)) {
      return false;
    }
    if (!seen.insert(k).second) {
      errs->Add(kv.first, ctx,
                absl::StrCat("duplicate key \"", k, "\" in ", field));
      return false;
    }
    out->emplace_back(k, v);
  }
  return true;
}

void ParseRule(const YAML::Node& rn, int index, const std::string& group,
               const ExprValidator& validator, Errors* errs, GroupSpec* g) {
  std::string ctx = absl::StrCat("group \"", group, "\", rule ", index);
  if (!rn.IsMap()) {
    errs->Add(rn, ctx, "rule must be a map");
    return;
  }
  RuleSpec r;
  r.line = rn.Mark().line + 1;
  bool has_record = false, has_alert = false, has_for = false, has_keep = false,
       has_annotations = false;
  YAML::Node expr_node;
  for (const auto& kv : rn) {
    std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (key == "record") {
      has_record = true;
      Scalar(v, key, ctx, errs, &r.name);
    } else if (key == "alert") {
      has_alert = true;
      Scalar(v, key, ctx, errs, &r.name);
    } else if (key == "expr") {
      expr_node = v;
      Scalar(v, key, ctx, errs, &r.expr);
    } else if (key == "for" || key == "keep_firing_for") {
      (key == "for" ? has_for : has_keep) = true;
      std::string s;
      if (!Scalar(v, key, ctx, errs, &s)) continue;
      absl::StatusOr<int64_t> d = ParsePromDuration(s);
      if (!d.ok()) {
        errs->Add(v, ctx, d.status().message());
        continue;
      }
      (key == "for" ? r.for_ms : r.keep_firing_for_ms) = *d;
    } else if (key == "labels") {
      StringMap(v, key, ctx, errs, &r.labels);
    } else if (key == "annotations") {
      has_annotations = true;
      StringMap(v, key, ctx, errs, &r.annotations);
    } else {
      errs->Add(kv.first, ctx,
                absl::StrCat("unknown field \"", key, "\" in rule"));
    }
  }
  if (has_record && has_alert) {
    errs->Add(rn, ctx, "only one of 'record' and 'alert' must be set");
    return;
  }
  if (!has_record && !has_alert) {
    errs->Add(rn, ctx, "one of 'record' or 'alert' must be set");
    return;
  }
  r.kind = has_record ? RuleSpec::Kind::kRecord : RuleSpec::Kind::kAlert;
  if (has_alert) {
    ctx = absl::StrCat(ctx, ", \"", r.name, "\"");
  }
  if (r.name.empty()) {
    errs->Add(rn, ctx,
              has_record ? "field 'record' must be set in rule"
                         : "field 'alert' must be set in rule");
  }
  if (r.expr.empty()) {
    errs->Add(rn, ctx, "field 'expr' must be set in rule");
  } else if (validator) {
    absl::Status s = validator(r.expr);
    if (!s.ok()) {
      errs->Add(expr_node, ctx,
                absl::StrCat("could not parse expression: ", s.message()));
    }
  }
  if (has_record) {
    if (has_annotations) {
      errs->Add(rn, ctx, "invalid field 'annotations' in recording rule");
    }
    if (has_for) errs->Add(rn, ctx, "invalid field 'for' in recording rule");
    if (has_keep) {
      errs->Add(rn, ctx, "invalid field 'keep_firing_for' in recording rule");
    }
    if (!r.name.empty() && !ValidMetricName(r.name)) {
      errs->Add(rn, ctx, absl::StrCat("invalid recording rule name: ", r.name));
    }
  }
  for (const auto& [k, v] : r.labels) {
    if (!ValidLabelName(k) || k == "__name__") {
      errs->Add(rn, ctx, absl::StrCat("invalid label name: ", k));
    }
  }
  for (const auto& [k, v] : r.annotations) {
    if (!ValidLabelName(k)) {
      errs->Add(rn, ctx, absl::StrCat("invalid annotation name: ", k));
    }
  }
  // Alert label and annotation templates are parsed now so that a broken
  // template fails the load rather than rendering wrongly at runtime.
  if (has_alert) {
    TemplateOptions opts = RuleTemplateOptions();
    auto check = [&](const std::vector<std::pair<std::string, std::string>>& kv,
                     absl::string_view what) {
      for (const auto& [k, v] : kv) {
        absl::StatusOr<Template> t =
            Template::Parse(v, opts, absl::StrCat("__alert_", r.name));
        if (!t.ok()) {
          errs->Add(rn, ctx,
                    absl::StrCat(what, " \"", k, "\": ", t.status().message()));
        }
      }
    };
    check(r.labels, "label");
    check(r.annotations, "annotation");
  }
  g->rules.push_back(std::move(r));
}

}  // namespace

absl::StatusOr<RuleFile> ParseRuleFile(absl::string_view content,
                                       absl::string_view filename,
                                       const ExprValidator& validator) {
  RuleFile rf;
  rf.path = std::string(filename);
  Errors errs(rf.path);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(content));
  } catch (const YAML::Exception& e) {
    errs.Add(e.mark.line + 1, "", absl::StrCat("yaml: ", e.msg));
    return errs.ToStatus();
  }
  if (root.IsNull()) return rf;
  if (!root.IsMap()) {
    errs.Add(root, "", "rule file must be a map with a \"groups\" list");
    return errs.ToStatus();
  }
  std::set<std::string> group_names;
  try {
    for (const auto& kv : root) {
      std::string key = kv.first.Scalar();
      if (key != "groups") {
        errs.Add(kv.first, "", absl::StrCat("unknown field \"", key, "\""));
        continue;
      }
      const YAML::Node& groups = kv.second;
      if (groups.IsNull()) continue;
      if (!groups.IsSequence()) {
        errs.Add(groups, "", "field \"groups\" must be a list");
        continue;
      }
      for (const YAML::Node& gn : groups) {
        if (!gn.IsMap()) {
          errs.Add(gn, "", "group must be a map");
          continue;
        }
        GroupSpec g;
        g.file = rf.path;
        g.line = gn.Mark().line + 1;
        YAML::Node rules;
        for (const auto& gkv : gn) {
          if (gkv.first.Scalar() == "name") {
            Scalar(gkv.second, "name", "", &errs, &g.name);
          }
        }
        std::string ctx = absl::StrCat("group \"", g.name, "\"");
        for (const auto& gkv : gn) {
          std::string gk = gkv.first.Scalar();
          const YAML::Node& v = gkv.second;
          if (gk == "name") continue;
          if (gk == "interval") {
            std::string s;
            if (!Scalar(v, gk, ctx, &errs, &s)) continue;
            absl::StatusOr<int64_t> d = ParsePromDuration(s);
            if (!d.ok()) {
              errs.Add(v, ctx, d.status().message());
            } else {
              g.interval_ms = *d;
            }
          } else if (gk == "limit") {
            std::string s;
            if (!Scalar(v, gk, ctx, &errs, &s)) continue;
            char* end = nullptr;
            long long n = std::strtoll(s.c_str(), &end, 10);
            if (s.empty() || *end != '\0' || n < 0) {
              errs.Add(v, ctx, absl::StrCat("invalid limit \"", s, "\""));
            } else {
              g.limit = n;
            }
          } else if (gk == "rules") {
            rules = v;
          } else {
            errs.Add(gkv.first, ctx,
                     absl::StrCat("unknown field \"", gk, "\" in group"));
          }
        }
        if (g.name.empty()) {
          errs.Add(gn, "", "Groupname must not be empty");
        } else if (!group_names.insert(g.name).second) {
          errs.Add(gn, "",
                   absl::StrCat("groupname: \"", g.name,
                                "\" is repeated in the same file"));
        }
        if (rules && !rules.IsNull()) {
          if (!rules.IsSequence()) {
            errs.Add(rules, ctx, "field \"rules\" must be a list");
          } else {
            int i = 0;
            for (const YAML::Node& rn : rules) {
              ParseRule(rn, ++i, g.name, validator, &errs, &g);
            }
          }
        }
        rf.groups.push_back(std::move(g));
      }
    }
  } catch (const YAML::Exception& e) {
    errs.Add(e.mark.line + 1, "", absl::StrCat("yaml: ", e.msg));
  }
  if (!errs.empty()) return errs.ToStatus();
  return rf;
}

absl::StatusOr<RuleFile> LoadRuleFile(const std::string& path,
                                      const ExprValidator& validator) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read rule file"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseRuleFile(ss.str(), path, validator);
}

absl::StatusOr<int64_t> ParsePromDuration(absl::string_view s) {
  auto bad = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid duration string: \"", s, "\""));
  };
  if (s == "0") return 0;
  if (s.empty()) return bad();
  struct Unit {
    const char* name;
    int64_t ms;
  };
  // Units must appear in this order, each at most once.
  static const Unit kUnits[] = {{"y", 365LL * 24 * 3600 * 1000},
                                {"w", 7LL * 24 * 3600 * 1000},
                                {"d", 24LL * 3600 * 1000},
                                {"h", 3600LL * 1000},
                                {"m", 60LL * 1000},
                                {"s", 1000},
                                {"ms", 1}};
  size_t pos = 0;
  size_t next_unit = 0;
  int64_t total = 0;
  while (pos < s.size()) {
    size_t start = pos;
    while (pos < s.size() && absl::ascii_isdigit(s[pos])) ++pos;
    if (pos == start || pos - start > 18) return bad();
    int64_t n = std::strtoll(std::string(s.substr(start, pos - start)).c_str(),
                             nullptr, 10);
    size_t ustart = pos;
    while (pos < s.size() && absl::ascii_isalpha(s[pos])) ++pos;
    absl::string_view u = s.substr(ustart, pos - ustart);
    bool found = false;
    for (; next_unit < sizeof(kUnits) / sizeof(kUnits[0]); ++next_unit) {
      if (u == kUnits[next_unit].name) {
        total += n * kUnits[next_unit].ms;
        ++next_unit;
        found = true;
        break;
      }
    }
    if (!found) return bad();
  }
  return total;
}

std::string FormatPromDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  struct Unit {
    const char* name;
    int64_t ms;
  };
  static const Unit kUnits[] = {{"y", 365LL * 24 * 3600 * 1000},
                                {"w", 7LL * 24 * 3600 * 1000},
                                {"d", 24LL * 3600 * 1000},
                                {"h", 3600LL * 1000},
                                {"m", 60LL * 1000},
                                {"s", 1000},
                                {"ms", 1}};
  for (const Unit& u : kUnits) {
    if (ms >= u.ms) {
      absl::StrAppend(&out, ms / u.ms, u.name);
      ms %= u.ms;
    }
  }
  return out;
}

}  // namespace vigil::alerting
