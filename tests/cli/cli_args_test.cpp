// Argument splitting shared by the `otaswarm` subcommands.
#include "cli/cli_args.h"

#include <gtest/gtest.h>

#include "common/config.h"

namespace otaswarm::cli {
namespace {

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
