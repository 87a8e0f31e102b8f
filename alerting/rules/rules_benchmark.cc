// Rule evaluation and template costs. Run:
//   bazel run --config=opt //alerting/rules:rules_benchmark
#include <string>

#include "alerting/rules/rule.h"
#include "alerting/template/template.h"
#include "benchmark/benchmark.h"

namespace vigil::alerting {
namespace {

void BM_TemplateExecute(benchmark::State& state) {
  absl::StatusOr<Template> t = Template::Parse(
      "Nginx on {{ $labels.instance }} has {{ $value | humanize }} "
      "connections",
      RuleTemplateOptions(), "bm");
  TemplateValue data = RuleTemplateData(
      {{"instance", "192.168.121.174:9113"}, {"job", "nginx"}}, 1234.5, {}, "");
  for (auto _ : state) {
    benchmark::DoNotOptimize(t->Execute(data));
  }
}
BENCHMARK(BM_TemplateExecute);

// One evaluation of an alerting rule whose query returns N series, in
// steady state (all alerts already firing), with one templated annotation.
void BM_AlertingRuleEval(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  promql::Vector result;
  for (int i = 0; i < n; ++i) {
    result.push_back(
        {*tsdb::Labels::FromPairs(
             {{"__name__", "nginx_connections_active"},
              {"instance", "10.0." + std::to_string(i / 256) + "." +
                               std::to_string(i % 256) + ":9113"},
              {"job", "nginx"}}),
         0, 150});
  }
  RuleSpec spec;
  spec.kind = RuleSpec::Kind::kAlert;
  spec.name = "NginxBusy";
  spec.expr = "x";
  spec.labels = {{"severity", "critical"}};
  spec.annotations = {{"title", "busy on {{ $labels.instance }}"}};
  auto rule = AlertingRule::Create(spec);
  EvalContext ctx;
  ctx.query = [&](absl::string_view,
                  int64_t) -> absl::StatusOr<promql::Vector> { return result; };
  int64_t t = 1714152000000;
  for (auto _ : state) {
    t += 60000;
    benchmark::DoNotOptimize((*rule)->Eval(ctx, t, 0));
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_AlertingRuleEval)->Arg(100)->Arg(10000);

}  // namespace
}  // namespace vigil::alerting
