#include "common/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace otaswarm::config {
namespace {

namespace fs = std::filesystem;

Schema test_schema() {
  Schema s("otaswarm-test", "unit test schema");
  s.add("http-listen", Kind::string, "HTTP address", {"0.0.0.0:6969"});
  s.add("udp-listen", Kind::list, "UDP addresses", {"0.0.0.0:6969"});
  s.add("threads", Kind::integer, "I/O threads", {"2"});
  s.add("jitter", Kind::number, "interval jitter", {"0.1"});
  s.add("open", Kind::boolean, "public mode", {"false"});
  s.add("token-key-file", Kind::string, "HMAC key file");
  return s;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("otaswarm-config-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  // Runs parse and returns the key of the ConfigError it throws ("" if none).
  std::string error_key(const std::vector<std::string>& args) {
    try {
      parse(schema_, args);
    } catch (const ConfigError& e) {
      return e.key();
    }
    return "";
  }

  Schema schema_ = test_schema();
  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsApplyWithoutFileOrFlags) {
  auto r = parse(schema_, {});
  EXPECT_EQ(r.values.str("http-listen"), "0.0.0.0:6969");
  EXPECT_EQ(r.values.integer("threads", 1, 64), 2);
  EXPECT_DOUBLE_EQ(r.values.number("jitter", 0, 1), 0.1);
  EXPECT_FALSE(r.values.boolean("open"));
  EXPECT_EQ(r.values.list("udp-listen"), std::vector<std::string>{"0.0.0.0:6969"});
  EXPECT_FALSE(r.values.has("token-key-file"));
  EXPECT_TRUE(r.values.has("http-listen"));
  EXPECT_FALSE(r.help_requested);
}

TEST_F(ConfigTest, TomlFileThenFlagsWin) {
  std::string f = write("a.toml",
                        "threads = 8\n"
                        "token_key_file = \"/etc/key\"\n"
                        "open = true\n"
                        "jitter = 0.25\n"
                        "[http]\nlisten = \"127.0.0.1:80\"\n"
                        "[udp]\nlisten = [\"127.0.0.1:1\", \"[::1]:2\"]\n");
  auto r = parse(schema_, {"--config", f, "--threads", "4"});
  EXPECT_EQ(r.values.integer("threads", 1, 64), 4);
  EXPECT_EQ(r.values.str("token-key-file"), "/etc/key");
  EXPECT_TRUE(r.values.boolean("open"));
  EXPECT_DOUBLE_EQ(r.values.number("jitter", 0, 1), 0.25);
  EXPECT_EQ(r.values.str("http-listen"), "127.0.0.1:80");
  EXPECT_EQ(r.values.list("udp-listen"), (std::vector<std::string>{"127.0.0.1:1", "[::1]:2"}));

  // A flag given before --config still wins over the file.
  r = parse(schema_, {"--http-listen=0.0.0.0:1", "--config=" + f, "--udp-listen", "1.1.1.1:1"});
  EXPECT_EQ(r.values.str("http-listen"), "0.0.0.0:1");
  EXPECT_EQ(r.values.list("udp-listen"), std::vector<std::string>{"1.1.1.1:1"});
  EXPECT_EQ(r.values.integer("threads", 1, 64), 8);
}

TEST_F(ConfigTest, RepeatableFlagsAccumulate) {
  auto r = parse(schema_, {"--udp-listen", "a:1", "--udp-listen", "b:2"});
  EXPECT_EQ(r.values.list("udp-listen"), (std::vector<std::string>{"a:1", "b:2"}));
}

TEST_F(ConfigTest, UnderscoreFlagsAndBooleanForms) {
  auto r = parse(schema_, {"--token_key_file", "k", "--open"});
  EXPECT_EQ(r.values.str("token-key-file"), "k");
  EXPECT_TRUE(r.values.boolean("open"));
  r = parse(schema_, {"--open=false"});
  EXPECT_FALSE(r.values.boolean("open"));
  r = parse(schema_, {"--open=off"});
  EXPECT_FALSE(r.values.boolean("open"));
  r = parse(schema_, {"--open=yes"});
  EXPECT_TRUE(r.values.boolean("open"));
}

TEST_F(ConfigTest, HelpIsReported) {
  EXPECT_TRUE(parse(schema_, {"--help"}).help_requested);
  EXPECT_TRUE(parse(schema_, {"-h"}).help_requested);
  std::string help = schema_.help_text();
  for (const auto& o : schema_.options()) EXPECT_NE(help.find("--" + o.name), std::string::npos) << o.name;
  EXPECT_NE(help.find("(repeatable)"), std::string::npos);
  EXPECT_NE(help.find("[default: 0.0.0.0:6969]"), std::string::npos);
}

TEST_F(ConfigTest, UnknownKeysNameTheKey) {
  EXPECT_EQ(error_key({"--no-such-flag", "1"}), "no-such-flag");
  EXPECT_EQ(error_key({"--config", write("u.toml", "thread = 3\n")}), "thread");
  EXPECT_EQ(error_key({"--config", write("n.toml", "[http]\nlisen = \"x\"\n")}), "http-lisen");
  EXPECT_EQ(error_key({"--config", write("e.toml", "\"\" = 'x'\n")}), "\"\"");  // found by fuzz_config_toml
}

TEST_F(ConfigTest, CommandLineShapeErrors) {
  EXPECT_EQ(error_key({"positional"}), "positional");
  EXPECT_EQ(error_key({"--"}), "--");
  EXPECT_EQ(error_key({"--threads"}), "threads");
  EXPECT_EQ(error_key({"--config"}), "config");
}

TEST_F(ConfigTest, BadTomlNamesConfigAndLine) {
  std::string f = write("bad.toml", "threads = 3\nhttp_listen = \n");
  try {
    parse(schema_, {"--config", f});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "config");
    EXPECT_NE(std::string(e.what()).find(f + ":2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(error_key({"--config", (dir_ / "missing.toml").string()}), "config");
}

TEST_F(ConfigTest, TomlTypeErrorsNameTheKey) {
  EXPECT_EQ(error_key({"--config", write("arr.toml", "threads = [1, 2]\n")}), "threads");
  EXPECT_EQ(error_key({"--config", write("dt.toml", "http_listen = 1979-05-27T07:32:00Z\n")}), "http-listen");
  EXPECT_EQ(error_key({"--config", write("nested.toml", "udp_listen = [[1]]\n")}), "udp-listen");
}

TEST_F(ConfigTest, BadValuesNameTheKey) {
  auto expect_key = [](const std::string& key, auto&& fn) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << key;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), key);
    }
  };
  auto r = parse(schema_, {"--threads", "many", "--jitter", "x", "--open=maybe"});
  expect_key("threads", [&] { r.values.integer("threads", 1, 64); });
  expect_key("jitter", [&] { r.values.number("jitter", 0, 1); });
  expect_key("open", [&] { r.values.boolean("open"); });

  r = parse(schema_, {"--threads", "0", "--jitter", "2"});
  expect_key("threads", [&] { r.values.integer("threads", 1, 64); });
  expect_key("jitter", [&] { r.values.number("jitter", 0, 1); });

  r = parse(schema_, {"--threads", "3x", "--jitter", "nan"});
  expect_key("threads", [&] { r.values.integer("threads", 1, 64); });
  expect_key("jitter", [&] { r.values.number("jitter", 0, 1); });

  r = parse(schema_, {"--threads", "99999999999999999999999"});
  expect_key("threads", [&] { r.values.integer("threads", 1, 64); });
}

TEST_F(ConfigTest, TomlFloatsAndIntegersBecomeFlagText) {
  auto r = parse(schema_, {"--config", write("f.toml", "jitter = 1e-3\nthreads = 16\n")});
  EXPECT_DOUBLE_EQ(r.values.number("jitter", 0, 1), 0.001);
  EXPECT_EQ(r.values.integer("threads", 1, 64), 16);
}

TEST_F(ConfigTest, TomlFloatsKeepFullPrecision) {
  auto r = parse(schema_, {"--config", write("p.toml", "jitter = 0.1234567\n")});
  EXPECT_DOUBLE_EQ(r.values.number("jitter", 0, 1), 0.1234567);
  r = parse(schema_, {"--config", write("q.toml", "jitter = 0.000012345678\n")});
  EXPECT_DOUBLE_EQ(r.values.number("jitter", 0, 1), 0.000012345678);
}

TEST_F(ConfigTest, SecretFiles) {
  EXPECT_EQ(read_secret_file("token-key-file", write("k1", "0123456789abcdef0123\n")), "0123456789abcdef0123");
  EXPECT_EQ(read_secret_file("token-key-file", write("k2", "0123456789abcdef\r\n\n")), "0123456789abcdef");
  auto key_of = [](auto&& fn) {
    try {
      fn();
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string();
  };
  EXPECT_EQ(key_of([&] { read_secret_file("token-key-file", write("k3", "\n")); }), "token-key-file");
  EXPECT_EQ(key_of([&] { read_secret_file("admin-token-file", write("k4", "short\n")); }), "admin-token-file");
  EXPECT_EQ(key_of([&] { read_secret_file("token-key-file", (dir_ / "absent").string()); }), "token-key-file");
}

TEST_F(ConfigTest, GuardedMainTurnsConfigErrorIntoExitTwo) {
  testing::internal::CaptureStderr();
  int rc = guarded_main([]() -> int { throw ConfigError("threads", "expected an integer"); });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(err, "config error: key 'threads': expected an integer\n");
  EXPECT_EQ(guarded_main([] { return 0; }), 0);
}

}  // namespace
}  // namespace otaswarm::config
