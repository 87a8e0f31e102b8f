// `vigil check rules FILE...`: promtool-compatible rule file checking.
//
//   Checking rules.yml
//     SUCCESS: 1 rules found
//
// or, for a broken file (errors on stderr, exit code 1):
//
//   Checking bad.yml
//     FAILED:
//   bad.yml:5: group "dfm", rule 1, "ErrorRate": could not parse ...
#ifndef VIGIL_ALERTING_RULES_CHECK_RULES_H_
#define VIGIL_ALERTING_RULES_CHECK_RULES_H_

#include <ostream>
#include <string>
#include <vector>

#include "alerting/rules/rule_file.h"

namespace vigil::alerting {

// Checks each file with the PromQL parser; returns the process exit code
// (0 when all files are valid, 1 otherwise). Writes to stdout/stderr.
int RunCheckRulesCommand(const std::vector<std::string>& files);

// Same with injectable validator and streams.
int CheckRules(const std::vector<std::string>& files,
               const ExprValidator& validator, std::ostream& out,
               std::ostream& err);

// The PromQL parser as an ExprValidator.
ExprValidator PromQLValidator();

}  // namespace vigil::alerting

#endif  // VIGIL_ALERTING_RULES_CHECK_RULES_H_
