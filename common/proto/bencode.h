#pragma once
// Bencode (BEP 3) reader and builders.
//   decode(): strict reader that rejects malformed input with a typed error
//             (leading zeros, unsorted/duplicate keys, trailing bytes, depth).
//   encode(): canonical encoding of a Value tree.
//   Writer:   allocation-light streaming builder for hot paths (announce replies);
//             the caller emits dictionary keys in sorted order.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace otaswarm::bencode {

struct Value;
using List = std::vector<Value>;
using Dict = std::map<std::string, Value, std::less<>>;

struct Value {
  std::variant<int64_t, std::string, List, Dict> v;
  // Byte range of this value in the decoded input (lets callers hash the raw "info" dict).
  size_t raw_offset = 0;
  size_t raw_length = 0;

  Value() : v(int64_t{0}) {}
  Value(int64_t i) : v(i) {}
  Value(int i) : v(int64_t{i}) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(List l) : v(std::move(l)) {}
  Value(Dict d) : v(std::move(d)) {}

  bool is_int() const { return std::holds_alternative<int64_t>(v); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  bool is_list() const { return std::holds_alternative<List>(v); }
  bool is_dict() const { return std::holds_alternative<Dict>(v); }
  int64_t as_int() const { return std::get<int64_t>(v); }
  const std::string& as_string() const { return std::get<std::string>(v); }
  const List& as_list() const { return std::get<List>(v); }
  const Dict& as_dict() const { return std::get<Dict>(v); }
  List& as_list() { return std::get<List>(v); }
  Dict& as_dict() { return std::get<Dict>(v); }

  // Dictionary lookup; nullptr when this is not a dict or the key is absent.
  const Value* find(std::string_view key) const;
};

enum class Error {
  ok = 0,
  unexpected_end,
  bad_integer,
  bad_string_length,
  string_too_long,
  unsorted_keys,
  duplicate_key,
  non_string_key,
  too_deep,
  trailing_data,
  unexpected_byte,
};

const char* to_string(Error e);

struct Limits {
  size_t max_depth = 64;
  size_t max_string = 64u << 20;
  bool strict_key_order = true;  // some torrents in the wild have unsorted keys
};

struct DecodeResult {
  Error error = Error::ok;
  size_t error_offset = 0;
  Value value;
  explicit operator bool() const { return error == Error::ok; }
};

DecodeResult decode(std::string_view input, const Limits& limits = {});

std::string encode(const Value& v);
void encode_to(std::string& out, const Value& v);

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  Writer& dict_begin() { out_.push_back('d'); return *this; }
  Writer& list_begin() { out_.push_back('l'); return *this; }
  Writer& end() { out_.push_back('e'); return *this; }
  Writer& integer(int64_t i);
  Writer& string(std::string_view s);
  Writer& key(std::string_view k) { return string(k); }

 private:
  std::string& out_;
};

}  // namespace otaswarm::bencode
