#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace otaswarm::crypto {

Md5 md5(std::string_view d) {
  Md5 out;
  unsigned int n = 0;
  EVP_Digest(d.data(), d.size(), out.data(), &n, EVP_md5(), nullptr);
  return out;
}

Sha1 sha1(std::string_view d) {
  Sha1 out;
  SHA1(reinterpret_cast<const unsigned char*>(d.data()), d.size(), out.data());
  return out;
}

Sha256 sha256(std::string_view d) {
  Sha256 out;
  SHA256(reinterpret_cast<const unsigned char*>(d.data()), d.size(), out.data());
  return out;
}

Sha1 hmac_sha1(std::string_view key, std::string_view data) {
  Sha1 out;
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

Sha256 hmac_sha256(std::string_view key, std::string_view data) {
  Sha256 out;
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

namespace {
// HMAC's two key-dependent SHA-256 blocks (key ⊕ ipad, key ⊕ opad), hashed once per key; a
// MAC then copies the two states instead of re-keying a context. The low-level SHA256_*
// API is deprecated in OpenSSL 3 but is what makes this a struct copy (EVP contexts are
// opaque and copying one allocates).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct KeyedMac {
  std::string key;
  SHA256_CTX inner{}, outer{};
  explicit KeyedMac(std::string_view k) : key(k) {
    std::array<unsigned char, SHA256_CBLOCK> block{};
    if (k.size() > block.size()) {
      auto h = sha256(k);
      std::copy(h.begin(), h.end(), block.begin());
    } else {
      std::copy(k.begin(), k.end(), block.begin());
    }
    std::array<unsigned char, SHA256_CBLOCK> pad;
    for (size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad.data(), pad.size());
    for (size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad.data(), pad.size());
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(pad.data(), pad.size());
  }
  ~KeyedMac() {
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
  }
  Sha256 mac(std::string_view data) const {
    Sha256 inner_hash, out;
    SHA256_CTX c = inner;
    SHA256_Update(&c, data.data(), data.size());
    SHA256_Final(inner_hash.data(), &c);
    c = outer;
    SHA256_Update(&c, inner_hash.data(), inner_hash.size());
    SHA256_Final(out.data(), &c);
    OPENSSL_cleanse(&c, sizeof c);
    return out;
  }
};
#pragma GCC diagnostic pop
constexpr size_t kCachedKeysPerThread = 8;
}  // namespace

Sha256 hmac_sha256_cached(std::string_view key, std::string_view data) {
  thread_local std::vector<std::unique_ptr<KeyedMac>> cache;
  thread_local size_t next_victim = 0;
  for (auto& c : cache)
    if (c->key == key) return c->mac(data);
  auto fresh = std::make_unique<KeyedMac>(key);
  KeyedMac* km = fresh.get();
  if (cache.size() < kCachedKeysPerThread) {
    cache.push_back(std::move(fresh));
  } else {
    cache[next_victim] = std::move(fresh);
    next_victim = (next_victim + 1) % kCachedKeysPerThread;
  }
  return km->mac(data);
}

Sha1Stream::Sha1Stream() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("EVP sha1 init failed");
}
Sha1Stream::~Sha1Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha1Stream::update(const void* data, size_t len) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, len);
}
Sha1 Sha1Stream::finish() {
  Sha1 out;
  unsigned int len = 0;
  auto* c = static_cast<EVP_MD_CTX*>(ctx_);
  EVP_DigestFinal_ex(c, out.data(), &len);
  EVP_DigestInit_ex(c, EVP_sha1(), nullptr);
  return out;
}

bool equal_ct(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  uint8_t acc = 0;
  for (size_t i = 0; i < a.size(); ++i) acc |= static_cast<uint8_t>(a[i] ^ b[i]);
  return acc == 0;
}

std::string hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

std::string hex(std::string_view bytes) {
  return hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> unhex(std::string_view h) {
  if (h.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(h.size() / 2);
  for (size_t i = 0; i < h.size(); i += 2) {
    int a = hexval(h[i]), b = hexval(h[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out.push_back(static_cast<char>(a * 16 + b));
  }
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64url(std::string_view bytes) {
  std::string s = base64(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return s;
}

namespace {
// base64url alphabet → 6-bit value; 0xff = not in the alphabet.
constexpr std::array<uint8_t, 256> kB64UrlDecode = [] {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = i;
  return t;
}();
}  // namespace

std::optional<size_t> unbase64url(std::string_view text, std::span<uint8_t> out) {
  if (text.size() % 4 == 1 || text.size() / 4 * 3 + (text.size() % 4) * 3 / 4 > out.size()) return std::nullopt;
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    uint8_t v = kB64UrlDecode[static_cast<uint8_t>(c)];
    if (v == 0xff) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<uint8_t>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero for a canonical encoding.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return n;
}

std::optional<std::string> unbase64url(std::string_view text) {
  std::string out(text.size() * 3 / 4, '\0');
  auto n = unbase64url(text, std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

void random_bytes(void* out, size_t len) {
  if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(len)) != 1)
    throw std::runtime_error("RAND_bytes failed");
}

uint64_t random_u64() {
  uint64_t v;
  random_bytes(&v, sizeof v);
  return v;
}

}  // namespace otaswarm::crypto
