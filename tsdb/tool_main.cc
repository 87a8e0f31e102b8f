// Standalone `vigil-tsdb` binary: the same subcommands as `vigil tsdb`.
#include "tsdb/tool.h"

int main(int argc, char** argv) {
  return vigil::tsdb::TsdbToolMain(argc - 1, argv + 1);
}
