// Standalone `vigil-check-config FILE...`, the same as `vigil check config`.
#include <string>
#include <vector>

#include "server/config/check_config.h"

int main(int argc, char** argv) {
  return vigil::config::RunCheckConfigCommand(
      std::vector<std::string>(argv + 1, argv + argc));
}
