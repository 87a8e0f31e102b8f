// The `vigil` binary. Everything lives in server/cli_commands.h so the
// dispatch table is testable; this file only hands over argv.
#include "server/cli_commands.h"

int main(int argc, char** argv) { return vigil::server::RunCli(argc, argv); }
