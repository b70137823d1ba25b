// JSON helpers: ordered output, untrusted bytes never throw, deep input refused before parsing.
#include "common/json.h"

#include <gtest/gtest.h>

namespace otaswarm {
namespace {

TEST(Json, KeysStayInInsertionOrder) {
  Json o;
  o["ready"] = true;
  o["http"] = "127.0.0.1:1";
  o["a"] = 1;
  EXPECT_EQ(json_dump(o), R"({"ready":true,"http":"127.0.0.1:1","a":1})");
}

TEST(Json, InvalidUtf8IsReplacedNotThrown) {
  Json o;
  o["peer"] = std::string("ab\xff\xfe", 4);
  std::string out;
  ASSERT_NO_THROW(out = json_dump(o));
  EXPECT_EQ(out, "{\"peer\":\"ab\xEF\xBF\xBD\xEF\xBF\xBD\"}");
}

TEST(Json, ParseReportsErrorsWithoutThrowing) {
  std::string error;
  auto ok = json_parse(R"({"device_id":"d1","ttl_seconds":60})", error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ((*ok)["ttl_seconds"], 60);
  EXPECT_FALSE(json_parse("{\"a\":", error));
  EXPECT_FALSE(error.empty());
  error.clear();
  EXPECT_FALSE(json_parse("", error));
  EXPECT_FALSE(error.empty());
}

TEST(Json, DepthLimitCountsOnlyStructureOutsideStrings) {
  std::string error;
  std::string deep(kMaxJsonDepth + 1, '[');
  deep += std::string(kMaxJsonDepth + 1, ']');
  EXPECT_FALSE(json_parse(deep, error));
  EXPECT_NE(error.find("nested deeper"), std::string::npos) << error;
  std::string at_limit = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(json_parse(at_limit, error)) << error;
  std::string brackets_in_string = "{\"s\":\"" + std::string(200, '[') + "\\\"\"}";
  EXPECT_TRUE(json_parse(brackets_in_string, error)) << error;
}

}  // namespace
}  // namespace otaswarm
