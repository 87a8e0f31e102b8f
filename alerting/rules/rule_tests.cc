#include "alerting/rules/rule_tests.h"

#include <glob.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "alerting/rules/check_rules.h"
#include "alerting/rules/engine_query.h"
#include "alerting/rules/rule.h"
#include "alerting/rules/rule_file.h"
#include "promql/engine.h"
#include "promql/testing/load_syntax.h"
#include "promql/testing/test_storage.h"
#include "tsdb/sample.h"
#include "yaml-cpp/yaml.h"

namespace vigil::alerting {
namespace {

using StringMap = std::map<std::string, std::string>;

struct InputSeries {
  std::string series;
  std::string values;
  int line = 0;
};

struct ExpectedAlert {
  StringMap labels;
  StringMap annotations;
};

struct AlertTest {
  int64_t eval_time_ms = 0;
  std::string alertname;
  std::vector<ExpectedAlert> expected;
};

struct ExpectedSample {
  std::string labels;
  double value = 0;
  int line = 0;
};

struct ExprTest {
  std::string expr;
  int64_t eval_time_ms = 0;
  std::vector<ExpectedSample> expected;
};

struct TestGroup {
  std::string name;
  int64_t interval_ms = 0;  // 0: the file's evaluation_interval
  std::vector<InputSeries> input;
  std::vector<AlertTest> alert_tests;
  std::vector<ExprTest> expr_tests;
  StringMap external_labels;
  std::string external_url;
};

struct TestFile {
  std::vector<std::string> rule_files;
  int64_t evaluation_interval_ms = 60'000;
  std::vector<std::string> group_eval_order;
  std::vector<TestGroup> tests;
};

// --- Parsing (strict, like promtool's yaml.UnmarshalStrict) ---------------

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  absl::StatusOr<TestFile> Parse(const YAML::Node& root) {
    TestFile out;
    if (!root.IsMap()) return Error(root, "the test file must be a mapping");
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "rule_files") {
        if (!Strings(v, &out.rule_files)) return status_;
      } else if (key == "evaluation_interval") {
        if (!Duration(v, &out.evaluation_interval_ms)) return status_;
      } else if (key == "group_eval_order") {
        if (!Strings(v, &out.group_eval_order)) return status_;
      } else if (key == "tests") {
        if (!v.IsSequence() && !v.IsNull()) {
          return Error(v, "\"tests\" must be a list");
        }
        for (const YAML::Node& t : v) {
          TestGroup g;
          if (!Group(t, &g)) return status_;
          out.tests.push_back(std::move(g));
        }
      } else {
        return Error(kv.first, absl::StrCat("unknown field \"", key, "\""));
      }
    }
    if (out.evaluation_interval_ms <= 0) {
      return Error(root, "evaluation_interval must be positive");
    }
    return out;
  }

 private:
  void Fail(const YAML::Node& n, absl::string_view msg) {
    int line = n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
    status_ = absl::InvalidArgumentError(
        line > 0 ? absl::StrCat(file_, ":", line, ": ", msg)
                 : absl::StrCat(file_, ": ", msg));
  }

  absl::Status Error(const YAML::Node& n, absl::string_view msg) {
    Fail(n, msg);
    return status_;
  }

  bool Scalar(const YAML::Node& n, std::string* out, absl::string_view what) {
    if (!n.IsScalar()) {
      Fail(n, absl::StrCat(what, " must be a string"));
      return false;
    }
    *out = n.as<std::string>();
    return true;
  }

  bool Strings(const YAML::Node& n, std::vector<std::string>* out) {
    if (n.IsNull()) return true;
    if (!n.IsSequence()) {
      Fail(n, "expected a list of strings");
      return false;
    }
    for (const YAML::Node& e : n) {
      std::string s;
      if (!Scalar(e, &s, "a list entry")) return false;
      out->push_back(std::move(s));
    }
    return true;
  }

  bool Duration(const YAML::Node& n, int64_t* out) {
    std::string s;
    if (!Scalar(n, &s, "a duration")) return false;
    absl::StatusOr<int64_t> d = ParsePromDuration(s);
    if (!d.ok()) {
      Fail(n, absl::StrCat("bad duration \"", s, "\": ", d.status().message()));
      return false;
    }
    *out = *d;
    return true;
  }

  bool Map(const YAML::Node& n, StringMap* out) {
    if (n.IsNull()) return true;
    if (!n.IsMap()) {
      Fail(n, "expected a mapping of label names to values");
      return false;
    }
    for (const auto& kv : n) {
      std::string v;
      if (!Scalar(kv.second, &v, "a label value")) return false;
      (*out)[kv.first.as<std::string>()] = v;
    }
    return true;
  }

  bool Group(const YAML::Node& n, TestGroup* g) {
    if (!n.IsMap()) {
      Fail(n, "a test group must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      bool ok = true;
      if (key == "name") {
        ok = Scalar(v, &g->name, "name");
      } else if (key == "interval") {
        ok = Duration(v, &g->interval_ms);
      } else if (key == "input_series") {
        ok = Each(v, [&](const YAML::Node& e) { return Series(e, g); });
      } else if (key == "alert_rule_test") {
        ok = Each(v, [&](const YAML::Node& e) { return Alert(e, g); });
      } else if (key == "promql_expr_test") {
        ok = Each(v, [&](const YAML::Node& e) { return Expr(e, g); });
      } else if (key == "external_labels") {
        ok = Map(v, &g->external_labels);
      } else if (key == "external_url") {
        ok = Scalar(v, &g->external_url, "external_url");
      } else {
        Fail(kv.first, absl::StrCat("unknown field \"", key, "\""));
        ok = false;
      }
      if (!ok) return false;
    }
    return true;
  }

  template <typename F>
  bool Each(const YAML::Node& n, F f) {
    if (n.IsNull()) return true;
    if (!n.IsSequence()) {
      Fail(n, "expected a list");
      return false;
    }
    for (const YAML::Node& e : n) {
      if (!e.IsMap()) {
        Fail(e, "expected a mapping");
        return false;
      }
      if (!f(e)) return false;
    }
    return true;
  }

  bool Series(const YAML::Node& n, TestGroup* g) {
    InputSeries s;
    s.line = n.Mark().line + 1;
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      bool ok = true;
      if (key == "series") {
        ok = Scalar(kv.second, &s.series, "series");
      } else if (key == "values") {
        ok = Scalar(kv.second, &s.values, "values");
      } else {
        Fail(kv.first, absl::StrCat("unknown field \"", key, "\""));
        ok = false;
      }
      if (!ok) return false;
    }
    g->input.push_back(std::move(s));
    return true;
  }

  bool Alert(const YAML::Node& n, TestGroup* g) {
    AlertTest t;
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      bool ok = true;
      if (key == "eval_time") {
        ok = Duration(kv.second, &t.eval_time_ms);
      } else if (key == "alertname") {
        ok = Scalar(kv.second, &t.alertname, "alertname");
      } else if (key == "exp_alerts") {
        ok = Each(kv.second, [&](const YAML::Node& e) {
          ExpectedAlert a;
          for (const auto& f : e) {
            std::string k = f.first.as<std::string>();
            if (k == "exp_labels") {
              if (!Map(f.second, &a.labels)) return false;
            } else if (k == "exp_annotations") {
              if (!Map(f.second, &a.annotations)) return false;
            } else {
              Fail(f.first, absl::StrCat("unknown field \"", k, "\""));
              return false;
            }
          }
          t.expected.push_back(std::move(a));
          return true;
        });
      } else {
        Fail(kv.first, absl::StrCat("unknown field \"", key, "\""));
        ok = false;
      }
      if (!ok) return false;
    }
    g->alert_tests.push_back(std::move(t));
    return true;
  }

  bool Expr(const YAML::Node& n, TestGroup* g) {
    ExprTest t;
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      bool ok = true;
      if (key == "expr") {
        ok = Scalar(kv.second, &t.expr, "expr");
      } else if (key == "eval_time") {
        ok = Duration(kv.second, &t.eval_time_ms);
      } else if (key == "exp_samples") {
        ok = Each(kv.second, [&](const YAML::Node& e) {
          ExpectedSample s;
          s.line = e.Mark().line + 1;
          for (const auto& f : e) {
            std::string k = f.first.as<std::string>();
            if (k == "labels") {
              if (!Scalar(f.second, &s.labels, "labels")) return false;
            } else if (k == "value") {
              std::string v;
              if (!Scalar(f.second, &v, "value")) return false;
              if (!promql::testing::ParseNumber(v, &s.value)) {
                Fail(f.second, absl::StrCat("bad value \"", v, "\""));
                return false;
              }
            } else {
              Fail(f.first, absl::StrCat("unknown field \"", k, "\""));
              return false;
            }
          }
          t.expected.push_back(std::move(s));
          return true;
        });
      } else {
        Fail(kv.first, absl::StrCat("unknown field \"", key, "\""));
        ok = false;
      }
      if (!ok) return false;
    }
    g->expr_tests.push_back(std::move(t));
    return true;
  }

  std::string file_;
  absl::Status status_;
};

// --- Running ----------------------------------------------------------------

std::string Dir(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Rule file patterns, relative to the test file, expanded like shell globs
// (a pattern matching nothing is an error, naming it).
absl::StatusOr<std::vector<std::string>> RuleFilePaths(
    const std::string& test_file, const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const std::string& p : patterns) {
    std::string full = !p.empty() && p[0] == '/' ? p : Dir(test_file) + "/" + p;
    glob_t g{};
    int rc = glob(full.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
    }
    globfree(&g);
    if (rc != 0) {
      return absl::NotFoundError(
          absl::StrCat(test_file, ": rule file ", full, " not found"));
    }
  }
  return out;
}

struct LoadedGroup {
  GroupSpec spec;
  std::vector<std::unique_ptr<Rule>> rules;
  // Each rule's output series of its previous evaluation, so vanished
  // ones get a staleness marker as in Prometheus's rule groups.
  std::vector<absl::flat_hash_set<tsdb::Labels>> previous;
};

absl::StatusOr<std::vector<LoadedGroup>> LoadGroups(
    const std::vector<std::string>& paths,
    const std::vector<std::string>& order) {
  std::vector<LoadedGroup> groups;
  for (const std::string& path : paths) {
    absl::StatusOr<RuleFile> f = LoadRuleFile(path, PromQLValidator());
    if (!f.ok()) return f.status();
    for (GroupSpec& g : f->groups) {
      LoadedGroup lg;
      for (const RuleSpec& r : g.rules) {
        if (r.kind == RuleSpec::Kind::kRecord) {
          lg.rules.push_back(std::make_unique<RecordingRule>(r));
        } else {
          absl::StatusOr<std::unique_ptr<AlertingRule>> a =
              AlertingRule::Create(r);
          if (!a.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ":", r.line, ": ", a.status().message()));
          }
          lg.rules.push_back(*std::move(a));
        }
      }
      lg.previous.resize(lg.rules.size());
      lg.spec = std::move(g);
      groups.push_back(std::move(lg));
    }
  }
  // group_eval_order first, in its order; the others after, in file order.
  std::stable_sort(
      groups.begin(), groups.end(),
      [&](const LoadedGroup& a, const LoadedGroup& b) {
        auto rank = [&](const LoadedGroup& g) {
          auto it = std::find(order.begin(), order.end(), g.spec.name);
          return it == order.end() ? order.size()
                                   : static_cast<size_t>(it - order.begin());
        };
        return rank(a) < rank(b);
      });
  return groups;
}

std::string FormatMap(const StringMap& m) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : m) parts.push_back(absl::StrCat(k, "=\"", v, "\""));
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

StringMap ToMap(const tsdb::Labels& l) {
  StringMap m;
  for (const tsdb::Label& x : l) m[std::string(x.name)] = std::string(x.value);
  return m;
}

// Go's strconv.FormatFloat(v, 'E', -1, 64), as promtool prints values:
// the shortest mantissa that reads back exactly ("5E-01", "1.25E+02").
std::string GoE(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  for (int precision = 0; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*E", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string FormatAlerts(const std::vector<ExpectedAlert>& alerts) {
  std::string out = "[";
  for (size_t i = 0; i < alerts.size(); ++i) {
    absl::StrAppend(
        &out, "\n            ", i,
        ":\n              Labels:", FormatMap(alerts[i].labels),
        "\n              Annotations:", FormatMap(alerts[i].annotations));
  }
  absl::StrAppend(&out, alerts.empty() ? "]" : "\n            ]");
  return out;
}

bool AlertLessThan(const ExpectedAlert& a, const ExpectedAlert& b) {
  return std::tie(a.labels, a.annotations) < std::tie(b.labels, b.annotations);
}

class GroupRun {
 public:
  GroupRun(const TestFile& file, const TestGroup& group,
           std::vector<LoadedGroup>* rules)
      : file_(file),
        group_(group),
        rules_(rules),
        engine_(promql::EngineOptions(), &storage_),
        query_(EngineQueryFunc(&engine_)) {}

  // Appends failure descriptions to `failures`; returns false on an error
  // that stopped the group (bad input series).
  void Run(std::vector<std::string>* failures) {
    int64_t interval = group_.interval_ms > 0 ? group_.interval_ms
                                              : file_.evaluation_interval_ms;
    for (const InputSeries& in : group_.input) {
      absl::StatusOr<tsdb::Labels> labels =
          promql::testing::ParseSeriesLabels(in.series);
      std::vector<std::optional<double>> values;
      absl::Status st = labels.ok()
                            ? promql::testing::ExpandValues(in.values, &values)
                            : labels.status();
      if (!st.ok()) {
        failures->push_back(absl::StrCat("line ", in.line, ": input series \"",
                                         in.series, "\": ", st.message()));
        return;
      }
      for (size_t i = 0; i < values.size(); ++i) {
        if (values[i].has_value()) {
          storage_.Add(*labels, static_cast<int64_t>(i) * interval, *values[i]);
        }
      }
    }

    EvalContext ctx;
    ctx.query = query_;
    ctx.external_labels = group_.external_labels;
    ctx.external_url = group_.external_url;
    int64_t max_time = 0;
    for (const AlertTest& t : group_.alert_tests) {
      max_time = std::max(max_time, t.eval_time_ms);
    }
    for (const ExprTest& t : group_.expr_tests) {
      max_time = std::max(max_time, t.eval_time_ms);
    }
    const int64_t step = file_.evaluation_interval_ms;
    for (int64_t ts = 0; ts <= max_time; ts += step) {
      EvaluateAll(ctx, ts);
      for (const AlertTest& t : group_.alert_tests) {
        if (t.eval_time_ms >= ts && t.eval_time_ms < ts + step) {
          CheckAlerts(t, failures);
        }
      }
    }
    for (const ExprTest& t : group_.expr_tests) CheckExpr(t, failures);
  }

 private:
  void EvaluateAll(const EvalContext& ctx, int64_t ts) {
    for (LoadedGroup& g : *rules_) {
      for (size_t i = 0; i < g.rules.size(); ++i) {
        absl::StatusOr<promql::Vector> out =
            g.rules[i]->Eval(ctx, ts, g.spec.limit);
        g.rules[i]->SetEvalResult(out.status(), ts, 0);
        absl::flat_hash_set<tsdb::Labels> now;
        std::unique_ptr<tsdb::Appender> app = storage_.NewAppender();
        if (out.ok()) {
          for (const promql::VectorSample& s : *out) {
            // Rejections (duplicates within one output) are what Prometheus
            // drops too.
            app->Append(0, s.metric, ts, s.v).IgnoreError();
            now.insert(s.metric);
          }
        }
        for (const tsdb::Labels& old : g.previous[i]) {
          if (!now.contains(old)) {
            app->Append(0, old, ts, tsdb::StaleNaN()).IgnoreError();
          }
        }
        app->Commit().IgnoreError();
        g.previous[i] = std::move(now);
      }
    }
  }

  void CheckAlerts(const AlertTest& t, std::vector<std::string>* failures) {
    std::vector<ExpectedAlert> got;
    for (LoadedGroup& g : *rules_) {
      for (const std::unique_ptr<Rule>& r : g.rules) {
        auto* a = dynamic_cast<AlertingRule*>(r.get());
        if (a == nullptr || a->name() != t.alertname) continue;
        for (const Alert& alert : a->ActiveAlerts()) {
          if (alert.state != AlertState::kFiring) continue;
          got.push_back({ToMap(alert.labels), ToMap(alert.annotations)});
        }
      }
    }
    std::vector<ExpectedAlert> expected = t.expected;
    for (ExpectedAlert& e : expected) e.labels["alertname"] = t.alertname;
    std::sort(got.begin(), got.end(), AlertLessThan);
    std::sort(expected.begin(), expected.end(), AlertLessThan);
    bool same = got.size() == expected.size();
    for (size_t i = 0; same && i < got.size(); ++i) {
      same = got[i].labels == expected[i].labels &&
             got[i].annotations == expected[i].annotations;
    }
    if (same) return;
    failures->push_back(absl::StrCat("alertname: ", t.alertname, ", time: ",
                                     FormatPromDuration(t.eval_time_ms),
                                     ", \n        exp:", FormatAlerts(expected),
                                     ", \n        got:", FormatAlerts(got)));
  }

  void CheckExpr(const ExprTest& t, std::vector<std::string>* failures) {
    std::string where = absl::StrCat(
        "expr: \"", t.expr, "\", time: ", FormatPromDuration(t.eval_time_ms));
    absl::StatusOr<promql::Vector> got = query_(t.expr, t.eval_time_ms);
    if (!got.ok()) {
      failures->push_back(
          absl::StrCat(where, ",\n        err: ", got.status().message()));
      return;
    }
    std::vector<std::pair<std::string, double>> exp, act;
    for (const ExpectedSample& s : t.expected) {
      absl::StatusOr<tsdb::Labels> l =
          promql::testing::ParseSeriesLabels(s.labels);
      if (!l.ok()) {
        failures->push_back(absl::StrCat(where, ",\n        line ", s.line,
                                         ": bad labels \"", s.labels,
                                         "\": ", l.status().message()));
        return;
      }
      exp.emplace_back(FormatMap(ToMap(*l)), s.value);
    }
    for (const promql::VectorSample& s : *got) {
      act.emplace_back(FormatMap(ToMap(s.metric)), s.v);
    }
    std::sort(exp.begin(), exp.end());
    std::sort(act.begin(), act.end());
    bool same = exp.size() == act.size();
    for (size_t i = 0; same && i < exp.size(); ++i) {
      same = exp[i].first == act[i].first &&
             promql::testing::AlmostEqual(exp[i].second, act[i].second);
    }
    if (same) return;
    auto format = [](const std::vector<std::pair<std::string, double>>& v) {
      std::vector<std::string> parts;
      for (const auto& [l, x] : v)
        parts.push_back(absl::StrCat(l, " ", GoE(x)));
      return absl::StrJoin(parts, ", ");
    };
    failures->push_back(absl::StrCat(where, ",\n        exp: ", format(exp),
                                     "\n        got: ", format(act)));
  }

  const TestFile& file_;
  const TestGroup& group_;
  std::vector<LoadedGroup>* rules_;
  promql::testing::TestStorage storage_;
  promql::Engine engine_;
  QueryFunc query_;
};

// Runs one test file; returns its failure descriptions (empty: passed).
std::vector<std::string> RunFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return {absl::StrCat(path, ": cannot read the file")};
  } catch (const YAML::Exception& e) {
    return {absl::StrCat(path, ":", e.mark.line + 1, ": ", e.msg)};
  }
  absl::StatusOr<TestFile> file = Parser(path).Parse(root);
  if (!file.ok()) return {std::string(file.status().message())};
  absl::StatusOr<std::vector<std::string>> paths =
      RuleFilePaths(path, file->rule_files);
  if (!paths.ok()) return {std::string(paths.status().message())};

  std::vector<std::string> failures;
  for (const TestGroup& g : file->tests) {
    // Fresh rule state (pending alerts, previous outputs) per test group.
    absl::StatusOr<std::vector<LoadedGroup>> rules =
        LoadGroups(*paths, file->group_eval_order);
    if (!rules.ok()) return {std::string(rules.status().message())};
    std::vector<std::string> group_failures;
    GroupRun(*file, g, &*rules).Run(&group_failures);
    for (std::string& f : group_failures) {
      failures.push_back(g.name.empty() ? f
                                        : absl::StrCat("    name: ", g.name,
                                                       ",\n", "    ", f));
    }
  }
  return failures;
}

}  // namespace

int RunRuleTestsCommand(const std::vector<std::string>& files,
                        std::ostream& out) {
  bool all_passed = true;
  for (const std::string& f : files) {
    out << "Unit Testing:  " << f << "\n";
    std::vector<std::string> failures = RunFile(f);
    if (failures.empty()) {
      out << "  SUCCESS\n\n";
      continue;
    }
    all_passed = false;
    out << "  FAILED:\n";
    for (const std::string& x : failures) {
      out << (absl::StartsWith(x, "    ") ? "" : "    ") << x << "\n";
    }
    out << "\n";
  }
  return all_passed ? 0 : 1;
}

int RunRuleTestsCommand(const std::vector<std::string>& files) {
  return RunRuleTestsCommand(files, std::cout);
}

}  // namespace vigil::alerting
