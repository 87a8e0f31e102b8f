#include "alerting/notifier/state_file.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace vigil::alerting::notifier {

bool ReadStateFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

absl::Status ReplaceStateFile(const std::string& path,
                              absl::string_view content,
                              absl::string_view what) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      return absl::InternalError(absl::StrCat(tmp, ": cannot write ", what));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot rename ", what, " into place"));
  }
  return absl::OkStatus();
}

}  // namespace vigil::alerting::notifier
