// The agent endpoints' JSON: heartbeat body, heartbeat / desired / console answers, spec hash;
// and the --server URL rules of the HTTP link.
#include <gtest/gtest.h>

#include "devshare/agent/control_link.h"
#include "devshare/agent/http_control_link.h"

namespace devshare::agent {
namespace {

using nlohmann::json;

TEST(ControlLinkJsonTest, HeartbeatBodyHasTheContractFields) {
  const json body = HeartbeatBody({"qemu:///system", "devshare-a1-", {"tcg"}},
                                  {{"vm-1", "running", "running (booted)", "devshare-a1-vm-1"}});
  const char* want = R"J({"agent": {"hypervisor": "qemu:///system",
    "domain_prefix": "devshare-a1-", "notes": ["tcg"]},
    "vms": [{"id": "vm-1", "state": "running", "detail": "running (booted)",
             "domain": "devshare-a1-vm-1"}]})J";
  EXPECT_EQ(body, json::parse(want));
  EXPECT_EQ(HeartbeatBody({}, {})["vms"], json::array());
}

TEST(ControlLinkJsonTest, HeartbeatReply) {
  Result<HeartbeatReply> r = ParseHeartbeatReply(json::parse(
      R"J({"host": "n1", "schedule": "cordoned", "status": "ready", "revision": 12,
          "heartbeat_interval_ms": 3000, "timeout_ms": 20000, "unknown_vms": ["vm-x"],
          "later_field": true})J"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->schedule, "cordoned");
  EXPECT_EQ(r->revision, 12);
  EXPECT_EQ(r->heartbeat_interval, std::chrono::milliseconds(3000));
  EXPECT_EQ(r->timeout, std::chrono::milliseconds(20000));
  EXPECT_EQ(r->unknown_vms, std::vector<std::string>{"vm-x"});
  // Defaults for absent or non-positive intervals; a string revision of digits is accepted.
  r = ParseHeartbeatReply(json::parse(R"J({"revision": "7", "heartbeat_interval_ms": 0})J"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->revision, 7);
  EXPECT_EQ(r->heartbeat_interval, std::chrono::milliseconds(5000));
  r = ParseHeartbeatReply(json::parse(R"J({"heartbeat_interval_ms": 1000})J"));
  EXPECT_NE(r.status().message().find("'revision'"), std::string::npos);
  r = ParseHeartbeatReply(json::parse(R"J({"revision": 1, "unknown_vms": "vm-x"})J"));
  EXPECT_NE(r.status().message().find("'unknown_vms'"), std::string::npos);
}

TEST(ControlLinkJsonTest, DesiredState) {
  Result<DesiredState> d = ParseDesiredState(json::parse(R"J({"host": "n1", "revision": 4,
    "schedule": "open", "vms": [
      {"id": "vm-1", "tenant_id": "t-1", "name": "web", "power": "stopped", "reboot_seq": 2,
       "allocation": {"cpu_milli": 1000, "memory_mib": 512, "devices": []},
       "spec": {"name": "web", "cpu_milli": 1000, "memory_mib": 512},
       "image": {"name": "deb12", "kind": "disk", "file": "/img/deb12.qcow2"},
       "ssh_key": "ssh-ed25519 AAAA"},
      {"id": "vm-2", "allocation": {"cpu_milli": 1, "memory_mib": 1, "devices": []},
       "spec": {}, "image": null}]})J"));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->revision, 4);
  ASSERT_EQ(d->vms.size(), 2u);
  const DesiredVm& a = d->vms[0];
  EXPECT_EQ(a.power, "stopped");
  EXPECT_EQ(a.reboot_seq, 2);
  ASSERT_TRUE(a.image.has_value());
  EXPECT_EQ(a.image->file, "/img/deb12.qcow2");
  EXPECT_EQ(a.ssh_key, "ssh-ed25519 AAAA");
  EXPECT_EQ(d->vms[1].power, "running");
  EXPECT_FALSE(d->vms[1].image.has_value());

  for (const char* bad : {R"J({"revision": 1})J", R"J({"revision": 1, "vms": [{"spec": {}}]})J",
                          R"J({"revision": 1, "vms": [{"id": "v", "power": "paused",
                             "allocation": {}, "spec": {}}]})J",
                          R"J({"revision": 1, "vms": [{"id": "v", "spec": {}}]})J"}) {
    EXPECT_EQ(ParseDesiredState(json::parse(bad)).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
  const char* paused = R"J({"revision": 1, "vms": [{"id": "v",
      "power": "paused", "allocation": {}, "spec": {}}]})J";
  const Status s = ParseDesiredState(json::parse(paused)).status();
  EXPECT_NE(s.message().find("vms[0].power"), std::string::npos) << s.message();
}

TEST(ControlLinkJsonTest, SpecHashChangesWithAllocationOrSpecOnly) {
  DesiredVm a;
  a.allocation = {{"cpu_milli", 1000}, {"memory_mib", 512}};
  a.spec = {{"qos", {{"cpu_weight", 100}}}};
  DesiredVm b = a;
  b.power = "stopped";
  b.reboot_seq = 9;
  EXPECT_EQ(a.SpecHash(), b.SpecHash());
  b.spec["qos"]["cpu_weight"] = 200;
  EXPECT_NE(a.SpecHash(), b.SpecHash());
  b = a;
  b.allocation["memory_mib"] = 1024;
  EXPECT_NE(a.SpecHash(), b.SpecHash());
}

TEST(ControlLinkJsonTest, ConsoleReply) {
  Result<ConsolePushReply> r = ParseConsoleReply(200, json::parse(R"J({"offset": 120})J"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->accepted);
  EXPECT_EQ(r->offset, 120);
  r = ParseConsoleReply(409, json::parse(R"J({"code": "aborted", "expected": 64})J"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->accepted);
  EXPECT_EQ(r->offset, 64);
  EXPECT_FALSE(ParseConsoleReply(409, json::parse(R"J({"code": "aborted"})J")).ok());
  EXPECT_FALSE(ParseConsoleReply(200, json()).ok());
}

TEST(ControlLinkJsonTest, ServerUrl) {
  Result<ServerAddress> a = ParseServerUrl("http://10.0.0.5:8080/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->url, "http://10.0.0.5:8080");
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 8080);
  a = ParseServerUrl("ctl.example:9000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->url, "http://ctl.example:9000");
  for (const char* bad : {"https://x:1", "ftp://x", "http://x:0", "http://x:99999", "http://x/v1",
                          "http://", "http://:80"}) {
    Result<ServerAddress> r = ParseServerUrl(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("--server"), std::string::npos) << bad;
  }
}

TEST(HttpControlLinkTest, UnreachableServerIsUnavailableNamingTheEndpoint) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  Result<std::unique_ptr<HttpControlLink>> link =
      HttpControlLink::Create("http://127.0.0.1:1", "tok", "n1");
  ASSERT_TRUE(link.ok());
  Status s = (*link)->Register(json::object());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("PUT /v1/hosts/n1"), std::string::npos) << s.message();
  Result<HeartbeatReply> hb = (*link)->Heartbeat({}, {});
  EXPECT_NE(hb.status().message().find("POST /v1/hosts/n1/heartbeat"), std::string::npos);
  (*link)->Interrupt();
  Result<DesiredState> d = (*link)->WatchDesired(3, std::chrono::milliseconds(100));
  EXPECT_NE(d.status().message().find("stopping"), std::string::npos);
}

}  // namespace
}  // namespace devshare::agent
