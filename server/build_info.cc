#include "server/build_info.h"

#include "absl/strings/str_cat.h"

#ifndef VIGIL_REVISION
#define VIGIL_REVISION "unknown"
#endif
#ifndef VIGIL_BRANCH
#define VIGIL_BRANCH "main"
#endif
#ifndef VIGIL_BUILD_USER
#define VIGIL_BUILD_USER "unknown"
#endif
#ifndef VIGIL_BUILD_DATE
#define VIGIL_BUILD_DATE "unknown"
#endif

namespace vigil::server {

const BuildInfo& GetBuildInfo() {
  static const BuildInfo* info = [] {
    auto* b = new BuildInfo;
    b->version = "0.1.0";
    b->revision = VIGIL_REVISION;
    b->branch = VIGIL_BRANCH;
    b->build_user = VIGIL_BUILD_USER;
    b->build_date = VIGIL_BUILD_DATE;
#if defined(__clang__)
    b->compiler = absl::StrCat("clang ", __clang_version__);
#elif defined(__GNUC__)
    b->compiler = absl::StrCat("gcc ", __VERSION__);
#else
    b->compiler = "unknown";
#endif
#if defined(__x86_64__)
    b->platform = "linux/amd64";
#elif defined(__aarch64__)
    b->platform = "linux/arm64";
#else
    b->platform = "linux/unknown";
#endif
    return b;
  }();
  return *info;
}

std::string VersionString() {
  const BuildInfo& b = GetBuildInfo();
  return absl::StrCat("vigil, version ", b.version, " (branch: ", b.branch,
                      ", revision: ", b.revision, ")\n",
                      "  build user:       ", b.build_user, "\n",
                      "  build date:       ", b.build_date, "\n",
                      "  compiler:         ", b.compiler, "\n",
                      "  platform:         ", b.platform, "\n");
}

}  // namespace vigil::server
