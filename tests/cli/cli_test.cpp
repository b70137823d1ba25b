#include <gtest/gtest.h>

#include "common/config.h"
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

}  // namespace
}  // namespace otaswarm::cli
