// Test helper: where the public openb trace files are: $DEVSHARE_TRACES_DIR (CTest sets it),
// else the folder configured at build time (CMake's DEVSHARE_TRACES_DIR, ../shared/traces beside
// the source tree), so a test binary run by hand finds them too.
// Tests skip with a message naming the folder when a file is absent (a user's fresh clone).
// Thread-safety: reads the environment only.
#ifndef DEVSHARE_TESTS_TESTUTIL_OPENB_TRACES_H_
#define DEVSHARE_TESTS_TESTUTIL_OPENB_TRACES_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace devshare::testutil {

// <traces>: the folder holding alibaba-gpu-2023/ and alibaba-genai-2026/.
inline std::filesystem::path TracesRoot() {
#ifdef DEVSHARE_DEFAULT_TRACES_DIR
  constexpr const char* kBuilt = DEVSHARE_DEFAULT_TRACES_DIR;
#else
  constexpr const char* kBuilt = "../shared/traces";
#endif
  const char* env = std::getenv("DEVSHARE_TRACES_DIR");
  return env != nullptr && *env != '\0' ? env : kBuilt;
}

// <traces>/alibaba-gpu-2023.
inline std::filesystem::path OpenbTraceDir() { return TracesRoot() / "alibaba-gpu-2023"; }

// <traces>/alibaba-genai-2026: the GenAI serving fleet's per-pod usage series.
inline std::filesystem::path GenAiUsageDir() { return TracesRoot() / "alibaba-genai-2026"; }

// Full path of one openb file, e.g. OpenbFile("openb_pod_list_default.csv").
inline std::string OpenbFile(const std::string& name) { return (OpenbTraceDir() / name).string(); }

inline bool HasOpenbFile(const std::string& name) {
  return std::filesystem::exists(OpenbTraceDir() / name);
}

}  // namespace devshare::testutil

// Skips the current test (GTEST_SKIP) unless every named openb file exists.
#define DS_SKIP_WITHOUT_OPENB(...)                                                        \
  for (const char* ds_openb_file_ : {__VA_ARGS__})                                        \
    if (!::devshare::testutil::HasOpenbFile(ds_openb_file_))                              \
  GTEST_SKIP() << "public trace file " << ::devshare::testutil::OpenbFile(ds_openb_file_) \
               << " absent; set DEVSHARE_TRACES_DIR to the folder holding alibaba-gpu-2023/"

#endif  // DEVSHARE_TESTS_TESTUTIL_OPENB_TRACES_H_
