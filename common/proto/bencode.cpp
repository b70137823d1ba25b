#include "common/proto/bencode.h"

#include <charconv>

namespace otaswarm::bencode {

const Value* Value::find(std::string_view key) const {
  if (!is_dict()) return nullptr;
  const auto& d = as_dict();
  auto it = d.find(key);
  return it == d.end() ? nullptr : &it->second;
}

const char* to_string(Error e) {
  switch (e) {
    case Error::ok: return "ok";
    case Error::unexpected_end: return "unexpected end of input";
    case Error::bad_integer: return "malformed integer";
    case Error::bad_string_length: return "malformed string length";
    case Error::string_too_long: return "string longer than allowed";
    case Error::unsorted_keys: return "dictionary keys not sorted";
    case Error::duplicate_key: return "duplicate dictionary key";
    case Error::non_string_key: return "dictionary key is not a string";
    case Error::too_deep: return "nesting too deep";
    case Error::trailing_data: return "trailing data after value";
    case Error::unexpected_byte: return "unexpected byte";
  }
  return "unknown";
}

namespace {

class Parser {
 public:
  Parser(std::string_view in, const Limits& lim) : in_(in), lim_(lim) {}

  Error parse(Value& out, size_t depth) {
    if (depth > lim_.max_depth) return fail(Error::too_deep);
    if (pos_ >= in_.size()) return fail(Error::unexpected_end);
    size_t start = pos_;
    char c = in_[pos_];
    Error e = Error::ok;
    if (c == 'i') {
      int64_t i;
      e = parse_int(i);
      if (e == Error::ok) out.v = i;
    } else if (c >= '0' && c <= '9') {
      std::string s;
      e = parse_string(s);
      if (e == Error::ok) out.v = std::move(s);
    } else if (c == 'l') {
      ++pos_;
      List list;
      while (true) {
        if (pos_ >= in_.size()) return fail(Error::unexpected_end);
        if (in_[pos_] == 'e') { ++pos_; break; }
        list.emplace_back();
        if ((e = parse(list.back(), depth + 1)) != Error::ok) return e;
      }
      out.v = std::move(list);
    } else if (c == 'd') {
      ++pos_;
      Dict dict;
      std::string prev;
      bool first = true;
      while (true) {
        if (pos_ >= in_.size()) return fail(Error::unexpected_end);
        if (in_[pos_] == 'e') { ++pos_; break; }
        if (in_[pos_] < '0' || in_[pos_] > '9') return fail(Error::non_string_key);
        std::string key;
        if ((e = parse_string(key)) != Error::ok) return e;
        if (!first) {
          if (key == prev) return fail(Error::duplicate_key);
          if (lim_.strict_key_order && key < prev) return fail(Error::unsorted_keys);
        }
        if (dict.count(key)) return fail(Error::duplicate_key);
        Value val;
        if ((e = parse(val, depth + 1)) != Error::ok) return e;
        prev = key;
        first = false;
        dict.emplace(std::move(key), std::move(val));
      }
      out.v = std::move(dict);
    } else {
      return fail(Error::unexpected_byte);
    }
    if (e != Error::ok) return e;
    out.raw_offset = start;
    out.raw_length = pos_ - start;
    return Error::ok;
  }

  size_t pos() const { return pos_; }
  size_t error_pos() const { return err_pos_; }

 private:
  Error fail(Error e) {
    err_pos_ = pos_;
    return e;
  }

  Error parse_int(int64_t& out) {
    ++pos_;  // 'i'
    size_t end = in_.find('e', pos_);
    if (end == std::string_view::npos) return fail(Error::unexpected_end);
    std::string_view digits = in_.substr(pos_, end - pos_);
    if (digits.empty()) return fail(Error::bad_integer);
    std::string_view mag = digits[0] == '-' ? digits.substr(1) : digits;
    if (mag.empty() || (mag.size() > 1 && mag[0] == '0') || (digits[0] == '-' && mag == "0"))
      return fail(Error::bad_integer);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    if (ec != std::errc() || p != digits.data() + digits.size()) return fail(Error::bad_integer);
    pos_ = end + 1;
    return Error::ok;
  }

  Error parse_string(std::string& out) {
    size_t colon = in_.find(':', pos_);
    if (colon == std::string_view::npos) return fail(Error::unexpected_end);
    std::string_view digits = in_.substr(pos_, colon - pos_);
    if (digits.empty() || digits.size() > 19 || (digits.size() > 1 && digits[0] == '0'))
      return fail(Error::bad_string_length);
    uint64_t len = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc() || p != digits.data() + digits.size()) return fail(Error::bad_string_length);
    if (len > lim_.max_string) return fail(Error::string_too_long);
    if (len > in_.size() - colon - 1) return fail(Error::unexpected_end);
    out.assign(in_.substr(colon + 1, len));
    pos_ = colon + 1 + len;
    return Error::ok;
  }

  std::string_view in_;
  const Limits& lim_;
  size_t pos_ = 0;
  size_t err_pos_ = 0;
};

}  // namespace

DecodeResult decode(std::string_view input, const Limits& limits) {
  DecodeResult r;
  Parser p(input, limits);
  r.error = p.parse(r.value, 0);
  if (r.error != Error::ok) {
    r.error_offset = p.error_pos();
    r.value = Value();
    return r;
  }
  if (p.pos() != input.size()) {
    r.error = Error::trailing_data;
    r.error_offset = p.pos();
    r.value = Value();
  }
  return r;
}

void encode_to(std::string& out, const Value& v) {
  Writer w(out);
  if (v.is_int()) {
    w.integer(v.as_int());
  } else if (v.is_string()) {
    w.string(v.as_string());
  } else if (v.is_list()) {
    w.list_begin();
    for (const auto& e : v.as_list()) encode_to(out, e);
    w.end();
  } else {
    w.dict_begin();
    for (const auto& [k, e] : v.as_dict()) {
      w.key(k);
      encode_to(out, e);
    }
    w.end();
  }
}

std::string encode(const Value& v) {
  std::string out;
  encode_to(out, v);
  return out;
}

Writer& Writer::integer(int64_t i) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, i);
  out_.push_back('i');
  out_.append(buf, p);
  out_.push_back('e');
  return *this;
}

Writer& Writer::string(std::string_view s) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, s.size());
  out_.append(buf, p);
  out_.push_back(':');
  out_.append(s);
  return *this;
}

}  // namespace otaswarm::bencode
