// Tests OpenStore's URL dispatch: schemes from the registry, plain paths, Windows-like paths and
// unknown schemes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "devshare/store/store.h"

namespace devshare::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class StoreFactoryTest : public testing::Test {
 protected:
  StoreFactoryTest()
      : dir_(fs::path(testing::TempDir()) /
             ("devshare_store_factory_" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
  }
  ~StoreFactoryTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(StoreFactoryTest, MemoryScheme) {
  Result<std::unique_ptr<Store>> s = OpenStore("memory:");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->Describe(), "memory:");
  EXPECT_EQ(OpenStore("memory:/tmp/x").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreFactoryTest, SqliteSchemeAndPlainPath) {
  const std::string with_scheme = (dir_ / "a" / "one.db").string();
  Result<std::unique_ptr<Store>> a = OpenStore("sqlite:" + with_scheme);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->Describe(), "sqlite:" + with_scheme);
  EXPECT_TRUE(fs::exists(with_scheme));

  const std::string plain = (dir_ / "b" / "two.db").string();
  Result<std::unique_ptr<Store>> b = OpenStore(plain);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->Describe(), "sqlite:" + plain);

  // A colon after a slash is part of a path, not a scheme.
  const std::string colon = (dir_ / "c:d" / "three.db").string();
  Result<std::unique_ptr<Store>> c = OpenStore(colon);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->Describe(), "sqlite:" + colon);

  Result<std::unique_ptr<Store>> upper = OpenStore("SQLite:" + with_scheme);
  EXPECT_TRUE(upper.ok()) << upper.status().ToString();
}

TEST_F(StoreFactoryTest, WindowsLikePathIsAPath) {
  fs::create_directories(dir_);
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir_);
  Result<std::unique_ptr<Store>> s = OpenStore("C:/devshare/ledger.db");
  fs::current_path(old_cwd);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->Describe(), "sqlite:C:/devshare/ledger.db");
  EXPECT_TRUE(fs::exists(dir_ / "C:" / "devshare" / "ledger.db"));
}

TEST_F(StoreFactoryTest, BadUrlsAreInvalidArgument) {
  struct Case {
    std::string url;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"x:", "unknown store scheme 'x' (known: memory, sqlite, postgresql, postgres)"},
      {"postgresql:ledger", "must be postgresql://"},
      {"mem:", "unknown store scheme 'mem'"},
      {"", "empty store URL"},
      {"sqlite:", "without a path"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.url);
    Result<std::unique_ptr<Store>> s = OpenStore(c.url);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().ToString();
    EXPECT_THAT(s.status().message(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace devshare::store
