#include "alerting/rules/check_rules.h"

#include <iostream>

#include "promql/parser/parser.h"

namespace vigil::alerting {

ExprValidator PromQLValidator() {
  return [](absl::string_view expr) -> absl::Status {
    absl::StatusOr<promql::ExprPtr> e = promql::ParseExpr(expr);
    return e.status();
  };
}

int CheckRules(const std::vector<std::string>& files,
               const ExprValidator& validator, std::ostream& out,
               std::ostream& err) {
  int code = 0;
  for (const std::string& f : files) {
    out << "Checking " << f << "\n";
    absl::StatusOr<RuleFile> rf = LoadRuleFile(f, validator);
    if (!rf.ok()) {
      err << "  FAILED:\n" << rf.status().message() << "\n\n";
      code = 1;
      continue;
    }
    out << "  SUCCESS: " << rf->RuleCount() << " rules found\n\n";
  }
  return code;
}

int RunCheckRulesCommand(const std::vector<std::string>& files) {
  return CheckRules(files, PromQLValidator(), std::cout, std::cerr);
}

}  // namespace vigil::alerting
