#include "server/cli_commands.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "alerting/rules/check_rules.h"
#include "alerting/rules/rule_tests.h"
#include "promql/testing/script_runner.h"
#include "server/build_info.h"
#include "server/config/check_config.h"
#include "server/serve.h"
#include "tsdb/tool.h"

namespace vigil::server {
namespace {

// Hands a subcommand's arguments to a C-style main (argv[0] = subcommand).
int CallMain(int (*main_fn)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return main_fn(static_cast<int>(args.size()), argv.data());
}

// vigil import openmetrics FILE --storage.tsdb.path=DIR
// (the input promtool's `tsdb create-blocks-from openmetrics` takes).
int RunImport(const std::vector<std::string>& args) {
  constexpr absl::string_view kPathFlag = "--storage.tsdb.path";
  std::string format, file, dir;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (absl::StartsWith(a, absl::StrCat(kPathFlag, "="))) {
      dir = a.substr(kPathFlag.size() + 1);
    } else if (a == kPathFlag && i + 1 < args.size()) {
      dir = args[++i];
    } else if (absl::StartsWith(a, "-")) {
      std::fprintf(stderr, "vigil import: unknown flag %s\n", a.c_str());
      return 2;
    } else if (format.empty()) {
      format = a;
    } else if (file.empty()) {
      file = a;
    } else {
      std::fprintf(stderr, "vigil import: unexpected argument %s\n", a.c_str());
      return 2;
    }
  }
  if (format != "openmetrics" || file.empty()) {
    std::fprintf(stderr,
                 "usage: vigil import openmetrics FILE "
                 "[--storage.tsdb.path=DIR]\n");
    return 2;
  }
  if (dir.empty()) dir = "data/";
  return CallMain(&tsdb::TsdbToolMain, {"import", dir, file});
}

// vigil check config FILE... | vigil check rules FILE...
int RunCheck(const std::vector<std::string>& args) {
  if (args.size() >= 2 && args[0] == "config") {
    return config::RunCheckConfigCommand({args.begin() + 1, args.end()});
  }
  if (args.size() >= 2 && args[0] == "rules") {
    return alerting::RunCheckRulesCommand({args.begin() + 1, args.end()});
  }
  std::fprintf(stderr,
               "usage: vigil check config FILE...\n"
               "       vigil check rules FILE...\n");
  return 2;
}

// vigil test promql FILE... | vigil test rules FILE...
int RunTest(const std::vector<std::string>& args) {
  if (args.size() >= 2 && args[0] == "promql") {
    return promql::testing::RunPromqlTestCommand(
        {args.begin() + 1, args.end()});
  }
  if (args.size() >= 2 && args[0] == "rules") {
    return alerting::RunRuleTestsCommand({args.begin() + 1, args.end()});
  }
  std::fprintf(stderr,
               "usage: vigil test promql FILE...   (PromQL test scripts)\n"
               "       vigil test rules FILE...    (rule unit tests in "
               "promtool's format)\n");
  return 2;
}

// vigil tsdb check DIR | import DIR FILE | stats DIR [N]
int RunTsdb(const std::vector<std::string>& args) {
  return CallMain(&tsdb::TsdbToolMain, args);
}

constexpr CliCommand kCommands[] = {
    {"serve", "Run the Vigil server (scraping, storage, rules, HTTP API).",
     &RunServe},
    {"import",
     "Backfill an OpenMetrics file: import openmetrics FILE "
     "--storage.tsdb.path=DIR.",
     &RunImport},
    {"check", "Check files: check config FILE... | check rules FILE...",
     &RunCheck},
    {"test",
     "Run tests: test promql FILE... (PromQL scripts) | test rules FILE... "
     "(rule unit tests, promtool format)",
     &RunTest},
    {"tsdb", "Data directory tools: tsdb check|import|stats DIR ...", &RunTsdb},
};

}  // namespace

absl::Span<const CliCommand> CliCommands() { return kCommands; }

const CliCommand* FindCliCommand(absl::string_view name) {
  for (const CliCommand& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::string CliUsage() {
  std::string out =
      "usage: vigil [<flags>] <command> [<args> ...]\n\n"
      "Vigil: a monitoring core compatible with Prometheus.\n\n"
      "Flags:\n"
      "  -h, --help     Show help (also: vigil <command> --help).\n"
      "      --version  Show application version.\n\n"
      "Commands:\n";
  for (const CliCommand& c : kCommands) {
    std::string name = c.name;
    name.resize(10, ' ');
    absl::StrAppend(&out, "  ", name, c.summary,
                    c.run == nullptr ? " (not available in this build)" : "",
                    "\n");
  }
  return out;
}

int RunCli(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(CliUsage().c_str(), stderr);
    std::fputs("vigil: error: expected command\n", stderr);
    return 2;
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    std::fputs(CliUsage().c_str(), stdout);
    return 0;
  }
  if (first == "--version" || first == "version") {
    std::fputs(VersionString().c_str(), stdout);
    return 0;
  }
  const CliCommand* cmd = FindCliCommand(first);
  if (cmd == nullptr) {
    std::fprintf(stderr, "vigil: error: unknown command \"%s\", try --help\n",
                 first.c_str());
    return 2;
  }
  if (cmd->run == nullptr) {
    std::fprintf(stderr,
                 "vigil: error: command \"%s\" is not available in this "
                 "build\n",
                 cmd->name);
    return 1;
  }
  return cmd->run(std::vector<std::string>(args.begin() + 1, args.end()));
}

}  // namespace vigil::server
