#include "alerting/rules/engine_query.h"

#include "absl/strings/str_cat.h"

namespace vigil::alerting {

QueryFunc EngineQueryFunc(promql::Engine* engine) {
  return [engine](absl::string_view expr,
                  int64_t t_ms) -> absl::StatusOr<promql::Vector> {
    absl::StatusOr<promql::QueryResult> r = engine->InstantQuery(expr, t_ms);
    if (!r.ok()) return r.status();
    if (auto* v = std::get_if<promql::Vector>(&r->value)) return *v;
    if (auto* s = std::get_if<promql::Scalar>(&r->value)) {
      return promql::Vector{{tsdb::Labels(), s->t, s->v}};
    }
    return absl::InvalidArgumentError(
        absl::StrCat("rule result is not a vector or scalar: ",
                     promql::ResultTypeName(r->value)));
  };
}

}  // namespace vigil::alerting
