// Bencode reader: never crashes; what the strict reader accepts is canonical, so it
// re-encodes to exactly the input; the lenient reader's output re-decodes strictly.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/proto/bencode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace otaswarm::bencode;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto strict = decode(in);
  if (strict && encode(strict.value) != in) std::abort();
  if (!strict && strict.error_offset > size) std::abort();
  Limits lenient;
  lenient.strict_key_order = false;
  auto loose = decode(in, lenient);
  if (strict && !loose) std::abort();
  if (loose && !decode(encode(loose.value))) std::abort();
  return 0;
}
