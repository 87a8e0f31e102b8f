// Comparing Prometheus HTTP API answers from two servers "modulo ordering":
// vector and matrix results, series lists and label lists are sorted before
// comparison, and sample values (JSON strings) compare as numbers with a
// relative tolerance of 1e-12 so that a last-bit difference in a float sum
// is not reported as an incompatibility. Error answers compare by HTTP
// status, "status" and "errorType" (messages are reported, not compared).
//
//   std::string diff = CompareApi(prom_status, prom_body, vigil_status,
//                                 vigil_body);
//   EXPECT_EQ(diff, "") << query;
#ifndef VIGIL_SERVER_COMPAT_API_COMPARE_H_
#define VIGIL_SERVER_COMPAT_API_COMPARE_H_

#include <string>

#include "nlohmann/json.hpp"

namespace vigil::compat {

// Sorts the order-free parts of an API answer in place.
void NormalizeApi(nlohmann::json* j);

// "" when equal; otherwise a description of the first difference.
// `value_tolerance` is the relative tolerance for sample values.
std::string CompareApi(int status_a, const std::string& body_a, int status_b,
                       const std::string& body_b,
                       double value_tolerance = 1e-12);

}  // namespace vigil::compat

#endif  // VIGIL_SERVER_COMPAT_API_COMPARE_H_
