// The `vigil` command line: a table of subcommands and the top-level
// dispatcher used by main().
//
//   vigil serve [flags]        run the server (server/serve.h)
//   vigil import ...           backfill data        } provided by other
//   vigil check ...            check config/rules   } packages; entries
//   vigil test ...             unit-test rules      } without an
//   vigil tsdb ...             inspect storage      } implementation fail
//   vigil --help | --version                          with "not available in
//                                                     this build"
//
// Wiring a subcommand means setting its `run` in kCommands (cli_commands.cc)
// to a function `int Run(const std::vector<std::string>& args)` that
// returns the exit code.
#ifndef VIGIL_SERVER_CLI_COMMANDS_H_
#define VIGIL_SERVER_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vigil::server {

// Receives the arguments after the subcommand's name; returns the exit code.
using CommandFn = int (*)(const std::vector<std::string>& args);

struct CliCommand {
  const char* name;
  const char* summary;
  CommandFn run;  // nullptr: not available in this build
};

// Every subcommand, in the order `vigil --help` lists them.
absl::Span<const CliCommand> CliCommands();
// nullptr when `name` is not a subcommand.
const CliCommand* FindCliCommand(absl::string_view name);

// The top-level help text.
std::string CliUsage();

// main(): dispatches argv[1]. Exit codes: the subcommand's, 0 for
// --help/--version, 2 for an unknown subcommand or missing one, 1 for an
// unavailable one.
int RunCli(int argc, char** argv);

}  // namespace vigil::server

#endif  // VIGIL_SERVER_CLI_COMMANDS_H_
