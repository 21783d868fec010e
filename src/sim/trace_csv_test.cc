// Unit tests of the openb CSV reader/writer: both pod column sets, parsing details, every malformed
// input (code, "file:line" and column in the message), round trips and the real trace counts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "devshare/sim/trace.h"
#include "tests/testutil/openb_traces.h"

namespace devshare::sim {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPodFullHeader =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
    "deletion_time,scheduled_time\n";
constexpr const char* kPodShortHeader = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n";
constexpr const char* kNodeHeader = "sn,cpu_milli,memory_mib,gpu,model\n";

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("devshare_trace_csv_test_" + std::to_string(getpid()) +
                                         "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` byte for byte to `name` inside the directory; returns the full path.
  std::string Write(const std::string& name, const std::string& content) const {
    const std::string p = (path_ / name).string();
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    return p;
  }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------------------------
// Well-formed pod files.

struct PodCase {
  std::string name;
  std::string content;
  std::vector<PodRecord> want;
};

PodRecord Pod(std::string name, int64_t cpu, int64_t mem, int num_gpu, int gpu_milli, int line) {
  PodRecord p;
  p.name = std::move(name);
  p.cpu_milli = cpu;
  p.memory_mib = mem;
  p.num_gpu = num_gpu;
  p.gpu_milli = gpu_milli;
  p.line = line;
  return p;
}

PodRecord WithMeta(PodRecord p, std::vector<std::string> spec, std::string qos, std::string phase,
                   std::optional<int64_t> created, std::optional<int64_t> deleted,
                   std::optional<int64_t> scheduled) {
  p.gpu_spec = std::move(spec);
  p.qos = std::move(qos);
  p.phase = std::move(phase);
  p.creation_time_s = created;
  p.deletion_time_s = deleted;
  p.scheduled_time_s = scheduled;
  return p;
}

void ExpectPodEq(const PodRecord& got, const PodRecord& want, const std::string& where) {
  SCOPED_TRACE(where + " pod " + want.name);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.cpu_milli, want.cpu_milli);
  EXPECT_EQ(got.memory_mib, want.memory_mib);
  EXPECT_EQ(got.num_gpu, want.num_gpu);
  EXPECT_EQ(got.gpu_milli, want.gpu_milli);
  EXPECT_EQ(got.gpu_spec, want.gpu_spec);
  EXPECT_EQ(got.qos, want.qos);
  EXPECT_EQ(got.phase, want.phase);
  EXPECT_EQ(got.creation_time_s, want.creation_time_s);
  EXPECT_EQ(got.deletion_time_s, want.deletion_time_s);
  EXPECT_EQ(got.scheduled_time_s, want.scheduled_time_s);
  EXPECT_EQ(got.line, want.line);
}

std::vector<PodCase> PodCases() {
  return {
      {"full_column_set",
       std::string(kPodFullHeader) +
           "p0,12000,16384,1,1000,,LS,Running,0,12537496,0\n"
           "p1,6000,12288,1,460,T4,BE,Pending,427061,12902960,427062\n"
           "p2,32000,65536,8,1000,V100M16|V100M32,Guaranteed,Failed,5,6,7\n"
           "p3,1000,0,0,0,,Burstable,Succeeded,1,2,3\n",
       {WithMeta(Pod("p0", 12000, 16384, 1, 1000, 2), {}, "LS", "Running", 0, 12537496, 0),
        WithMeta(Pod("p1", 6000, 12288, 1, 460, 3), {"T4"}, "BE", "Pending", 427061, 12902960,
                 427062),
        WithMeta(Pod("p2", 32000, 65536, 8, 1000, 4), {"V100M16", "V100M32"}, "Guaranteed",
                 "Failed", 5, 6, 7),
        WithMeta(Pod("p3", 1000, 0, 0, 0, 5), {}, "Burstable", "Succeeded", 1, 2, 3)}},
      {"short_column_set",
       std::string(kPodShortHeader) + "p0,12000,16384,1,1000\n"
                                      "p1,6000,12288,1,460\n"
                                      "p2,4000,8192,4,1000\n",
       {Pod("p0", 12000, 16384, 1, 1000, 2), Pod("p1", 6000, 12288, 1, 460, 3),
        Pod("p2", 4000, 8192, 4, 1000, 4)}},
      {"gpu_spec_split",
       std::string(kPodFullHeader) + "a,1000,1,1,500,A|B,,,,,\n"
                                     "b,1000,1,1,500,G2,,,,,\n"
                                     "c,1000,1,1,500,A|B|C,,,,,\n"
                                     "d,1000,1,1,500,,,,,,\n",
       {WithMeta(Pod("a", 1000, 1, 1, 500, 2), {"A", "B"}, "", "", {}, {}, {}),
        WithMeta(Pod("b", 1000, 1, 1, 500, 3), {"G2"}, "", "", {}, {}, {}),
        WithMeta(Pod("c", 1000, 1, 1, 500, 4), {"A", "B", "C"}, "", "", {}, {}, {}),
        WithMeta(Pod("d", 1000, 1, 1, 500, 5), {}, "", "", {}, {}, {})}},
      {"empty_times_are_nullopt",
       std::string(kPodFullHeader) + "p0,1000,1,1,1000,,LS,Pending,100,,\n"
                                     "p1,1000,1,1,1000,,LS,Running,100,,200\n"
                                     "p2,1000,1,1,1000,,LS,Running,,,\n",
       {WithMeta(Pod("p0", 1000, 1, 1, 1000, 2), {}, "LS", "Pending", 100, {}, {}),
        WithMeta(Pod("p1", 1000, 1, 1, 1000, 3), {}, "LS", "Running", 100, {}, 200),
        WithMeta(Pod("p2", 1000, 1, 1, 1000, 4), {}, "LS", "Running", {}, {}, {})}},
      {"crlf_line_endings",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
       "deletion_time,scheduled_time\r\n"
       "p0,1000,2048,1,300,T4,BE,Running,1,2,3\r\n"
       "p1,2000,4096,0,0,,LS,Running,,,\r\n",
       {WithMeta(Pod("p0", 1000, 2048, 1, 300, 2), {"T4"}, "BE", "Running", 1, 2, 3),
        WithMeta(Pod("p1", 2000, 4096, 0, 0, 3), {}, "LS", "Running", {}, {}, {})}},
      {"crlf_short_set_last_column_numeric",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli\r\np0,1000,2048,1,300\r\n",
       {Pod("p0", 1000, 2048, 1, 300, 2)}},
      {"blank_lines_skipped_line_numbers_kept",
       "\n" + std::string(kPodShortHeader) + "\np0,1000,1,0,0\n\n\r\n  \np1,1000,1,2,1000\n\n",
       {Pod("p0", 1000, 1, 0, 0, 4), Pod("p1", 1000, 1, 2, 1000, 8)}},
      {"no_trailing_newline",
       std::string(kPodShortHeader) + "p0,1000,1,1,50",
       {Pod("p0", 1000, 1, 1, 50, 2)}},
      {"header_only", kPodFullHeader, {}},
      {"columns_in_any_order",
       "gpu_milli,num_gpu,name,memory_mib,cpu_milli\n250,1,x,64,500\n",
       {Pod("x", 500, 64, 1, 250, 2)}},
      {"utf8_bom_and_spaces",
       "\xEF\xBB\xBF"
       "name, cpu_milli ,memory_mib,num_gpu,gpu_milli\n p0 , 1000 ,1,1,1000\n",
       {Pod("p0", 1000, 1, 1, 1000, 2)}},
      {"quoted_fields",
       std::string(kPodFullHeader) + "\"p,0\",1000,1,1,500,\"A|B\",\"LS\",,,,\n",
       {WithMeta(Pod("p,0", 1000, 1, 1, 500, 2), {"A", "B"}, "LS", "", {}, {}, {})}},
      {"integral_decimals_accepted",
       std::string(kPodShortHeader) + "p0,1000.0,2048.0,1,500.0\n",
       {Pod("p0", 1000, 2048, 1, 500, 2)}},
      {"sharing_boundaries",
       std::string(kPodShortHeader) + "p0,0,0,1,1\np1,0,0,1,999\np2,0,0,8,1000\n",
       {Pod("p0", 0, 0, 1, 1, 2), Pod("p1", 0, 0, 1, 999, 3), Pod("p2", 0, 0, 8, 1000, 4)}},
  };
}

class TracePodReadTest : public testing::TestWithParam<PodCase> {};

TEST_P(TracePodReadTest, ReadsRecords) {
  const PodCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.Write("pods.csv", c.content);
  Result<std::vector<PodRecord>> got = ReadPodCsv(path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), c.want.size());
  for (size_t i = 0; i < c.want.size(); ++i) ExpectPodEq((*got)[i], c.want[i], c.name);
}

INSTANTIATE_TEST_SUITE_P(Trace, TracePodReadTest, testing::ValuesIn(PodCases()),
                         [](const testing::TestParamInfo<PodCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// Well-formed node files.

struct NodeCase {
  std::string name;
  std::string content;
  std::vector<NodeRecord> want;
};

NodeRecord Node(std::string name, int64_t cpu, int64_t mem, int gpus, std::string model, int line) {
  NodeRecord n;
  n.name = std::move(name);
  n.cpu_milli = cpu;
  n.memory_mib = mem;
  n.gpus = gpus;
  n.model = std::move(model);
  n.line = line;
  return n;
}

void ExpectNodeEq(const NodeRecord& got, const NodeRecord& want, const std::string& where) {
  SCOPED_TRACE(where + " node " + want.name);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.cpu_milli, want.cpu_milli);
  EXPECT_EQ(got.memory_mib, want.memory_mib);
  EXPECT_EQ(got.gpus, want.gpus);
  EXPECT_EQ(got.model, want.model);
  EXPECT_EQ(got.line, want.line);
}

std::vector<NodeCase> NodeCases() {
  return {
      {"gpu_and_cpu_nodes",
       std::string(kNodeHeader) + "openb-node-0000,64000,262144,2,P100\n"
                                  "openb-node-0001,96000,393216,8,G2\n"
                                  "openb-node-0002,32000,131072,0,\n",
       {Node("openb-node-0000", 64000, 262144, 2, "P100", 2),
        Node("openb-node-0001", 96000, 393216, 8, "G2", 3),
        Node("openb-node-0002", 32000, 131072, 0, "", 4)}},
      {"crlf_line_endings",
       "sn,cpu_milli,memory_mib,gpu,model\r\nn0,1000,2,1,T4\r\nn1,1,2,0,\r\n",
       {Node("n0", 1000, 2, 1, "T4", 2), Node("n1", 1, 2, 0, "", 3)}},
      {"blank_lines",
       std::string(kNodeHeader) + "\n\nn0,1000,2,1,A10\n\n",
       {Node("n0", 1000, 2, 1, "A10", 4)}},
      {"header_only", kNodeHeader, {}},
  };
}

class TraceNodeReadTest : public testing::TestWithParam<NodeCase> {};

TEST_P(TraceNodeReadTest, ReadsRecords) {
  const NodeCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.Write("nodes.csv", c.content);
  Result<std::vector<NodeRecord>> got = ReadNodeCsv(path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), c.want.size());
  for (size_t i = 0; i < c.want.size(); ++i) ExpectNodeEq((*got)[i], c.want[i], c.name);
}

INSTANTIATE_TEST_SUITE_P(Trace, TraceNodeReadTest, testing::ValuesIn(NodeCases()),
                         [](const testing::TestParamInfo<NodeCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// Malformed files: InvalidArgument naming "<file>:<line>" and the column (or the problem).

enum class Kind { kNode, kPod };

struct BadCase {
  std::string name;
  Kind kind;
  std::string content;
  int line;             // expected line in "<file>:<line>"
  std::string column;   // expected "'<column>'" in the message; empty when no column applies
  std::string problem;  // further expected substring
};

std::vector<BadCase> BadCases() {
  const std::string pods = kPodShortHeader;
  const std::string full = kPodFullHeader;
  const std::string nodes = kNodeHeader;
  return {
      // Header problems.
      {"pod_missing_column", Kind::kPod, "name,cpu_milli,memory_mib,num_gpu\np0,1,1,0\n", 1,
       "gpu_milli", "missing column"},
      {"pod_unknown_column", Kind::kPod,
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli,colour\np0,1,1,0,0,red\n", 1, "colour",
       "unknown column"},
      {"pod_duplicate_column", Kind::kPod,
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli,name\np0,1,1,0,0,p0\n", 1, "name",
       "duplicate column"},
      {"node_missing_column", Kind::kNode, "sn,cpu_milli,memory_mib,gpu\nn0,1,1,0\n", 1, "model",
       "missing column"},
      {"node_unknown_column", Kind::kNode, "sn,cpu_milli,memory_mib,gpu,model,rack\nn0,1,1,0,,r1\n",
       1, "rack", "unknown column"},
      {"pod_empty_file", Kind::kPod, "", 1, "", "empty file"},
      {"pod_blank_lines_only", Kind::kPod, "\n\r\n  \n", 1, "", "empty file"},
      {"node_empty_file", Kind::kNode, "", 1, "", "empty file"},
      // Numbers.
      {"pod_non_number", Kind::kPod, pods + "p0,1000,1,0,0\np1,abc,1,0,0\n", 3, "cpu_milli",
       "not an integer"},
      {"pod_number_with_suffix", Kind::kPod, pods + "p0,1000,12Mi,0,0\n", 2, "memory_mib",
       "not an integer"},
      {"pod_fractional_number", Kind::kPod, pods + "p0,1000,1,1,0.5\n", 2, "gpu_milli",
       "not an integer"},
      {"pod_nan", Kind::kPod, pods + "p0,nan,1,0,0\n", 2, "cpu_milli", "not an integer"},
      {"pod_inf", Kind::kPod, pods + "p0,1000,inf,0,0\n", 2, "memory_mib", "not an integer"},
      {"pod_huge_decimal", Kind::kPod, pods + "p0,1e30,1,0,0\n", 2, "cpu_milli", ""},
      {"pod_int64_overflow", Kind::kPod, pods + "p0,99999999999999999999,1,0,0\n", 2, "cpu_milli",
       ""},
      {"pod_empty_number", Kind::kPod, pods + "p0,1000,,0,0\n", 2, "memory_mib", "empty"},
      {"pod_time_non_number", Kind::kPod, full + "p0,1000,1,0,0,,LS,Running,yesterday,,\n", 2,
       "creation_time", "not an integer"},
      {"node_non_number", Kind::kNode, nodes + "n0,1000,lots,1,T4\n", 2, "memory_mib",
       "not an integer"},
      // Ranges.
      {"pod_negative_value", Kind::kPod, pods + "p0,1000,-5,0,0\n", 2, "memory_mib", "negative"},
      {"pod_negative_num_gpu", Kind::kPod, pods + "p0,1000,1,-1,1000\n", 2, "num_gpu", "negative"},
      {"pod_negative_time", Kind::kPod, full + "p0,1000,1,0,0,,LS,Running,0,-3,\n", 2,
       "deletion_time", "negative"},
      {"node_negative_value", Kind::kNode, nodes + "n0,-1000,1,1,T4\n", 2, "cpu_milli", "negative"},
      {"pod_gpu_milli_above_1000", Kind::kPod, pods + "p0,1000,1,1,1000\np1,1000,1,1,1500\n", 3,
       "gpu_milli", "> 1000"},
      {"pod_multi_gpu_shares", Kind::kPod, pods + "p0,1000,1,2,500\n", 2, "gpu_milli", "num_gpu 2"},
      {"pod_num_gpu_0_with_milli", Kind::kPod, pods + "p0,1000,1,0,100\n", 2, "gpu_milli",
       "num_gpu is 0"},
      {"pod_num_gpu_1_without_milli", Kind::kPod, pods + "p0,1000,1,1,0\n", 2, "gpu_milli",
       "num_gpu 1"},
      // Row shape and names.
      {"pod_too_few_fields", Kind::kPod, pods + "p0,1000,1,0,0\np1,1000,1,0\n", 3, "",
       "expected 5 fields, found 4"},
      {"pod_too_many_fields", Kind::kPod, pods + "p0,1000,1,0,0,x\n", 2, "",
       "expected 5 fields, found 6"},
      {"node_wrong_field_count", Kind::kNode, nodes + "n0,1000,1,1\n", 2, "",
       "expected 5 fields, found 4"},
      {"pod_unterminated_quote", Kind::kPod, pods + "\"p0,1000,1,0,0\n", 2, "",
       "unterminated quoted field"},
      {"pod_empty_name", Kind::kPod, pods + ",1000,1,0,0\n", 2, "name", "empty pod name"},
      {"node_empty_name", Kind::kNode, nodes + ",1000,1,0,\n", 2, "sn", "empty node name"},
      {"node_gpus_without_model", Kind::kNode, nodes + "n0,1000,1,0,\nn1,1000,1,4,\n", 3, "model",
       "4 GPUs but no model"},
      // Line numbers count blank lines and CRLF rows like any others.
      {"line_number_after_blank_lines", Kind::kPod, "\n" + pods + "\n\np0,1000,x,0,0\n", 5,
       "memory_mib", "not an integer"},
      {"crlf_error", Kind::kPod,
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli\r\np0,1,1,0,0\r\np1,1,1,3,999\r\n", 3,
       "gpu_milli", "999 < 1000"},
  };
}

class TraceCsvErrorTest : public testing::TestWithParam<BadCase> {};

TEST_P(TraceCsvErrorTest, RejectsWithLocation) {
  const BadCase& c = GetParam();
  TempDir dir;
  const std::string file = c.kind == Kind::kPod ? "pods.csv" : "nodes.csv";
  const std::string path = dir.Write(file, c.content);
  const Status st = c.kind == Kind::kPod ? ReadPodCsv(path).status() : ReadNodeCsv(path).status();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  const std::string& msg = st.message();
  EXPECT_NE(msg.find(path + ":" + std::to_string(c.line) + ":"), std::string::npos) << msg;
  if (!c.column.empty()) {
    EXPECT_NE(msg.find("'" + c.column + "'"), std::string::npos) << msg;
  }
  if (!c.problem.empty()) EXPECT_NE(msg.find(c.problem), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Trace, TraceCsvErrorTest, testing::ValuesIn(BadCases()),
                         [](const testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

TEST(TraceCsvTest, NonexistentFileIsNotFound) {
  TempDir dir;
  const std::string path = dir.Path("absent.csv");
  Result<std::vector<PodRecord>> pods = ReadPodCsv(path);
  ASSERT_FALSE(pods.ok());
  EXPECT_EQ(pods.status().code(), StatusCode::kNotFound);
  EXPECT_NE(pods.status().message().find(path), std::string::npos);
  Result<std::vector<NodeRecord>> nodes = ReadNodeCsv(path);
  ASSERT_FALSE(nodes.ok());
  EXPECT_EQ(nodes.status().code(), StatusCode::kNotFound);
  EXPECT_NE(nodes.status().message().find(path), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Writers: what they write reads back equal (line = row + 2 for the header).

TEST(TraceCsvTest, NodeRoundTrip) {
  TempDir dir;
  const std::vector<NodeRecord> nodes = {
      Node("openb-node-0000", 64000, 262144, 2, "P100", 2),
      Node("openb-node-0001", 96000, 393216, 8, "G2", 3),
      Node("cpu-only", 32000, 131072, 0, "", 4),
      Node("odd, \"quoted\" name", 1, 0, 1, "V100M16", 5),
  };
  const std::string path = dir.Path("nodes.csv");
  ASSERT_TRUE(WriteNodeCsv(path, nodes).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  Result<std::vector<NodeRecord>> got = ReadNodeCsv(path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) ExpectNodeEq((*got)[i], nodes[i], "round trip");
}

TEST(TraceCsvTest, PodRoundTrip) {
  TempDir dir;
  const std::vector<PodRecord> pods = {
      WithMeta(Pod("openb-pod-0000", 12000, 16384, 1, 1000, 2), {}, "LS", "Running", 0, 12537496,
               0),
      WithMeta(Pod("openb-pod-0001", 6000, 12288, 1, 460, 3), {"T4"}, "BE", "Pending", 427061, {},
               {}),
      WithMeta(Pod("openb-pod-0002", 32000, 65536, 8, 1000, 4), {"V100M16", "V100M32"},
               "Guaranteed", "Failed", {}, {}, {}),
      Pod("cpu-pod", 1000, 0, 0, 0, 5),
      WithMeta(Pod("pod,with \"quotes\"", 1, 2, 1, 1, 6), {"A"}, "a,b", "c\"d", 1, 2, 3),
  };
  const std::string path = dir.Path("pods.csv");
  ASSERT_TRUE(WritePodCsv(path, pods).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  Result<std::vector<PodRecord>> got = ReadPodCsv(path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), pods.size());
  for (size_t i = 0; i < pods.size(); ++i) ExpectPodEq((*got)[i], pods[i], "round trip");

  // Writing again replaces the file rather than appending.
  ASSERT_TRUE(WritePodCsv(path, {pods[0]}).ok());
  got = ReadPodCsv(path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  ExpectPodEq((*got)[0], pods[0], "rewrite");
}

TEST(TraceCsvTest, EmptyListsRoundTrip) {
  TempDir dir;
  ASSERT_TRUE(WriteNodeCsv(dir.Path("n.csv"), {}).ok());
  ASSERT_TRUE(WritePodCsv(dir.Path("p.csv"), {}).ok());
  Result<std::vector<NodeRecord>> nodes = ReadNodeCsv(dir.Path("n.csv"));
  Result<std::vector<PodRecord>> pods = ReadPodCsv(dir.Path("p.csv"));
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  EXPECT_TRUE(nodes->empty());
  EXPECT_TRUE(pods->empty());
}

TEST(TraceCsvTest, WriteIntoMissingDirectoryFails) {
  TempDir dir;
  const Status st = WritePodCsv(dir.Path("no/such/dir/pods.csv"), {Pod("p", 1, 1, 0, 0, 0)});
  EXPECT_FALSE(st.ok());
}

// ---------------------------------------------------------------------------------------------
// The real openb trace files (reference §1), when present.

class TraceOpenbTest : public testing::Test {
 protected:
  void SetUp() override {
    DS_SKIP_WITHOUT_OPENB("openb_node_list_gpu_node.csv", "openb_pod_list_default.csv",
                          "openb_pod_list_multigpu20.csv");
  }
  std::string File(const std::string& name) const { return testutil::OpenbFile(name); }
};

TEST_F(TraceOpenbTest, DefaultPodList) {
  Result<std::vector<PodRecord>> pods = ReadPodCsv(File("openb_pod_list_default.csv"));
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  EXPECT_EQ(pods->size(), 8152u);
  std::map<int, int> by_num_gpu;
  int sharing = 0;
  for (const PodRecord& p : *pods) {
    ++by_num_gpu[p.num_gpu];
    if (p.num_gpu == 1 && p.gpu_milli < 1000) ++sharing;
  }
  EXPECT_EQ(by_num_gpu, (std::map<int, int>{{0, 1088}, {1, 6989}, {2, 16}, {4, 15}, {8, 44}}));
  EXPECT_EQ(sharing, 3078);
  EXPECT_EQ(pods->front().name, "openb-pod-0000");
  EXPECT_EQ(pods->front().line, 2);
  EXPECT_EQ(pods->front().qos, "LS");
  EXPECT_TRUE(pods->front().creation_time_s.has_value());
}

TEST_F(TraceOpenbTest, GpuNodeList) {
  Result<std::vector<NodeRecord>> nodes = ReadNodeCsv(File("openb_node_list_gpu_node.csv"));
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_EQ(nodes->size(), 1213u);
  int64_t gpus = 0;
  for (const NodeRecord& n : *nodes) gpus += n.gpus;
  EXPECT_EQ(gpus, 6212);
}

TEST_F(TraceOpenbTest, Multigpu20ShortColumnSet) {
  Result<std::vector<PodRecord>> pods = ReadPodCsv(File("openb_pod_list_multigpu20.csv"));
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  EXPECT_EQ(pods->size(), 8324u);
  for (const PodRecord& p : *pods) {
    ASSERT_TRUE(p.gpu_spec.empty() && p.qos.empty() && p.phase.empty() && !p.creation_time_s &&
                !p.deletion_time_s && !p.scheduled_time_s)
        << "line " << p.line;
  }
}

}  // namespace
}  // namespace devshare::sim
