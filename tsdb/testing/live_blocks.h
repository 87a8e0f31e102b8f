// Checks, in allocator tests, that blocks handed out do not overlap.
#ifndef VIGIL_TSDB_TESTING_LIVE_BLOCKS_H_
#define VIGIL_TSDB_TESTING_LIVE_BLOCKS_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>

#include "gtest/gtest.h"

namespace vigil::tsdb::testing {

class LiveBlocks {
 public:
  // Records [p, p + size); fails if it overlaps a block recorded before.
  ::testing::AssertionResult Add(const void* p, size_t size) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto [it, inserted] = blocks_.emplace(a, size);
    if (!inserted) return ::testing::AssertionFailure() << "handed out twice";
    if (it != blocks_.begin()) {
      auto before = std::prev(it);
      if (a - before->first < before->second) {
        return ::testing::AssertionFailure() << "overlaps the block before";
      }
    }
    auto after = std::next(it);
    if (after != blocks_.end() && after->first - a < size) {
      return ::testing::AssertionFailure() << "overlaps the block after";
    }
    return ::testing::AssertionSuccess();
  }

 private:
  std::map<uintptr_t, size_t> blocks_;  // start -> size
};

}  // namespace vigil::tsdb::testing

#endif  // VIGIL_TSDB_TESTING_LIVE_BLOCKS_H_
