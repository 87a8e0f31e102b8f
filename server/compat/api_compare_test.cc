#include "server/compat/api_compare.h"

#include "gtest/gtest.h"

namespace vigil::compat {
namespace {

TEST(ApiCompareTest, VectorOrderDoesNotMatter) {
  std::string a =
      R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"a":"1"},"value":[1,"2"]},{"metric":{"a":"2"},"value":[1,"3"]}]}})";
  std::string b =
      R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"a":"2"},"value":[1,"3"]},{"metric":{"a":"1"},"value":[1,"2"]}]}})";
  EXPECT_EQ(CompareApi(200, a, 200, b), "");
}

TEST(ApiCompareTest, ValuesLabelsAndLengthsAreCompared) {
  std::string a =
      R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"a":"1"},"value":[1,"2"]}]}})";
  EXPECT_NE(CompareApi(200, a, 200,
                       R"({"status":"success","data":{"resultType":"vector",
                       "result":[{"metric":{"a":"1"},"value":[1,"2.5"]}]}})"),
            "");
  EXPECT_NE(CompareApi(200, a, 200,
                       R"({"status":"success","data":{"resultType":"vector",
                       "result":[{"metric":{"b":"1"},"value":[1,"2"]}]}})"),
            "");
  EXPECT_NE(CompareApi(200, a, 200,
                       R"({"status":"success","data":{"resultType":"vector",
                       "result":[]}})"),
            "");
  EXPECT_NE(CompareApi(200, a, 400, a), "");
  EXPECT_NE(CompareApi(200, a, 200, "not json"), "");
}

TEST(ApiCompareTest, LastBitFloatDifferencesAreTolerated) {
  std::string a =
      R"({"status":"success","data":{"resultType":"scalar","result":[1,"0.30000000000000004"]}})";
  std::string b =
      R"({"status":"success","data":{"resultType":"scalar","result":[1,"0.3"]}})";
  EXPECT_EQ(CompareApi(200, a, 200, b), "");
  std::string c =
      R"({"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}})";
  EXPECT_NE(CompareApi(200, a, 200, c), "");
}

TEST(ApiCompareTest, ListsAreSortedAndErrorsCompareByType) {
  EXPECT_EQ(CompareApi(200, R"({"status":"success","data":["b","a"]})", 200,
                       R"({"status":"success","data":["a","b"]})"),
            "");
  EXPECT_EQ(
      CompareApi(
          400, R"({"status":"error","errorType":"bad_data","error":"x"})", 400,
          R"({"status":"error","errorType":"bad_data","error":"y"})"),
      "");
  EXPECT_NE(
      CompareApi(
          400, R"({"status":"error","errorType":"bad_data","error":"x"})", 400,
          R"({"status":"error","errorType":"execution","error":"x"})"),
      "");
}

}  // namespace
}  // namespace vigil::compat
