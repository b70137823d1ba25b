#include "rendezvous/relay_budget.h"

#include <gtest/gtest.h>

#include <string>

namespace otaswarm::rendezvous {
namespace {

TEST(RelayBudget, CapacityFromRateAndAllocations) {
  RelayBudget b({1000, 300, 10, 60'000});
  EXPECT_EQ(b.capacity(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.admit("h", "pair" + std::to_string(i), 0));
  EXPECT_FALSE(b.admit("h", "pair9", 0));
  EXPECT_TRUE(b.admit("h", "pair1", 10));  // renewal of a held slot
  EXPECT_TRUE(b.admit("other", "pair9", 0));  // budgets are per release
  EXPECT_TRUE(b.admit("h", "pair9", 60'001));  // slots expire
  EXPECT_EQ(b.active("h", 60'001), 2u);        // pair1 (renewed) and pair9
}

}  // namespace
}  // namespace otaswarm::rendezvous
