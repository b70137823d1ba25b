#include "common/proto/bencode.h"

#include <gtest/gtest.h>

#include <string>

namespace otaswarm::bencode {
namespace {

Error decode_error(std::string_view in, const Limits& lim = {}) { return decode(in, lim).error; }

TEST(BencodeDecode, Integers) {
  EXPECT_EQ(decode("i42e").value.as_int(), 42);
  EXPECT_EQ(decode("i-3e").value.as_int(), -3);
  EXPECT_EQ(decode("i0e").value.as_int(), 0);
  EXPECT_EQ(decode("i9223372036854775807e").value.as_int(), INT64_MAX);
  EXPECT_EQ(decode("i-9223372036854775808e").value.as_int(), INT64_MIN);
}

TEST(BencodeDecode, MalformedIntegers) {
  for (const char* in : {"ie", "i-e", "i-0e", "i03e", "i-03e", "i1x2e", "i+5e", "i 5e", "i9223372036854775808e",
                         "i1.5e", "i--1e"})
    EXPECT_EQ(decode_error(in), Error::bad_integer) << in;
  EXPECT_EQ(decode_error("i12"), Error::unexpected_end);
  EXPECT_EQ(decode_error("i"), Error::unexpected_end);
}

TEST(BencodeDecode, Strings) {
  EXPECT_EQ(decode("4:spam").value.as_string(), "spam");
  EXPECT_EQ(decode("0:").value.as_string(), "");
  std::string binary("3:\0\xff\n", 5);
  EXPECT_EQ(decode(binary).value.as_string(), std::string("\0\xff\n", 3));
}

TEST(BencodeDecode, MalformedStrings) {
  EXPECT_EQ(decode_error("04:spam"), Error::bad_string_length);
  EXPECT_EQ(decode_error("5:spam"), Error::unexpected_end);
  EXPECT_EQ(decode_error("4spam"), Error::unexpected_end);
  EXPECT_EQ(decode_error("99999999999999999999:x"), Error::bad_string_length);
  EXPECT_EQ(decode_error("9999999999999999999:x"), Error::string_too_long);
  Limits unlimited;
  unlimited.max_string = SIZE_MAX;
  EXPECT_EQ(decode_error("9999999999999999999:x", unlimited), Error::unexpected_end);
  EXPECT_EQ(decode_error("1a:x"), Error::bad_string_length);
  Limits small;
  small.max_string = 3;
  EXPECT_EQ(decode_error("4:spam", small), Error::string_too_long);
  EXPECT_TRUE(decode("3:spa", small));
}

TEST(BencodeDecode, ListsAndDicts) {
  auto r = decode("l4:spami7ee");
  ASSERT_TRUE(r);
  ASSERT_EQ(r.value.as_list().size(), 2u);
  EXPECT_EQ(r.value.as_list()[0].as_string(), "spam");
  EXPECT_EQ(r.value.as_list()[1].as_int(), 7);

  r = decode("d3:bar4:spam3:fooi42ee");
  ASSERT_TRUE(r);
  ASSERT_NE(r.value.find("foo"), nullptr);
  EXPECT_EQ(r.value.find("foo")->as_int(), 42);
  EXPECT_EQ(r.value.find("bar")->as_string(), "spam");
  EXPECT_EQ(r.value.find("baz"), nullptr);
  EXPECT_EQ(decode("i1e").value.find("foo"), nullptr);

  EXPECT_TRUE(decode("le").value.as_list().empty());
  EXPECT_TRUE(decode("de").value.as_dict().empty());
}

TEST(BencodeDecode, MalformedContainers) {
  EXPECT_EQ(decode_error("l"), Error::unexpected_end);
  EXPECT_EQ(decode_error("li1e"), Error::unexpected_end);
  EXPECT_EQ(decode_error("d"), Error::unexpected_end);
  EXPECT_EQ(decode_error("d3:foo"), Error::unexpected_end);
  EXPECT_EQ(decode_error("di1ei2ee"), Error::non_string_key);
  EXPECT_EQ(decode_error("d3:foo1:x3:bar1:ye"), Error::unsorted_keys);
  EXPECT_EQ(decode_error("d3:foo1:x3:foo1:ye"), Error::duplicate_key);
  EXPECT_EQ(decode_error("x"), Error::unexpected_byte);
  EXPECT_EQ(decode_error(""), Error::unexpected_end);
  EXPECT_EQ(decode_error("l-e"), Error::unexpected_byte);
}

TEST(BencodeDecode, LenientKeyOrderStillRejectsDuplicates) {
  Limits lenient;
  lenient.strict_key_order = false;
  auto r = decode("d3:foo1:x3:bar1:ye", lenient);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value.find("bar")->as_string(), "y");
  EXPECT_EQ(decode_error("d1:b1:x1:a1:y1:b1:ze", lenient), Error::duplicate_key);
}

TEST(BencodeDecode, TrailingDataIsRejectedWithOffset) {
  auto r = decode("i1ei2e");
  EXPECT_EQ(r.error, Error::trailing_data);
  EXPECT_EQ(r.error_offset, 3u);
  EXPECT_EQ(decode_error("4:spamx"), Error::trailing_data);
}

TEST(BencodeDecode, ErrorOffsetPointsAtTheProblem) {
  auto r = decode("l4:spami03ee");
  EXPECT_EQ(r.error, Error::bad_integer);
  EXPECT_EQ(r.error_offset, 8u);
}

TEST(BencodeDecode, DepthLimit) {
  Limits lim;
  lim.max_depth = 3;
  EXPECT_TRUE(decode("llllee" "ee", lim));
  EXPECT_EQ(decode_error("lllllee" "eee", lim), Error::too_deep);
  // The default limit protects the stack from hostile nesting.
  std::string deep(100000, 'l');
  deep += std::string(100000, 'e');
  EXPECT_EQ(decode_error(deep), Error::too_deep);
}

TEST(BencodeDecode, RawRangeCoversTheEncodedValue) {
  std::string in = "d4:infod4:name1:xe5:otheri1ee";
  auto r = decode(in);
  ASSERT_TRUE(r);
  const Value* info = r.value.find("info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(in.substr(info->raw_offset, info->raw_length), "d4:name1:xe");
  EXPECT_EQ(r.value.raw_offset, 0u);
  EXPECT_EQ(r.value.raw_length, in.size());
}

TEST(BencodeRoundTrip, CanonicalInputsReencodeIdentically) {
  for (const char* in : {"i0e", "i-1e", "0:", "4:spam", "le", "de", "l4:spami7ee", "d3:bar4:spam3:fooi42ee",
                         "d1:ald1:bi1eee1:cl0:i0eee", "lllleeee"}) {
    auto r = decode(in);
    ASSERT_TRUE(r) << in;
    EXPECT_EQ(encode(r.value), in);
  }
}

TEST(BencodeRoundTrip, ValueTreeSurvivesEncodeDecode) {
  Dict inner{{"peers", std::string("\x7f\x00\x00\x01\x1a\xe1", 6)}, {"n", int64_t{-12}}};
  Value v(Dict{{"z", List{1, "two", Dict{}}}, {"a", inner}, {std::string("\x00k", 2), "binary key"}});
  std::string enc = encode(v);
  auto r = decode(enc);
  ASSERT_TRUE(r) << to_string(r.error);
  EXPECT_EQ(encode(r.value), enc);
  EXPECT_EQ(r.value.find("a")->find("n")->as_int(), -12);
  EXPECT_EQ(r.value.find("z")->as_list()[1].as_string(), "two");
}

TEST(BencodeWriter, MatchesTreeEncoder) {
  std::string out;
  Writer w(out);
  w.dict_begin().key("a").integer(INT64_MIN).key("b").list_begin().string("").string("xy").end().end();
  EXPECT_EQ(out, "d1:ai-9223372036854775808e1:bl0:2:xyee");
  Value v(Dict{{"a", Value(int64_t{INT64_MIN})}, {"b", List{"", "xy"}}});
  EXPECT_EQ(encode(v), out);
}

TEST(BencodeErrors, EveryErrorHasAName) {
  for (int e = 0; e <= static_cast<int>(Error::unexpected_byte); ++e)
    EXPECT_STRNE(to_string(static_cast<Error>(e)), "unknown");
}

}  // namespace
}  // namespace otaswarm::bencode
