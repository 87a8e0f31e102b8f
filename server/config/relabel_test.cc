#include "server/config/relabel.h"

#include "gtest/gtest.h"

namespace vigil::config {
namespace {

TEST(RelabelTest, Placeholder) {}

}  // namespace
}  // namespace vigil::config
