// Tests of the --nic / --volume value parsers: the JSON each valid value gives, and the message
// (naming the flag and key) of each malformed one.
#include "cli/vm_device_flags.h"

#include <gtest/gtest.h>

#include <string>

namespace devshare::cli {
namespace {

using nlohmann::json;

using Parser = Result<json> (*)(const std::string&);

struct Valid {
  const char* name;
  Parser parse;
  std::string value;
  std::string want;  // JSON text
};

TEST(VmDeviceFlagsTest, ValidValues) {
  const Valid cases[] = {
      {"nic full", ParseCreateNicFlag, "network=default,min=1000,max=5000,vf",
       R"({"network":"default","bandwidth_mbps":{"min":1000,"max":5000},"vf":true})"},
      {"nic defaults", ParseCreateNicFlag, "min=10",
       R"({"network":"default","bandwidth_mbps":{"min":10,"max":0},"vf":false})"},
      {"nic vf=true", ParseCreateNicFlag, "network=san,vf=true",
       R"({"network":"san","bandwidth_mbps":{"min":0,"max":0},"vf":true})"},
      {"nic vf=false", ParseCreateNicFlag, "vf=false,max=7",
       R"({"network":"default","bandwidth_mbps":{"min":0,"max":7},"vf":false})"},
      {"nic tenant network with address", ParseCreateNicFlag, "network=blue,address=10.1.0.50",
       R"({"network":"blue","address":"10.1.0.50","bandwidth_mbps":{"min":0,"max":0},
           "vf":false})"},
      {"nic address with bounds and vf", ParseCreateNicFlag,
       "vf,max=1000,address=192.168.255.254,min=100,network=net-0123456789abcdef",
       R"({"network":"net-0123456789abcdef","address":"192.168.255.254",
           "bandwidth_mbps":{"min":100,"max":1000},"vf":true})"},
      {"nic address zeros", ParseCreateNicFlag, "network=blue,address=10.0.0.0",
       R"({"network":"blue","address":"10.0.0.0","bandwidth_mbps":{"min":0,"max":0},
           "vf":false})"},
      {"volume plain", ParseCreateVolumeFlag, "name=data,size=50,tier=nvme",
       R"({"name":"data","size_gib":50,"tier":"nvme"})"},
      {"volume iops", ParseCreateVolumeFlag, "name=data,size=50,tier=nvme,iops=500",
       R"({"name":"data","size_gib":50,"tier":"nvme",
           "iops":{"reservation":500,"weight":1,"limit":0}})"},
      {"volume all iops keys", ParseCreateVolumeFlag, "limit=900,weight=3,iops=100,size=1,name=x",
       R"({"name":"x","size_gib":1,"iops":{"reservation":100,"weight":3,"limit":900}})"},
      {"volume weight only", ParseCreateVolumeFlag, "name=d,size=0,weight=2",
       R"({"name":"d","size_gib":0,"iops":{"reservation":0,"weight":2,"limit":0}})"},
      {"resize volume", ParseResizeVolumeFlag, "name=data,size=80",
       R"({"name":"data","size_gib":80})"},
      {"resize volume iops", ParseResizeVolumeFlag, "name=data,iops=600,limit=900",
       R"({"name":"data","iops":{"reservation":600,"limit":900}})"},
      {"resize volume size and weight", ParseResizeVolumeFlag, "weight=3,size=9,name=d",
       R"({"name":"d","size_gib":9,"iops":{"weight":3}})"},
      {"resize nic", ParseResizeNicFlag, "index=0,min=2000,max=8000",
       R"({"index":0,"bandwidth_mbps":{"min":2000,"max":8000}})"},
      {"resize nic max only", ParseResizeNicFlag, "index=2,max=8000",
       R"({"index":2,"bandwidth_mbps":{"max":8000}})"},
      {"gpu share with memory", ParseCreateGpuFlag, "count=1,milli=500,memory=12G",
       R"({"count":1,"milli":500,"memory_mib":12288})"},
      {"gpu memory in MiB", ParseCreateGpuFlag, "memory=512,model=T4|A10",
       R"({"memory_mib":512,"models":["T4","A10"]})"},
      {"gpu vgpu", ParseCreateGpuFlag, "vgpu=vgpu-8g", R"({"vgpu":"vgpu-8g"})"},
      {"gpu profile", ParseCreateGpuFlag, "profile=3g.40gb,model=A100-80GB",
       R"({"profile":"3g.40gb","models":["A100-80GB"]})"},
  };
  for (const Valid& c : cases) {
    Result<json> got = c.parse(c.value);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status().ToString();
    EXPECT_EQ(*got, json::parse(c.want)) << c.name << ": got " << got->dump();
  }
}

struct Invalid {
  const char* name;
  Parser parse;
  std::string value;
  std::string message;  // the whole InvalidArgument message
};

TEST(VmDeviceFlagsTest, MalformedValuesNameFlagAndKey) {
  const Invalid cases[] = {
      {"non-integer", ParseCreateVolumeFlag, "name=data,size=x",
       "--volume: key 'size': expected a non-negative integer, got 'x'"},
      {"negative", ParseCreateNicFlag, "min=-1",
       "--nic: key 'min': expected a non-negative integer, got '-1'"},
      {"plus sign", ParseCreateNicFlag, "max=+5",
       "--nic: key 'max': expected a non-negative integer, got '+5'"},
      {"empty number", ParseResizeNicFlag,
       "index=", "--nic: key 'index': expected a non-negative integer, got ''"},
      {"overflow", ParseCreateVolumeFlag, "name=d,size=99999999999999999999",
       "--volume: key 'size': expected a non-negative integer, got '99999999999999999999'"},
      {"trailing junk", ParseCreateVolumeFlag, "name=d,size=5g",
       "--volume: key 'size': expected a non-negative integer, got '5g'"},
      {"unknown key", ParseCreateNicFlag, "network=a,speed=5",
       "--nic: unknown key 'speed' (known: network, address, min, max, vf)"},
      {"resize-only key on create", ParseCreateNicFlag, "index=0",
       "--nic: unknown key 'index' (known: network, address, min, max, vf)"},
      {"create-only key on resize", ParseResizeVolumeFlag, "name=d,size=1,tier=nvme",
       "--volume: unknown key 'tier' (known: name, size, iops, weight, limit)"},
      {"resize volume without a change", ParseResizeVolumeFlag, "name=d",
       "--volume: give key 'size', 'iops', 'weight' or 'limit'"},
      {"missing =", ParseCreateVolumeFlag, "name=d,size",
       "--volume: key 'size': expected size=VALUE"},
      {"empty name", ParseCreateVolumeFlag, "name=,size=5",
       "--volume: key 'name': expected a name, got ''"},
      {"empty network", ParseCreateNicFlag,
       "network=", "--nic: key 'network': expected a name, got ''"},
      {"bad vf", ParseCreateNicFlag, "vf=yes",
       "--nic: key 'vf': expected true or false, got 'yes'"},
      {"address with prefix", ParseCreateNicFlag, "network=blue,address=10.1.0.50/24",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got '10.1.0.50/24'"},
      {"address three parts", ParseCreateNicFlag, "network=blue,address=10.1.0",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got '10.1.0'"},
      {"address five parts", ParseCreateNicFlag, "network=blue,address=10.1.0.5.6",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got '10.1.0.5.6'"},
      {"address octet too big", ParseCreateNicFlag, "network=blue,address=10.1.0.256",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got '10.1.0.256'"},
      {"address leading zero", ParseCreateNicFlag, "network=blue,address=10.1.0.050",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got '10.1.0.050'"},
      {"address hostname", ParseCreateNicFlag, "network=blue,address=gateway",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got 'gateway'"},
      {"address IPv6", ParseCreateNicFlag, "network=blue,address=fe80::1",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got 'fe80::1'"},
      {"address empty", ParseCreateNicFlag, "network=blue,address=",
       "--nic: key 'address': expected an IPv4 address such as 10.1.0.50, got ''"},
      {"address without =", ParseCreateNicFlag, "network=blue,address",
       "--nic: key 'address': expected address=VALUE"},
      {"address on resize", ParseResizeNicFlag, "index=0,address=10.1.0.5",
       "--nic: unknown key 'address' (known: index, min, max)"},
      {"repeated key", ParseCreateNicFlag, "min=1,min=2", "--nic: key 'min': given twice"},
      {"empty item", ParseCreateNicFlag, "min=1,,max=2", "--nic: empty item in 'min=1,,max=2'"},
      {"empty value", ParseCreateVolumeFlag, "",
       "--volume: expected key=value items separated by ',', got ''"},
      {"volume without size", ParseCreateVolumeFlag, "name=d", "--volume: key 'size' is required"},
      {"volume without name", ParseResizeVolumeFlag, "size=8", "--volume: key 'name' is required"},
      {"resize nic without index", ParseResizeNicFlag, "min=1", "--nic: key 'index' is required"},
      {"resize nic without bounds", ParseResizeNicFlag, "index=0",
       "--nic: give key 'min' or 'max' (or both)"},
      {"gpu memory unit", ParseCreateGpuFlag, "memory=12T",
       "--gpu: key 'memory': expected a size such as 12G, 12GiB, 512M or 512 (MiB), got '12T'"},
      {"gpu memory negative", ParseCreateGpuFlag, "memory=-1G",
       "--gpu: key 'memory': expected a size such as 12G, 12GiB, 512M or 512 (MiB), got '-1G'"},
      {"gpu unknown key", ParseCreateGpuFlag, "mem=1G",
       "--gpu: unknown key 'mem' (known: count, milli, memory, profile, vgpu, model)"},
  };
  for (const Invalid& c : cases) {
    Result<json> got = c.parse(c.value);
    ASSERT_FALSE(got.ok()) << c.name << ": got " << got->dump();
    EXPECT_TRUE(got.status().IsInvalidArgument()) << c.name;
    EXPECT_EQ(got.status().message(), c.message) << c.name;
  }
}

TEST(VmDeviceFlagsTest, MemorySizes) {
  EXPECT_EQ(*ParseMemoryMib("12G", "--gpu-memory"), 12288);
  EXPECT_EQ(*ParseMemoryMib("12gib", "--gpu-memory"), 12288);
  EXPECT_EQ(*ParseMemoryMib("512M", "--gpu-memory"), 512);
  EXPECT_EQ(*ParseMemoryMib("700", "--gpu-memory"), 700);
  EXPECT_EQ(*ParseMemoryMib("0", "--gpu-memory"), 0);
  for (const char* bad : {"", "G", "1.5G", "12 G", "12GB", "x"}) {
    Result<int64_t> got = ParseMemoryMib(bad, "--gpu-memory");
    EXPECT_FALSE(got.ok()) << bad;
    if (!got.ok()) EXPECT_EQ(got.status().message().rfind("--gpu-memory: ", 0), 0u) << bad;
  }
}

}  // namespace
}  // namespace devshare::cli
