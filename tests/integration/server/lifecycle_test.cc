// Server lifecycle: a SIGTERM must stop the server promptly even while a client keeps an idle
// keep-alive connection open (a rolling restart must not depend on clients hanging up).
#include <gtest/gtest.h>

#include <chrono>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

// KNOWN SERVER BUG (reported, not fixed here): at the time of writing `devshare serve` waits for
// every idle keep-alive connection to time out (keep-alive timeout 30 s) before it exits on
// SIGTERM, so this test fails after its 5 s grace (then the server is SIGKILLed).
TEST(ServerLifecycle, SigtermStopsPromptlyWithAnIdleKeepAliveClient) {
  TempFolder tmp("lifecycle");
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.Start());
  Api client(server.url(), server.AdminToken());
  ASSERT_EQ(client.Get("/v1/hosts").status, 200);  // leaves one idle keep-alive connection
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(server.Stop(std::chrono::seconds(5)));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 5.0) << "SIGTERM took " << s << " s with one idle keep-alive client";
}

}  // namespace
}  // namespace devshare::it
