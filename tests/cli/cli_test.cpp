#include <gtest/gtest.h>

#include "common/config.h"
#include "cli/cli_args.h"
#include "cli/commands.h"

namespace otaswarm::cli {
namespace {

TEST(AutoPieceLength, PowerOfTwoWithinBounds) {
  EXPECT_EQ(auto_piece_length(1), 16 * 1024);
  EXPECT_EQ(auto_piece_length(129'241'752), 64 * 1024);  // the thesis image
  EXPECT_EQ(auto_piece_length(1ll << 30), 512 * 1024);
  EXPECT_EQ(auto_piece_length((1ll << 30) + 1), 1024 * 1024);
  EXPECT_EQ(auto_piece_length(2ll << 30), 1024 * 1024);
  EXPECT_EQ(auto_piece_length(3'000'000'000), 2 * 1024 * 1024);
  EXPECT_EQ(auto_piece_length(1ll << 40), 16 * 1024 * 1024);
  for (int64_t size : {1ll, 100'000ll, 1ll << 30, 3'000'000'000ll, 40'000'000'000ll}) {
    int64_t p = auto_piece_length(size);
    EXPECT_EQ(p & (p - 1), 0) << size;
    if (p < 16 * 1024 * 1024) {
      EXPECT_LE((size + p - 1) / p, 2048) << size;
    }
  }
}

config::Schema test_schema() {
  config::Schema s("t", "test");
  s.add("webseed", config::Kind::list, "").add("output", config::Kind::string, "").add("progress", config::Kind::boolean, "");
  return s;
}

TEST(ParseArgs, SeparatesPositionalsFromFlags) {
  auto p = parse_args(test_schema(), {"file.bin", "--webseed", "a", "--progress", "-o", "out", "--webseed=b", "x"},
                      {{"-o", "--output"}});
  EXPECT_EQ(p.positional, (std::vector<std::string>{"file.bin", "x"}));
  EXPECT_EQ(p.values.list("webseed"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.values.str("output"), "out");
  EXPECT_TRUE(p.values.boolean("progress"));
}

TEST(ParseArgs, DoubleDashEndsFlagsAndValuesMayLookPositional) {
  auto p = parse_args(test_schema(), {"--output", "plain", "--", "--weird-name"});
  EXPECT_EQ(p.values.str("output"), "plain");
  EXPECT_EQ(p.positional, (std::vector<std::string>{"--weird-name"}));
}

TEST(ParseArgs, UnknownFlagAndArityErrors) {
  EXPECT_THROW(parse_args(test_schema(), {"--nope", "1"}), config::ConfigError);
  EXPECT_THROW(parse_args(test_schema(), {"--output"}), config::ConfigError);
  auto p = parse_args(test_schema(), {"a", "b"});
  EXPECT_THROW(expect_positional(p, 1, "FILE"), config::ConfigError);
  EXPECT_THROW(expect_positional(p, 3, "FILE"), config::ConfigError);
  EXPECT_NO_THROW(expect_positional(p, 2, "FILE"));
  EXPECT_THROW(required(p.values, "output"), config::ConfigError);
}

}  // namespace
}  // namespace otaswarm::cli
