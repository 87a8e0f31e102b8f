// Adapts promql::Engine to the rule engine's QueryFunc: instant queries,
// scalars become a one-element vector with no labels (as Prometheus's
// EngineQueryFunc does), strings and matrices are errors.
#ifndef VIGIL_ALERTING_RULES_ENGINE_QUERY_H_
#define VIGIL_ALERTING_RULES_ENGINE_QUERY_H_

#include "alerting/rules/rule.h"
#include "promql/engine.h"

namespace vigil::alerting {

// `engine` must outlive the returned function.
QueryFunc EngineQueryFunc(promql::Engine* engine);

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_ENGINE_QUERY_H_
