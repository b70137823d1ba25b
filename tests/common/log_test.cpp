// Structured logs: one JSON object per line on stderr, level filter, level names.
#include "common/log.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace otaswarm::log {
namespace {

TEST(Log, ParseLevel) {
  Level l = Level::info;
  EXPECT_TRUE(parse_level("debug", l));
  EXPECT_EQ(l, Level::debug);
  EXPECT_TRUE(parse_level("error", l));
  EXPECT_EQ(l, Level::error);
  EXPECT_FALSE(parse_level("verbose", l));
  EXPECT_EQ(l, Level::error);  // unchanged on failure
}

TEST(Log, OneJsonLinePerMessageWithFieldsAndLevelFilter) {
  set_level(Level::info);
  testing::internal::CaptureStderr();
  debug("hidden");
  info("listening", {{"http", "127.0.0.1:80"}, {"peer", std::string("\xff", 1)}});
  error("boom");
  std::string out = testing::internal::GetCapturedStderr();
  std::vector<std::string> lines;
  for (size_t b = 0, e; (e = out.find('\n', b)) != std::string::npos; b = e + 1) lines.push_back(out.substr(b, e - b));
  ASSERT_EQ(lines.size(), 2u) << out;
  std::string err;
  auto first = json_parse(lines[0], err);
  ASSERT_TRUE(first) << err;
  EXPECT_EQ((*first)["level"], "info");
  EXPECT_EQ((*first)["msg"], "listening");
  EXPECT_EQ((*first)["http"], "127.0.0.1:80");
  EXPECT_EQ((*first)["peer"], "\xEF\xBF\xBD");
  EXPECT_TRUE((*first)["ts"].is_string());
  auto second = json_parse(lines[1], err);
  ASSERT_TRUE(second) << err;
  EXPECT_EQ((*second)["level"], "error");
  set_level(Level::info);
}

}  // namespace
}  // namespace otaswarm::log
