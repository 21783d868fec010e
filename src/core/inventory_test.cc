// Tests Inventory: Capacity with reserved and allocation_ratio, Validate and CheckAmount errors.
#include "devshare/core/inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace devshare {
namespace {

using ::testing::HasSubstr;

Inventory Make(int64_t total, int64_t reserved, double ratio) {
  Inventory inv = Inventory::Of(total);
  inv.reserved = reserved;
  inv.allocation_ratio = ratio;
  return inv;
}

TEST(InventoryTest, OfSetsTotalAndDefaults) {
  Inventory inv = Inventory::Of(64000);
  EXPECT_EQ(inv.total, 64000);
  EXPECT_EQ(inv.reserved, 0);
  EXPECT_EQ(inv.min_unit, 1);
  EXPECT_EQ(inv.max_unit, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(inv.step_size, 1);
  EXPECT_EQ(inv.allocation_ratio, 1.0);
  EXPECT_EQ(inv.Capacity(), 64000);
  EXPECT_TRUE(inv.Validate("cpu").ok());
}

struct CapacityCase {
  int64_t total;
  int64_t reserved;
  double ratio;
  int64_t capacity;
};

TEST(InventoryTest, Capacity) {
  const std::vector<CapacityCase> cases = {
      {0, 0, 1.0, 0},
      {1000, 0, 1.0, 1000},
      {1000, 200, 1.0, 800},
      {1000, 1000, 1.0, 0},
      {1000, 0, 2.0, 2000},
      {1000, 200, 1.5, 1200},  // reserved is taken off before overcommit
      {1000, 200, 0.5, 400},   // under-commit
      {32000, 2000, 16.0, 480000},
      {7, 0, 1.5, 10},  // 10.5 truncates like Placement's int()
      {131072, 4096, 1.0, 126976},
  };
  for (const CapacityCase& c : cases) {
    SCOPED_TRACE(testing::Message() << c.total << " - " << c.reserved << " x " << c.ratio);
    EXPECT_EQ(Make(c.total, c.reserved, c.ratio).Capacity(), c.capacity);
  }
}

struct ValidateCase {
  std::string name;
  Inventory inv;
  bool ok;
  std::string detail;  // expected message fragment besides the resource name
};

Inventory With(void (*edit)(Inventory&)) {
  Inventory inv = Inventory::Of(100);
  edit(inv);
  return inv;
}

TEST(InventoryTest, Validate) {
  const std::vector<ValidateCase> cases = {
      {"default", Inventory::Of(100), true, ""},
      {"zero total", Inventory::Of(0), true, ""},
      {"reserved equals total", With([](Inventory& i) { i.reserved = 100; }), true, ""},
      {"min equals max", With([](Inventory& i) { i.min_unit = i.max_unit = 4; }), true, ""},
      {"negative total", Inventory::Of(-1), false, "total -1"},
      {"negative reserved", With([](Inventory& i) { i.reserved = -5; }), false, "reserved -5"},
      {"reserved above total", With([](Inventory& i) { i.reserved = 101; }), false, "reserved 101"},
      {"min_unit zero", With([](Inventory& i) { i.min_unit = 0; }), false, "min_unit 0"},
      {"max below min", With([](Inventory& i) { i.min_unit = 8, i.max_unit = 4; }), false,
       "max_unit 4"},
      {"step zero", With([](Inventory& i) { i.step_size = 0; }), false, "step_size"},
      {"step negative", With([](Inventory& i) { i.step_size = -2; }), false, "step_size"},
      {"ratio zero", With([](Inventory& i) { i.allocation_ratio = 0; }), false, "allocation_ratio"},
      {"ratio negative", With([](Inventory& i) { i.allocation_ratio = -1; }), false,
       "allocation_ratio"},
      {"ratio NaN", With([](Inventory& i) { i.allocation_ratio = std::nan(""); }), false,
       "allocation_ratio"},
  };
  for (const ValidateCase& c : cases) {
    SCOPED_TRACE(c.name);
    Status s = c.inv.Validate("host h7 memory_mib");
    EXPECT_EQ(s.ok(), c.ok) << s.ToString();
    if (!c.ok) {
      EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
      EXPECT_THAT(s.message(), HasSubstr("host h7 memory_mib"));
      EXPECT_THAT(s.message(), HasSubstr(c.detail));
    }
  }
}

struct AmountCase {
  int64_t amount;
  bool ok;
  std::string detail;
};

TEST(InventoryTest, CheckAmount) {
  Inventory inv = Inventory::Of(64);
  inv.min_unit = 2;
  inv.max_unit = 16;
  inv.step_size = 2;
  const std::vector<AmountCase> cases = {
      {2, true, ""},
      {8, true, ""},
      {16, true, ""},
      {1, false, "min_unit 2"},
      {0, false, "min_unit 2"},
      {-4, false, "min_unit 2"},
      {18, false, "max_unit 16"},
      {64, false, "max_unit 16"},  // capacity is not CheckAmount's business, max_unit is
      {3, false, "step_size 2"},
      {15, false, "step_size 2"},
  };
  for (const AmountCase& c : cases) {
    SCOPED_TRACE(c.amount);
    Status s = inv.CheckAmount(c.amount, "gpu0 milli");
    EXPECT_EQ(s.ok(), c.ok) << s.ToString();
    if (!c.ok) {
      EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
      EXPECT_THAT(s.message(), HasSubstr("gpu0 milli"));
      EXPECT_THAT(s.message(), HasSubstr(std::to_string(c.amount)));
      EXPECT_THAT(s.message(), HasSubstr(c.detail));
    }
  }
}

TEST(InventoryTest, CheckAmountIgnoresCapacity) {
  Inventory inv = Inventory::Of(10);
  EXPECT_TRUE(inv.CheckAmount(1000, "cpu").ok());
}

}  // namespace
}  // namespace devshare
