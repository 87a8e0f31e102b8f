// Version and build facts of this binary, for `vigil --version`,
// /api/v1/status/buildinfo and the vigil_build_info metric. The revision
// comes from -DVIGIL_REVISION="<git sha>" at build time (tools/build
// scripts pass `--copt=-DVIGIL_REVISION=...`); it is "unknown" otherwise.
#ifndef VIGIL_SERVER_BUILD_INFO_H_
#define VIGIL_SERVER_BUILD_INFO_H_

#include <string>

namespace vigil::server {

struct BuildInfo {
  std::string version;
  std::string revision;
  std::string branch;
  std::string build_user;
  std::string build_date;
  std::string compiler;
  std::string platform;
};

const BuildInfo& GetBuildInfo();

// "vigil, version 0.1.0 (branch: main, revision: abc)\n  build user: ..."
std::string VersionString();

}  // namespace vigil::server

#endif  // VIGIL_SERVER_BUILD_INFO_H_
