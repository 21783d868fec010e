// Tests of WriteFileAtomically: new and replaced files, the mode, no temp file left behind, and
// failures that name the path with an errno-derived code.
#include "devshare/core/atomic_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace devshare {
namespace {

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "atomic_file_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& name : List()) {
      const std::string p = dir_ + "/" + name;
      if (::unlink(p.c_str()) != 0) ::rmdir(p.c_str());
    }
    ::rmdir(dir_.c_str());
  }
  std::vector<std::string> List() const {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    return names;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(AtomicFileTest, WritesAndReplaces) {
  struct Case {
    std::string name;
    std::string old_content;  // empty: no file before
    std::string content;
    mode_t mode;
  };
  const Case cases[] = {
      {"new.txt", "", "hello\n", 0644},
      {"empty.txt", "", "", 0644},
      {"replaced.json", "old contents that are longer than the new ones", "{}", 0600},
      {"binary.img", "x", std::string("\0\xEB\xFE\n", 4), 0444},
      {"big.csv", "", std::string(1 << 20, 'a'), 0640},
  };
  for (const Case& c : cases) {
    const std::string path = dir_ + "/" + c.name;
    if (!c.old_content.empty()) std::ofstream(path) << c.old_content;
    const Status s = WriteFileAtomically(path, c.content, c.mode);
    ASSERT_TRUE(s.ok()) << c.name << ": " << s.ToString();
    EXPECT_EQ(Read(path), c.content) << c.name;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << c.name;
    EXPECT_EQ(st.st_mode & 0777, c.mode) << c.name;
    ::unlink(path.c_str());
    EXPECT_TRUE(List().empty()) << c.name << ": a temp file was left behind";
  }
}

TEST_F(AtomicFileTest, RelativePathInTheWorkingFolder) {
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir_.c_str()), 0);
  const Status s = WriteFileAtomically("plain.txt", "x");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read(dir_ + "/plain.txt"), "x");
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(List(), std::vector<std::string>{"plain.txt"});
}

TEST_F(AtomicFileTest, FailuresNameThePathAndLeaveNothing) {
  ASSERT_EQ(::mkdir((dir_ + "/subdir").c_str(), 0755), 0);
  std::ofstream(dir_ + "/file") << "not a folder";
  struct Case {
    std::string path;
    StatusCode code;
  };
  const Case cases[] = {
      {dir_ + "/missing/out.txt", StatusCode::kNotFound},
      {dir_ + "/file/out.txt", StatusCode::kNotFound},      // ENOTDIR
      {dir_ + "/subdir", StatusCode::kFailedPrecondition},  // rename onto a folder
      {"", StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    const Status s = WriteFileAtomically(c.path, "content");
    EXPECT_FALSE(s.ok()) << c.path;
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    if (!c.path.empty()) EXPECT_NE(s.message().find(c.path), std::string::npos) << s.ToString();
  }
  std::vector<std::string> left = List();
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"file", "subdir"}));  // no temp file left behind
  EXPECT_EQ(Read(dir_ + "/file"), "not a folder");
}

}  // namespace
}  // namespace devshare
