// `vigil test rules FILE...`: unit tests for rule files in the format of
// `promtool test rules`, so the test files an operator already keeps next to
// their rules run unchanged:
//
//   rule_files: [alerts.yml]          # relative to the test file; globs
//   evaluation_interval: 1m           # default 1m
//   group_eval_order: [first, second] # optional
//   tests:
//     - interval: 1m                  # default evaluation_interval
//       input_series:
//         - series: 'up{job="node", instance="a"}'
//           values: '1 1 0x10'        # the load syntax of PromQL tests
//       external_labels: {cluster: eu}
//       external_url: http://vigil:9090
//       alert_rule_test:
//         - eval_time: 10m
//           alertname: InstanceDown
//           exp_alerts:
//             - exp_labels: {job: node, instance: a, severity: page}
//               exp_annotations: {summary: "a is down"}
//       promql_expr_test:
//         - expr: sum(up)
//           eval_time: 1m
//           exp_samples:
//             - labels: '{}'
//               value: 1
//
// As promtool does, every rule group is evaluated at 0, evaluation_interval,
// 2*evaluation_interval, ... up to the largest eval_time, writing recording
// results and ALERTS to the test's storage; an alert_rule_test compares the
// FIRING alerts of `alertname` (labels without alertname, which is implied,
// and expanded annotations) after the evaluation at eval_time; a
// promql_expr_test runs its expression at eval_time over the inputs and the
// rules' results. Unknown fields are errors, as with promtool's strict
// parsing.
//
// Output per file: "Unit Testing:  FILE" then "  SUCCESS" or "  FAILED:"
// with one entry per failed expectation (expected and got). Exit status 0
// when every file passed, 1 otherwise.
#ifndef VIGIL_ALERTING_RULES_RULE_TESTS_H_
#define VIGIL_ALERTING_RULES_RULE_TESTS_H_

#include <ostream>
#include <string>
#include <vector>

namespace vigil::alerting {

int RunRuleTestsCommand(const std::vector<std::string>& files,
                        std::ostream& out);
int RunRuleTestsCommand(const std::vector<std::string>& files);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_RULE_TESTS_H_
