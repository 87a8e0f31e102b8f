// `vigil tsdb ...` subcommands, callable from the main binary:
//
//   vigil tsdb check DIR            decode everything, report problems
//   vigil tsdb import DIR FILE      backfill OpenMetrics text into DIR
//   vigil tsdb stats DIR [N]        series count, time range, top-N cardinality
//
// TsdbToolMain takes the arguments after "tsdb" (argv[0] is the
// subcommand) and returns a process exit code; output goes to stdout,
// errors to stderr.
#ifndef VIGIL_TSDB_TOOL_H_
#define VIGIL_TSDB_TOOL_H_

namespace vigil::tsdb {

int TsdbToolMain(int argc, char** argv);

}  // namespace vigil::tsdb

#endif  // VIGIL_TSDB_TOOL_H_
