#include "devshare/host/domain_xml.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "devshare/host/realization.h"
#include "host/host_test_util.h"

namespace devshare::host {
namespace {

bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST(DomainNameTest, RoundTrips) {
  EXPECT_EQ(DomainNameForVm(kDomainPrefix, "vm-00ff"), "devshare-vm-00ff");
  EXPECT_EQ(DomainNameForVm("devshare-a1-", "vm-00ff"), "devshare-a1-vm-00ff");
  EXPECT_EQ(VmIdFromDomainName(kDomainPrefix, "devshare-vm-00ff"), "vm-00ff");
  EXPECT_EQ(VmIdFromDomainName("devshare-a1-", "devshare-a1-vm-00ff"), "vm-00ff");
  EXPECT_EQ(VmIdFromDomainName("devshare-a1-", "devshare-vm-00ff"), std::nullopt);
  EXPECT_EQ(VmIdFromDomainName(kDomainPrefix, "test"), std::nullopt);
  EXPECT_EQ(VmIdFromDomainName(kDomainPrefix, "devshare-"), std::nullopt);
}

TEST(DomainNameTest, MetadataVmIdReadsOursAndLibvirts) {
  DomainSpec s;
  s.name = "devshare-a1-vm-1";
  s.vm_id = "vm-1";
  s.memory_mib = 64;
  EXPECT_EQ(MetadataVmId(BuildDomainXml(s)), "vm-1");
  // libvirt hands the metadata back with double quotes.
  EXPECT_EQ(MetadataVmId("<metadata><devshare:vm xmlns:devshare=\"urn:devshare:vm:1\" "
                         "id=\"vm-&amp;2\" tenant=\"t\"/></metadata>"),
            "vm-&2");
  EXPECT_EQ(MetadataVmId("<domain><name>x</name></domain>"), std::nullopt);
}

TEST(PciAddressTest, Parses) {
  Result<PciAddress> a = ParsePciAddress("0000:3b:08.1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->bus, 0x3b);
  EXPECT_EQ(a->slot, 8);
  EXPECT_EQ(a->function, 1);
  for (const char* bad : {"", "3b:00.0", "0000:3b:00.8", "0000:3b:20.0", "0000:zz:00.0"}) {
    EXPECT_FALSE(ParsePciAddress(bad).ok()) << bad;
  }
}

TEST(DomainXmlTest, WritesEveryPart) {
  DomainSpec s;
  s.name = "devshare-vm-1";
  s.vm_id = "vm-1";
  s.tenant = "t-<&>";
  s.vcpus = 2;
  s.memory_mib = 2048;
  s.cputune = {2048, 100000, 25000};
  s.cpuset = {1, 2, 3};
  s.memory_soft_limit_mib = 2048;
  s.memory_hard_limit_mib = 3104;
  s.numa_nodeset = {0};
  DomainDisk d;
  d.source_path = "/var/lib/devshare/images/devshare-vm-1.img";
  d.iotune.read_iops_sec = 500;
  d.iotune.write_bytes_sec = 1 << 20;
  s.disks.push_back(d);
  s.pci_hostdevs.push_back({"0000:17:00.0", "gpu0", false});
  s.mdev_hostdevs.push_back(
      {"c2177883-f1bb-47f0-914d-32a22e3a8804", "gpu1", "0000:18:00.0", "nvidia-471"});
  s.vf_interfaces.push_back({"0000:3b:00.2", "52:54:00:6d:90:02", 0});
  s.vf_interfaces.push_back({"0000:3b:00.3", "52:54:00:6d:90:03", 120});
  s.comments.push_back("a -- comment");
  const std::string x = BuildDomainXml(s);
  EXPECT_TRUE(Contains(x, "<domain type='kvm'>"));
  EXPECT_TRUE(Contains(x, "tenant='t-&lt;&amp;&gt;'"));
  EXPECT_TRUE(Contains(x, "<vcpu placement='static' cpuset='1-3'>2</vcpu>"));
  EXPECT_TRUE(Contains(x, "<shares>2048</shares>"));
  EXPECT_TRUE(Contains(x, "<period>100000</period>"));
  EXPECT_TRUE(Contains(x, "<quota>25000</quota>"));
  EXPECT_TRUE(Contains(x, "<vcpupin vcpu='0' cpuset='1-3'/>"));
  EXPECT_TRUE(Contains(x, "<vcpupin vcpu='1' cpuset='1-3'/>"));
  EXPECT_TRUE(Contains(x, "<emulatorpin cpuset='1-3'/>"));
  EXPECT_TRUE(Contains(x, "<hard_limit unit='MiB'>3104</hard_limit>"));
  EXPECT_TRUE(Contains(x, "<soft_limit unit='MiB'>2048</soft_limit>"));
  EXPECT_TRUE(Contains(x, "<memory mode='strict' nodeset='0'/>"));
  EXPECT_TRUE(Contains(x, "<read_iops_sec>500</read_iops_sec>"));
  EXPECT_TRUE(Contains(x, "<write_bytes_sec>1048576</write_bytes_sec>"));
  EXPECT_TRUE(Contains(x, "<address domain='0x0000' bus='0x17' slot='0x00' function='0x0'/>"));
  EXPECT_TRUE(Contains(x, "type='mdev' model='vfio-pci'"));
  EXPECT_TRUE(Contains(x, "<address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/>"));
  EXPECT_TRUE(Contains(x, "<interface type='hostdev' managed='yes'>"));
  EXPECT_TRUE(Contains(x,
                       "<address type='pci' domain='0x0000' bus='0x3b' slot='0x00' "
                       "function='0x2'/>"));
  EXPECT_TRUE(Contains(x,
                       "<mac address='52:54:00:6d:90:03'/>\n      <source>\n        <address "
                       "type='pci' domain='0x0000' bus='0x3b' slot='0x00' function='0x3'/>\n"
                       "      </source>\n      <vlan>\n        <tag id='120'/>\n      </vlan>\n"
                       "    </interface>"))
      << x;
  EXPECT_EQ(x.find("<vlan>"), x.rfind("<vlan>"));  // the untagged VF has none
  EXPECT_TRUE(Contains(x, "<!-- a - - comment -->"));
  EXPECT_FALSE(Contains(x, "<quota>-1"));
}

// virt-xml-validate (libvirt-clients) checks the documents against libvirt's RNG schema.
class VirtXmlValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v virt-xml-validate >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "virt-xml-validate is not installed (Debian libvirt-clients): skipping "
                      "schema validation";
    }
    dir_ = std::filesystem::temp_directory_path() / ("devshare-xml-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  // Empty string when valid, else the validator's output.
  std::string Validate(const std::string& name, const std::string& xml) {
    const std::filesystem::path file = dir_ / (name + ".xml");
    std::ofstream(file) << xml;
    const std::string out = (dir_ / (name + ".out")).string();
    const std::string cmd = "virt-xml-validate '" + file.string() + "' domain >'" + out + "' 2>&1";
    if (std::system(cmd.c_str()) == 0) return "";
    std::ifstream in(out);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) +
           "\n" + xml;
  }
  std::filesystem::path dir_;
};

TEST_F(VirtXmlValidateTest, PlannedDomainsValidate) {
  Result<Host> host = testutil::RegisteredFixtureHost("gpu8");
  ASSERT_TRUE(host.ok()) << host.status().ToString();

  RealizationContext ctx;
  ctx.host = *host;
  ctx.guest_cpus = {2, 3, 4, 5};
  ctx.cpu_numa.assign(32, 0);
  for (int c = 8; c < 16; ++c) ctx.cpu_numa[c] = 1;
  ctx.image = GuestImage::kSpin;
  ctx.runtime_dir = "/var/lib/devshare";

  struct Case {
    std::string name;
    int64_t cpu_milli, memory_mib;
    nlohmann::json qos;
    std::vector<DeviceSlice> gpus;
    std::vector<GuestVf> vfs;
    std::string type;
    GuestImage image;
  };
  auto whole = [](const std::string& id) {
    DeviceSlice s;
    s.device_id = id;
    s.milli = 1000;
    s.whole = true;
    return s;
  };
  auto share = [](const std::string& id, int64_t milli) {
    DeviceSlice s;
    s.device_id = id;
    s.milli = milli;
    return s;
  };
  const Case cases[] = {
      {"minimal", 100, 64, {{"cpu_weight", 100}}, {}, {}, "kvm", GuestImage::kNone},
      {"capped_spin",
       1000,
       512,
       {{"cpu_weight", 400}, {"cpu_cap_pct", 25}},
       {},
       {},
       "kvm",
       GuestImage::kSpin},
      {"iotune",
       2500,
       4096,
       {{"cpu_weight", 200}, {"disk_read_iops", 1000}, {"disk_write_bytes_sec", 50 << 20}},
       {},
       {},
       "qemu",
       GuestImage::kSpin},
      {"two_gpus_one_group",
       8000,
       65536,
       {{"cpu_weight", 100}},
       {whole("gpu2"), whole("gpu3")},
       {},
       "kvm",
       GuestImage::kNone},
      {"gpu_with_companion",
       4000,
       16384,
       {},
       {whole("gpu6"), whole("gpu7")},
       {},
       "kvm",
       GuestImage::kNone},
      {"mdev_share",
       2000,
       8192,
       {{"cpu_weight", 50}},
       {share("gpu0", 250)},
       {},
       "kvm",
       GuestImage::kNone},
      {"vfs",
       1000,
       1024,
       {{"net_mbps", 1000}},
       {},
       {{"0000:3b:00.2", "", 0}, {"0000:3b:08.1", "", 0}},
       "kvm",
       GuestImage::kNone},
      {"vfs_on_tenant_networks",
       1000,
       1024,
       {},
       {},
       {{"0000:3b:00.2", "52:54:00:0a:00:05", 1}, {"0000:3b:08.1", "52:54:00:0b:00:07", 4094}},
       "kvm",
       GuestImage::kNone},
      {"test_driver", 1000, 128, {}, {}, {}, "test", GuestImage::kSpin},
  };
  for (const Case& c : cases) {
    GuestRequest r;
    r.vm_id = "vm-" + c.name;
    r.tenant = "t-0123456789abcdef";
    r.allocation.cpu_milli = c.cpu_milli;
    r.allocation.memory_mib = c.memory_mib;
    r.allocation.gpus = c.gpus;
    r.qos = c.qos;
    r.vfs = c.vfs;
    RealizationContext cx = ctx;
    cx.domain_type = c.type;
    cx.image = c.image;
    Result<DomainSpec> s = PlanDomain(r, cx);
    ASSERT_TRUE(s.ok()) << c.name << ": " << s.status().ToString();
    const std::string xml = BuildDomainXml(*s);
    EXPECT_EQ(Validate(c.name, xml), "") << c.name;
  }
}

// Real guests (a catalogue image): overlay or direct kernel boot, seed, NIC, console log.
TEST_F(VirtXmlValidateTest, RealGuestDomainsValidate) {
  RealizationContext ctx;
  ctx.host.id = "node1";
  ctx.domain_prefix = "devshare-a1-";
  ctx.runtime_dir = "/var/lib/devshare";
  GuestRequest r;
  r.vm_id = "vm-0a1b";
  r.tenant = "t-1";
  r.name = "Web Server #1";
  r.allocation.cpu_milli = 1000;
  r.allocation.memory_mib = 256;
  r.qos = {{"disk_read_iops", 800}};

  struct Case {
    std::string name;
    GuestBoot boot;
    std::string network;
  };
  const Case cases[] = {
      {"disk_user_nic", {"deb12", "disk", "/images/deb12.qcow2", "", "", ""}, "user"},
      {"disk_default_net", {"deb12", "disk", "/images/deb12.qcow2", "", "", ""}, "default"},
      {"kernel", {"tiny", "kernel", "", "/g/vmlinuz", "/g/initramfs.img", "quiet"}, ""},
      {"kernel_no_initrd", {"tiny", "kernel", "", "/g/vmlinuz", "", "console=hvc0"}, "user"},
  };
  for (const Case& c : cases) {
    RealizationContext cx = ctx;
    cx.network = c.network;
    GuestRequest rq = r;
    rq.boot = c.boot;
    Result<DomainSpec> spec = PlanDomain(rq, cx);
    ASSERT_TRUE(spec.ok()) << c.name << ": " << spec.status().ToString();
    const std::string x = BuildDomainXml(*spec);
    EXPECT_EQ(Validate(c.name, x), "") << c.name;
    EXPECT_TRUE(Contains(x, "<name>devshare-a1-vm-0a1b</name>")) << x;
    EXPECT_TRUE(Contains(x, "<source file='/var/lib/devshare/disks/devshare-a1-vm-0a1b.qcow2'/>"));
    EXPECT_TRUE(Contains(x, "<driver name='qemu' type='qcow2'/>"));
    EXPECT_TRUE(Contains(x, "<target dev='vda' bus='virtio'/>"));
    EXPECT_TRUE(Contains(x, "<read_iops_sec>800</read_iops_sec>"));
    EXPECT_TRUE(
        Contains(x, "<source file='/var/lib/devshare/disks/devshare-a1-vm-0a1b-seed.iso'/>"));
    EXPECT_TRUE(Contains(x, "<target dev='vdb' bus='virtio'/>\n      <readonly/>")) << x;
    EXPECT_TRUE(Contains(x,
                         "<serial type='file'>\n      <source "
                         "path='/var/lib/devshare/console/devshare-a1-vm-0a1b.log' "
                         "append='on'/>"))
        << x;
    EXPECT_TRUE(Contains(x, "<console type='file'>"));
    EXPECT_TRUE(Contains(x, "<model type='virtio'/>"));
    EXPECT_TRUE(Contains(x, "<mac address='52:54:00:"));
    if (c.network == "default") {
      EXPECT_TRUE(Contains(x, "<interface type='network'>\n      <source network='default'/>"));
    } else {
      EXPECT_TRUE(Contains(x, "<interface type='user'>")) << c.name;
    }
    if (c.boot.kind == "disk") {
      EXPECT_TRUE(Contains(x, "<boot dev='hd'/>"));
      EXPECT_FALSE(Contains(x, "<kernel>"));
    } else {
      EXPECT_FALSE(Contains(x, "<boot dev="));
      EXPECT_TRUE(Contains(x, "<kernel>/g/vmlinuz</kernel>"));
      EXPECT_EQ(Contains(x, "<initrd>/g/initramfs.img</initrd>"), !c.boot.initrd.empty());
    }
  }
  GuestRequest k = r;
  k.boot = cases[2].boot;
  Result<DomainSpec> spec = PlanDomain(k, ctx);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->cmdline, "quiet console=ttyS0");
  k.boot = cases[3].boot;
  EXPECT_EQ(PlanDomain(k, ctx)->cmdline, "console=hvc0");
}

}  // namespace
}  // namespace devshare::host
