// Reading /proc/self/smaps in tests of memory placed in huge pages.
#ifndef VIGIL_TSDB_TESTING_SMAPS_H_
#define VIGIL_TSDB_TESTING_SMAPS_H_

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace vigil::tsdb::testing {

// The /proc/self/smaps fields ("VmFlags", "AnonHugePages", ...) of the
// mapping holding `p`; empty if smaps is unreadable.
inline std::map<std::string, std::string> SmapsOf(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::map<std::string, std::string> fields;
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin, end;
    char dash;
    std::istringstream header(line);
    if (header >> std::hex >> begin >> dash >> end && dash == '-') {
      if (inside) break;
      inside = a >= begin && a < end;
      continue;
    }
    const size_t colon = line.find(':');
    if (inside && colon != std::string::npos) {
      fields[line.substr(0, colon)] = line.substr(colon + 1);
    }
  }
  return fields;
}

// Whether the mapping holding `p` is advised for huge pages.
inline bool AdvisedHuge(const void* p) {
  return SmapsOf(p)["VmFlags"].find(" hg") != std::string::npos;
}

}  // namespace vigil::tsdb::testing

#endif  // VIGIL_TSDB_TESTING_SMAPS_H_
