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

TEST(RelayBudget, ReleaseFreesTheSlotAtOnce) {
  RelayBudget b({1000, 500, 10, 60'000});  // two slots
  EXPECT_TRUE(b.admit("h", "p1", 0));
  EXPECT_TRUE(b.admit("h", "p2", 0));
  EXPECT_FALSE(b.admit("h", "p3", 0));
  EXPECT_TRUE(b.release("h", "p1"));
  EXPECT_EQ(b.active("h", 1), 1u);
  EXPECT_TRUE(b.admit("h", "p3", 1));  // the freed slot goes to the next pair
  EXPECT_FALSE(b.release("h", "p1"));  // already free: nothing to do
  EXPECT_FALSE(b.release("other", "p2"));
  EXPECT_FALSE(b.release("h", "nobody"));
  EXPECT_EQ(b.active("h", 1), 2u);
}

TEST(RelayBudget, SlotEndsWithTheAllocationNotTheSessionTtl) {
  RelayBudget b({1000, 500, 10, 60'000});
  EXPECT_TRUE(b.admit("h", "p1", 0, 5'000));    // a 5 s allocation
  EXPECT_TRUE(b.admit("h", "p2", 0, 600'000));  // longer than the session TTL: capped at 60 s
  EXPECT_EQ(b.active("h", 4'999), 2u);
  EXPECT_EQ(b.active("h", 5'000), 1u);  // p1's allocation ended
  EXPECT_TRUE(b.admit("h", "p3", 5'000));
  EXPECT_EQ(b.active("h", 59'999), 2u);
  EXPECT_EQ(b.active("h", 60'000), 1u);  // p2 at the session TTL, p3 (admitted at 5 s) still held
  EXPECT_TRUE(b.admit("h", "p3", 20'000, 1'000));  // a renewal with a short allocation shortens the hold
  EXPECT_EQ(b.active("h", 21'000), 0u);
}

}  // namespace
}  // namespace otaswarm::rendezvous
