// The libvirt implementation and HostAgent against libvirt's in-process test driver
// (test:///default): API call order and XML round trips, no enforcement.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "devshare/host/host_agent.h"
#include "devshare/host/hypervisor.h"

namespace devshare::host {
namespace {

std::unique_ptr<Hypervisor> OpenTest() {
  Result<std::unique_ptr<Hypervisor>> hv = OpenHypervisor("test:///default");
  EXPECT_TRUE(hv.ok()) << hv.status().ToString();
  return hv.ok() ? std::move(*hv) : nullptr;
}

DomainSpec Spec(const std::string& vm_id) {
  DomainSpec s;
  s.name = DomainNameForVm(kDomainPrefix, vm_id);
  s.type = "test";
  s.vm_id = vm_id;
  s.vcpus = 1;
  s.memory_mib = 64;
  s.cputune = {2048, 100000, 50000};
  s.cpuset = {0};
  return s;
}

TEST(LibvirtTestDriverTest, DefineStartStateDestroy) {
  std::unique_ptr<Hypervisor> hv = OpenTest();
  ASSERT_NE(hv, nullptr);
  EXPECT_EQ(hv->domain_type(), "test");
  EXPECT_GE(hv->host_cpus(), 1);
  const DomainSpec s = Spec("unit-a");
  ASSERT_TRUE(hv->DefineAndStart(BuildDomainXml(s)).ok());
  EXPECT_EQ(hv->DefineAndStart(BuildDomainXml(s)).code(), StatusCode::kAlreadyExists);
  Result<DomainStatus> st = hv->State(s.name);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, DomainState::kRunning);
  Result<std::string> xml = hv->DomainXml(s.name);
  ASSERT_TRUE(xml.ok());
  EXPECT_NE(xml->find("<shares>2048</shares>"), std::string::npos) << *xml;
  EXPECT_NE(xml->find("<quota>50000</quota>"), std::string::npos) << *xml;
  EXPECT_NE(xml->find("<vcpupin vcpu='0' cpuset='0'/>"), std::string::npos) << *xml;
  EXPECT_NE(xml->find("urn:devshare:vm:1"), std::string::npos) << *xml;
  Result<std::chrono::nanoseconds> t = hv->CpuTime(s.name);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  Result<DomainCpuInfo> info = hv->CpuInfo(s.name);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->vcpus, 1);
  EXPECT_EQ(info->pinned, std::vector<int>{0});
  EXPECT_TRUE(hv->SetCpuTune(s.name, {4096, 100000, 25000}).ok());
  Result<bool> live = hv->SetMemory(s.name, 32);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  Result<DomainStats> stats = hv->Stats(s.name);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_GT(stats->balloon_maximum_kib, 0);  // the test driver has no guest statistics
  EXPECT_GE(stats->balloon_current_kib, 0);
  Result<std::vector<DomainStatus>> all = hv->ListDomains();
  ASSERT_TRUE(all.ok());
  bool found = false;
  for (const DomainStatus& d : *all) found = found || d.name == s.name;
  EXPECT_TRUE(found);
  ASSERT_TRUE(hv->DestroyAndUndefine(s.name).ok());
  EXPECT_EQ(hv->State(s.name).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(hv->DestroyAndUndefine(s.name).code(), StatusCode::kNotFound);
}

TEST(DomainXmlRightSizeTest, RightSizedGuestsGetMemoryHeadroomAndACpuCapAtTheirAllocation) {
  GuestRequest g;
  g.vm_id = "vm-rs";
  g.allocation.cpu_milli = 300;
  g.allocation.memory_mib = 256;
  g.max_memory_mib = 1024;
  g.max_cpu_milli = 2000;
  RealizationContext ctx;
  Result<DomainSpec> spec = PlanDomain(g, ctx);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->vcpus, 2);
  EXPECT_EQ(spec->cputune.period_us, 100000);
  EXPECT_EQ(spec->cputune.quota_us, 15000);  // 300 milli over 2 vCPUs
  const std::string xml = BuildDomainXml(*spec);
  EXPECT_NE(xml.find("<memory unit='MiB'>1024</memory>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<currentMemory unit='MiB'>256</currentMemory>"), std::string::npos) << xml;
  EXPECT_EQ(CpuCapQuotaUs(5, 1), 1000);  // the kernel's minimum
}

TEST(LibvirtTestDriverTest, BadXmlIsRefusedAndLeavesNothing) {
  std::unique_ptr<Hypervisor> hv = OpenTest();
  ASSERT_NE(hv, nullptr);
  EXPECT_EQ(hv->DefineAndStart("<domain type='test'><name>devshare-bad</name></domain>").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv->State("devshare-bad").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(hv->DefineAndStart("<domain/>").code(), StatusCode::kInvalidArgument);
}

TEST(LibvirtTestDriverTest, UnreachableDaemonIsUnavailable) {
  Result<std::unique_ptr<Hypervisor>> hv =
      OpenHypervisor("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
  EXPECT_EQ(hv.status().code(), StatusCode::kUnavailable);
}

class HostAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Hypervisor> hv = OpenTest();
    ASSERT_NE(hv, nullptr);
    RealizationContext ctx;
    ctx.host = Host::MakeGpuHost("self", 2000, 4096, 2, "A100");
    ctx.guest_cpus = {0};
    ctx.image = GuestImage::kSpin;
    runtime_ =
        std::filesystem::temp_directory_path() / ("devshare-agent-" + std::to_string(::getpid()));
    ctx.runtime_dir = runtime_.string();
    agent_ = std::make_unique<HostAgent>(std::move(hv), ctx);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(runtime_, ec);
  }
  GuestRequest Request(const std::string& vm) {
    GuestRequest r;
    r.vm_id = vm;
    r.tenant = "t-1";
    r.allocation.cpu_milli = 500;
    r.allocation.memory_mib = 64;
    r.qos = {{"cpu_weight", 200}};
    return r;
  }
  std::filesystem::path runtime_;
  std::unique_ptr<HostAgent> agent_;
};

TEST_F(HostAgentTest, RealizeUpdateRemove) {
  EXPECT_EQ(agent_->context().domain_type, "test");
  Result<DomainStatus> st = agent_->Realize(Request("unit-b"));
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, DomainState::kRunning);
  EXPECT_TRUE(std::filesystem::exists(runtime_ / "images/devshare-unit-b.img"));
  EXPECT_EQ(agent_->State("unit-b")->state, DomainState::kRunning);

  GuestRequest bigger = Request("unit-b");
  bigger.allocation.cpu_milli = 1500;
  bigger.allocation.memory_mib = 48;
  bigger.qos = {{"cpu_weight", 400}, {"cpu_cap_pct", 50}};
  Result<ResizeOutcome> up = agent_->Update(bigger);
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_TRUE(up->cpu_live);
  ASSERT_FALSE(up->notes.empty());  // vCPU count needs a restart
  EXPECT_NE(up->notes.back().find("vCPU count stays 1"), std::string::npos);

  // Realizing the same VM again: refused, and the running domain is untouched.
  EXPECT_EQ(agent_->Realize(Request("unit-b")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(std::filesystem::exists(runtime_ / "images/devshare-unit-b.img"));
  EXPECT_EQ(agent_->State("unit-b")->state, DomainState::kRunning);  // not recorded as failed

  ASSERT_TRUE(agent_->Remove("unit-b").ok());
  EXPECT_FALSE(std::filesystem::exists(runtime_ / "images/devshare-unit-b.img"));
  EXPECT_EQ(agent_->State("unit-b").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(agent_->Remove("unit-b").ok());  // idempotent
  EXPECT_EQ(agent_->Update(Request("unit-b")).status().code(), StatusCode::kNotFound);
}

TEST_F(HostAgentTest, FailedRealizationIsRememberedAndLeavesNothing) {
  GuestRequest r = Request("unit-c");
  DeviceSlice s;
  s.device_id = "gpu-missing";
  s.milli = 1000;
  r.allocation.gpus = {s};
  Result<DomainStatus> st = agent_->Realize(r);
  EXPECT_EQ(st.status().code(), StatusCode::kNotFound);
  Result<DomainStatus> now = agent_->State("unit-c");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state, DomainState::kFailed);
  EXPECT_NE(now->detail.find("gpu-missing"), std::string::npos);
  EXPECT_EQ(agent_->hypervisor().State("devshare-unit-c").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(agent_->Remove("unit-c").ok());
  EXPECT_EQ(agent_->State("unit-c").status().code(), StatusCode::kNotFound);
}

TEST_F(HostAgentTest, ReconcileReportsDifferences) {
  ASSERT_TRUE(agent_->Realize(Request("unit-d")).ok());
  ASSERT_TRUE(agent_->Realize(Request("unit-e")).ok());
  Result<ReconcileReport> r = agent_->Reconcile({"unit-d", "unit-f"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->missing, std::vector<std::string>{"unit-f"});
  EXPECT_EQ(r->orphans, std::vector<std::string>{"unit-e"});
  EXPECT_TRUE(r->not_running.empty());  // the test driver's own "test" domain is not ours
  EXPECT_FALSE(r->clean());
  ASSERT_TRUE(agent_->Remove("unit-d").ok());
  ASSERT_TRUE(agent_->Remove("unit-e").ok());
  r = agent_->Reconcile({});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->clean());
}

}  // namespace
}  // namespace devshare::host
