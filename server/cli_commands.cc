#include "server/cli_commands.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "server/build_info.h"
#include "server/serve.h"

namespace vigil::server {
namespace {

constexpr CliCommand kCommands[] = {
    {"serve", "Run the Vigil server (scraping, storage, rules, HTTP API).",
     &RunServe},
    {"import", "Backfill samples from Prometheus text/OpenMetrics files.",
     nullptr},
    {"check", "Check configuration and rule files for validity.", nullptr},
    {"test", "Unit-test rule files (promtool test rules format).", nullptr},
    {"tsdb", "Inspect and verify a data directory.", nullptr},
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
