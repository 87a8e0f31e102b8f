#include "promql/testing/script_runner.h"

#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "promql/engine.h"
#include "promql/parser/parser.h"
#include "promql/testing/load_syntax.h"
#include "promql/testing/test_storage.h"
#include "tsdb/labels.h"
#include "tsdb/sample.h"

namespace vigil::promql::testing {
namespace {

absl::StatusOr<int64_t> ParseTime(absl::string_view s) {
  bool neg = absl::ConsumePrefix(&s, "-");
  if (s == "0") return 0;
  absl::StatusOr<int64_t> d = ParseDuration(s);
  if (!d.ok()) return d.status();
  return neg ? -*d : *d;
}

// Splits `metric{labels} rest` into the series part and the rest.
bool SplitSeries(absl::string_view line, absl::string_view* series,
                 absl::string_view* rest) {
  size_t brace = line.find('{');
  size_t space = line.find_first_of(" \t");
  if (brace != absl::string_view::npos &&
      (space == absl::string_view::npos || brace < space)) {
    // Find the closing brace outside quotes.
    bool quoted = false;
    for (size_t i = brace; i < line.size(); ++i) {
      char c = line[i];
      if (quoted) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          quoted = false;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == '}') {
        *series = line.substr(0, i + 1);
        *rest = absl::StripAsciiWhitespace(line.substr(i + 1));
        return true;
      }
    }
    return false;
  }
  if (space == absl::string_view::npos) {
    *series = line;
    *rest = "";
    return true;
  }
  *series = line.substr(0, space);
  *rest = absl::StripAsciiWhitespace(line.substr(space));
  return true;
}

struct Expected {
  bool is_scalar = false;
  double scalar = 0;
  std::vector<std::pair<tsdb::Labels, double>> samples;
};

std::string FormatValue(double v) { return absl::StrCat(v); }

std::string DescribeVector(const Vector& v) {
  std::string s;
  for (const VectorSample& x : v) {
    absl::StrAppend(&s, s.empty() ? "" : ", ", x.metric.ToString(), " ",
                    FormatValue(x.v));
  }
  return "[" + s + "]";
}

std::string DescribeExpected(const Expected& e) {
  if (e.is_scalar) return absl::StrCat("scalar ", FormatValue(e.scalar));
  std::string s;
  for (const auto& [l, v] : e.samples) {
    absl::StrAppend(&s, s.empty() ? "" : ", ", l.ToString(), " ",
                    FormatValue(v));
  }
  return "[" + s + "]";
}

// Returns "" when `got` matches, else a description of the mismatch.
std::string Compare(const Expected& exp, const Value& got, bool ordered) {
  if (exp.is_scalar) {
    const Scalar* s = std::get_if<Scalar>(&got);
    if (s == nullptr) {
      return absl::StrCat("expected scalar ", FormatValue(exp.scalar), ", got ",
                          ResultTypeName(got));
    }
    if (!AlmostEqual(exp.scalar, s->v)) {
      return absl::StrCat("expected scalar ", FormatValue(exp.scalar), ", got ",
                          FormatValue(s->v));
    }
    return "";
  }
  const Vector* v = std::get_if<Vector>(&got);
  if (v == nullptr) {
    return absl::StrCat("expected vector ", DescribeExpected(exp), ", got ",
                        ResultTypeName(got));
  }
  auto mismatch = [&] {
    return absl::StrCat("expected ", DescribeExpected(exp), ", got ",
                        DescribeVector(*v));
  };
  if (v->size() != exp.samples.size()) return mismatch();
  if (ordered) {
    for (size_t i = 0; i < v->size(); ++i) {
      if ((*v)[i].metric != exp.samples[i].first ||
          !AlmostEqual((*v)[i].v, exp.samples[i].second)) {
        return mismatch();
      }
    }
    return "";
  }
  absl::flat_hash_map<tsdb::Labels, double> want;
  for (const auto& [l, val] : exp.samples) want[l] = val;
  for (const VectorSample& x : *v) {
    auto it = want.find(x.metric);
    if (it == want.end() || !AlmostEqual(it->second, x.v)) return mismatch();
  }
  return "";
}

class TestScriptStorage : public ScriptStorage {
 public:
  tsdb::Queryable* queryable() override { return &st_; }
  absl::Status Load(
      const std::vector<std::pair<tsdb::Labels, std::vector<tsdb::Sample>>>&
          series) override {
    for (const auto& [labels, samples] : series) {
      for (const tsdb::Sample& x : samples) st_.Add(labels, x.t, x.v);
    }
    return absl::OkStatus();
  }
  absl::Status Clear() override {
    st_.Clear();
    return absl::OkStatus();
  }

 private:
  TestStorage st_;
};

class Runner {
 public:
  Runner(absl::string_view name, ScriptResult* result,
         std::unique_ptr<ScriptStorage> storage)
      : name_(name),
        result_(result),
        storage_(std::move(storage)),
        engine_(EngineOptions{}, storage_->queryable()) {}

  void Run(absl::string_view text) {
    std::vector<std::string> lines = absl::StrSplit(text, '\n');
    size_t i = 0;
    while (i < lines.size()) {
      std::string line = lines[i];
      absl::string_view l = absl::StripAsciiWhitespace(line);
      const int lineno = static_cast<int>(i) + 1;
      ++i;
      if (l.empty() || absl::StartsWith(l, "#")) continue;
      // Indented, non-empty lines that follow belong to this command.
      std::vector<std::pair<int, std::string>> body;
      while (i < lines.size()) {
        absl::string_view b = lines[i];
        absl::string_view bs = absl::StripAsciiWhitespace(b);
        if (bs.empty() || !(b[0] == ' ' || b[0] == '\t')) break;
        if (!absl::StartsWith(bs, "#")) {
          body.emplace_back(static_cast<int>(i) + 1, std::string(bs));
        }
        ++i;
      }
      if (l == "clear") {
        if (absl::Status st = storage_->Clear(); !st.ok()) {
          Fail(lineno, st.message());
        }
      } else if (absl::StartsWith(l, "load ")) {
        Load(lineno, l.substr(5), body);
      } else if (absl::StartsWith(l, "eval")) {
        Eval(lineno, l, body);
      } else {
        Fail(lineno, absl::StrCat("unknown command: ", l));
      }
    }
  }

 private:
  void Fail(int line, absl::string_view msg) {
    result_->failed++;
    result_->failures.push_back(absl::StrCat(name_, ":", line, ": ", msg));
  }

  void Load(int lineno, absl::string_view interval_text,
            const std::vector<std::pair<int, std::string>>& body) {
    absl::StatusOr<int64_t> interval =
        ParseDuration(absl::StripAsciiWhitespace(interval_text));
    if (!interval.ok()) {
      Fail(lineno,
           absl::StrCat("bad load interval: ", interval.status().message()));
      return;
    }
    std::vector<std::pair<tsdb::Labels, std::vector<tsdb::Sample>>> block;
    for (const auto& [ln, text] : body) {
      absl::string_view series, values;
      if (!SplitSeries(text, &series, &values)) {
        Fail(ln, "malformed series line");
        continue;
      }
      absl::StatusOr<tsdb::Labels> labels = ParseSeriesLabels(series);
      if (!labels.ok()) {
        Fail(ln, labels.status().message());
        continue;
      }
      std::vector<std::optional<double>> vals;
      if (absl::Status st = ExpandValues(values, &vals); !st.ok()) {
        Fail(ln, st.message());
        continue;
      }
      std::vector<tsdb::Sample> samples;
      for (size_t k = 0; k < vals.size(); ++k) {
        if (!vals[k].has_value()) continue;
        samples.push_back({static_cast<int64_t>(k) * *interval, *vals[k]});
      }
      block.emplace_back(*std::move(labels), std::move(samples));
    }
    if (absl::Status st = storage_->Load(block); !st.ok()) {
      Fail(lineno, absl::StrCat("load: ", st.message()));
    }
  }

  // eval range from <start> to <end> step <step> <expr>, expected series in
  // load syntax: `{a="b"} 1 2 _ 4` (point k at start + k*step, `_` none).
  void EvalRange(int lineno, absl::string_view l,
                 const std::vector<std::pair<int, std::string>>& body) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(l, absl::MaxSplits(' ', 8), absl::SkipEmpty());
    if (parts.size() < 9 || parts[2] != "from" || parts[4] != "to" ||
        parts[6] != "step") {
      Fail(lineno, absl::StrCat("malformed eval range command: ", l));
      return;
    }
    const bool fail = parts[0] == "eval_fail";
    absl::StatusOr<int64_t> start = ParseTime(parts[3]);
    absl::StatusOr<int64_t> end = ParseTime(parts[5]);
    absl::StatusOr<int64_t> step = ParseDuration(parts[7]);
    if (!start.ok() || !end.ok() || !step.ok()) {
      Fail(lineno, absl::StrCat("bad range in: ", l));
      return;
    }
    const std::string expr(absl::StripAsciiWhitespace(parts[8]));
    const std::string where =
        absl::StrCat("eval range ", parts[3], "..", parts[5], " ", expr, ": ");
    absl::flat_hash_map<tsdb::Labels, std::vector<tsdb::Sample>> want;
    for (const auto& [ln, text] : body) {
      absl::string_view series, values;
      absl::StatusOr<tsdb::Labels> labels =
          SplitSeries(text, &series, &values)
              ? ParseSeriesLabels(series)
              : absl::InvalidArgumentError("malformed result line");
      std::vector<std::optional<double>> vals;
      if (!labels.ok() || !ExpandValues(values, &vals).ok()) {
        Fail(ln, absl::StrCat("malformed expected series: ", text));
        return;
      }
      std::vector<tsdb::Sample>& pts = want[*labels];
      for (size_t k = 0; k < vals.size(); ++k) {
        if (vals[k].has_value()) {
          pts.push_back({*start + static_cast<int64_t>(k) * *step, *vals[k]});
        }
      }
    }
    absl::StatusOr<QueryResult> res =
        engine_.RangeQuery(expr, *start, *end, *step);
    if (fail) {
      if (res.ok()) {
        Fail(lineno, absl::StrCat(where, "expected an error"));
      } else {
        result_->passed++;
      }
      return;
    }
    if (!res.ok()) {
      Fail(lineno,
           absl::StrCat(where, "unexpected error: ", res.status().ToString()));
      return;
    }
    const Matrix& got = std::get<Matrix>(res->value);
    auto describe = [](const tsdb::Labels& l,
                       const std::vector<tsdb::Sample>& pts) {
      std::string s = l.ToString() + " [";
      for (size_t i = 0; i < pts.size(); ++i) {
        absl::StrAppend(&s, i ? " " : "", pts[i].v, "@", pts[i].t / 1000, "s");
      }
      return s + "]";
    };
    std::string problem;
    if (got.size() != want.size()) {
      problem =
          absl::StrCat("expected ", want.size(), " series, got ", got.size());
    }
    for (const MatrixSeries& ms : got) {
      if (!problem.empty()) break;
      auto it = want.find(ms.metric);
      if (it == want.end()) {
        problem =
            absl::StrCat("unexpected series ", describe(ms.metric, ms.points));
        break;
      }
      bool same = it->second.size() == ms.points.size();
      for (size_t i = 0; same && i < ms.points.size(); ++i) {
        same = ms.points[i].t == it->second[i].t &&
               AlmostEqual(ms.points[i].v, it->second[i].v);
      }
      if (!same) {
        problem = absl::StrCat("expected ", describe(it->first, it->second),
                               ", got ", describe(ms.metric, ms.points));
      }
    }
    if (!problem.empty()) {
      std::string all;
      for (const MatrixSeries& ms : got) {
        absl::StrAppend(&all, " ", describe(ms.metric, ms.points));
      }
      Fail(lineno, absl::StrCat(where, problem, "; result:", all));
      return;
    }
    result_->passed++;
  }

  void Eval(int lineno, absl::string_view l,
            const std::vector<std::pair<int, std::string>>& body) {
    if (absl::StrContains(l, " range from ")) {
      EvalRange(lineno, l, body);
      return;
    }
    // eval[_fail|_ordered] instant at <time> <expr>
    std::vector<absl::string_view> parts =
        absl::StrSplit(l, absl::MaxSplits(' ', 4), absl::SkipEmpty());
    if (parts.size() < 5 || parts[1] != "instant" || parts[2] != "at") {
      Fail(lineno, absl::StrCat("malformed eval command: ", l));
      return;
    }
    const bool fail = parts[0] == "eval_fail";
    const bool ordered = parts[0] == "eval_ordered";
    if (!fail && !ordered && parts[0] != "eval") {
      Fail(lineno, absl::StrCat("unknown command: ", parts[0]));
      return;
    }
    absl::StatusOr<int64_t> t = ParseTime(parts[3]);
    if (!t.ok()) {
      Fail(lineno, absl::StrCat("bad eval time: ", t.status().message()));
      return;
    }
    const std::string expr(absl::StripAsciiWhitespace(parts[4]));
    const std::string where =
        absl::StrCat(parts[0], " at ", parts[3], " ", expr, ": ");
    Expected exp;
    for (const auto& [ln, text] : body) {
      double v;
      if (ParseNumber(text, &v)) {
        exp.is_scalar = true;
        exp.scalar = v;
        continue;
      }
      absl::string_view series, value;
      absl::StatusOr<tsdb::Labels> labels =
          SplitSeries(text, &series, &value)
              ? ParseSeriesLabels(series)
              : absl::InvalidArgumentError("malformed result line");
      if (!labels.ok() || !ParseNumber(value, &v)) {
        Fail(ln, absl::StrCat("malformed expected sample: ", text));
        return;
      }
      exp.samples.emplace_back(*labels, v);
    }
    absl::StatusOr<QueryResult> res = engine_.InstantQuery(expr, *t);
    if (fail) {
      if (res.ok()) {
        Fail(lineno, absl::StrCat(where, "expected an error, got ",
                                  ResultTypeName(res->value)));
      } else {
        result_->passed++;
      }
      return;
    }
    if (!res.ok()) {
      Fail(lineno,
           absl::StrCat(where, "unexpected error: ", res.status().ToString()));
      return;
    }
    std::string diff = Compare(exp, res->value, ordered);
    if (!diff.empty()) {
      Fail(lineno, absl::StrCat(where, diff));
      return;
    }
    // Same query in range mode; the point at t must agree.
    if (!ordered && (std::holds_alternative<Vector>(res->value) ||
                     std::holds_alternative<Scalar>(res->value))) {
      absl::StatusOr<QueryResult> rr =
          engine_.RangeQuery(expr, *t - 60000, *t + 60000, 60000);
      if (!rr.ok()) {
        Fail(lineno, absl::StrCat(where, "range mode: unexpected error: ",
                                  rr.status().ToString()));
        return;
      }
      const Matrix& m = std::get<Matrix>(rr->value);
      Vector at_t;
      for (const MatrixSeries& s : m) {
        for (const tsdb::Sample& p : s.points) {
          if (p.t == *t) at_t.push_back(VectorSample{s.metric, p.t, p.v});
        }
      }
      Value got;
      if (std::holds_alternative<Scalar>(res->value)) {
        got = at_t.empty() ? Value(Vector{}) : Value(Scalar{*t, at_t[0].v});
      } else {
        got = std::move(at_t);
      }
      diff = Compare(exp, got, false);
      if (!diff.empty()) {
        Fail(lineno, absl::StrCat(where, "range mode: ", diff));
        return;
      }
    }
    result_->passed++;
  }

  std::string name_;
  ScriptResult* result_;
  std::unique_ptr<ScriptStorage> storage_;
  Engine engine_;
};

}  // namespace

ScriptResult RunScript(absl::string_view name, absl::string_view text,
                       const ScriptStorageFactory& storage) {
  ScriptResult r;
  Runner runner(name, &r,
                storage ? storage() : std::make_unique<TestScriptStorage>());
  runner.Run(text);
  return r;
}

absl::StatusOr<ScriptResult> RunScriptFile(
    const std::string& path, const ScriptStorageFactory& storage) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return RunScript(path, ss.str(), storage);
}

int RunPromqlTestCommand(const std::vector<std::string>& files,
                         std::ostream& out) {
  int passed = 0, failed = 0;
  for (const std::string& f : files) {
    absl::StatusOr<ScriptResult> r = RunScriptFile(f);
    if (!r.ok()) {
      out << f << ": " << r.status().message() << "\n";
      failed++;
      continue;
    }
    for (const std::string& line : r->failures) out << line << "\n";
    passed += r->passed;
    failed += r->failed;
  }
  out << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

int RunPromqlTestCommand(const std::vector<std::string>& files) {
  return RunPromqlTestCommand(files, std::cout);
}

}  // namespace vigil::promql::testing
