#include "common/safetensors/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/process/command.h"

namespace iv {
namespace {

const char kReference[] = "common/safetensors/testdata/reference.py";

std::string TempPath(const std::string& name) {
  return absl::StrCat(testing::TempDir(), "/", name);
}

std::string RunPython(const std::string& arguments) {
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", kReference, " ", arguments);
  const process::CommandResult run = process::RunCommand(command);
  EXPECT_EQ(run.exit_code, 0) << command << "\n" << run.output;
  return run.output;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Header(const std::string& json) {
  uint64_t size = json.size();
  return std::string(reinterpret_cast<const char*>(&size), 8) + json;
}

TEST(SafetensorsTest, RoundTripsEveryDtypeShapeAndMetadata) {
  TensorFile file;
  file.tensors = {
      {"f32", torch::randn({3, 4})},
      {"transposed", torch::randn({4, 5}).t()},  // non-contiguous input
      {"f16", torch::randn({7}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 2}).to(torch::kBFloat16)},
      {"f64", torch::randn({1})},
      {"i64", torch::arange(-5, 5, torch::kInt64)},
      {"i32", torch::arange(3, torch::kInt32)},
      {"u8", torch::randint(0, 255, {2, 3, 4}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5f)},
      {"empty", torch::empty({0, 3})},
  };
  file.metadata = {{"arch", "videomae-vit-b16"}, {"step", "100"}};
  const std::string path = TempPath("round_trip.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, file).ok());

  absl::StatusOr<TensorFile> read = ReadSafetensors(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->metadata, file.metadata);
  ASSERT_EQ(read->tensors.size(), file.tensors.size());
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name, expected] = file.tensors[i];
    EXPECT_EQ(read->tensors[i].first, name) << "file order is write order";
    const torch::Tensor* got = read->Find(name);
    ASSERT_NE(got, nullptr) << name;
    EXPECT_EQ(got->scalar_type(), expected.scalar_type()) << name;
    EXPECT_EQ(got->sizes(), expected.sizes()) << name;
    EXPECT_TRUE(torch::equal(*got, expected)) << name;
  }
  EXPECT_EQ(read->Find("absent"), nullptr);
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::TempDir())) {
    EXPECT_EQ(entry.path().filename().string().find("round_trip.safetensors."),
              std::string::npos)
        << "a temporary file was left behind: " << entry.path();
  }
}

TEST(SafetensorsTest, AgreesWithAnIndependentPythonReader) {
  TensorFile file;
  file.tensors = {{"a", torch::tensor({{1.5f, -2.0f}, {0.25f, 8.0f}})},
                  {"b", torch::tensor({7, -9}, torch::kInt64)},
                  {"c", torch::tensor({1.5f, -2.0f}).to(torch::kBFloat16)}};
  file.metadata = {{"k", "v"}};
  const std::string path = TempPath("for_python.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, file).ok());
  nlohmann::json seen = nlohmann::json::parse(RunPython("read " + path));
  EXPECT_EQ(seen["a"]["dtype"], "F32");
  EXPECT_EQ(seen["a"]["shape"], nlohmann::json({2, 2}));
  EXPECT_EQ(seen["a"]["values"], nlohmann::json({1.5, -2.0, 0.25, 8.0}));
  EXPECT_EQ(seen["b"]["dtype"], "I64");
  EXPECT_EQ(seen["b"]["values"], nlohmann::json({7, -9}));
  EXPECT_EQ(seen["c"]["dtype"], "BF16");
  EXPECT_EQ(seen["c"]["values"], nlohmann::json({1.5, -2.0}));
  EXPECT_EQ(seen["__metadata__"]["k"], "v");
}

TEST(SafetensorsTest, ReadsWhatAnIndependentPythonWriterWrote) {
  const std::string path = TempPath("from_python.safetensors");
  RunPython("write " + path);
  absl::StatusOr<TensorFile> file = ReadSafetensors(path);
  ASSERT_TRUE(file.ok()) << file.status();
  // In offset order, although the header lists them in reverse.
  ASSERT_EQ(file->tensors.size(), 5);
  EXPECT_EQ(file->tensors[0].first, "weights");
  EXPECT_EQ(file->tensors[4].first, "scalar");
  EXPECT_TRUE(
      torch::equal(*file->Find("weights"),
                   torch::arange(6, torch::kFloat32).reshape({2, 3}) * 0.5));
  EXPECT_TRUE(torch::equal(
      *file->Find("ids"),
      torch::tensor({int64_t{-1}, int64_t{1} << 40}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(*file->Find("pixels"),
                           torch::tensor({{1, 2}, {3, 4}}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(*file->Find("half"),
                           torch::tensor({1.5f, -2.0f}).to(torch::kBFloat16)));
  EXPECT_EQ(file->Find("scalar")->dim(), 0);
  EXPECT_EQ(file->Find("scalar")->item<double>(), 3.25);
  EXPECT_EQ(file->metadata.at("source"), "python");
}

TEST(SafetensorsTest, CorruptFilesAreDataLossNotCrashes) {
  const std::string ok_header =
      R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"short length", std::string("\x05\x00\x00", 3)},
      {"huge length", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8)},
      {"header past the end", Header(ok_header).substr(0, 20)},
      {"not json", Header("{not json") + std::string(8, '\0')},
      {"not an object", Header("[1,2]")},
      {"truncated data", Header(ok_header) + std::string(5, '\0')},
      {"shape mismatch",
       Header(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})") +
           std::string(8, '\0')},
      {"unknown dtype",
       Header(R"({"x":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})") +
           std::string(2, '\0')},
      {"overlap",
       Header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})") +
           std::string(8, '\0')},
      {"negative size",
       Header(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})") +
           std::string(8, '\0')},
      {"missing fields", Header(R"({"x":{"dtype":"F32"}})")},
  };
  for (const auto& [name, bytes] : cases) {
    const std::string path = TempPath("corrupt.safetensors");
    WriteBytes(path, bytes);
    absl::StatusOr<TensorFile> file = ReadSafetensors(path);
    EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss)
        << name << ": " << file.status();
    EXPECT_NE(file.status().message().find(path), std::string::npos) << name;
  }
  EXPECT_EQ(ReadSafetensors(TempPath("missing.safetensors")).status().code(),
            absl::StatusCode::kNotFound);
}

// Shapes whose element or byte count wraps around 64 bits used to pass the
// byte-range check (a wrapped product can equal the claimed range) and then
// reach torch::empty: a thrown c10::Error or a huge allocation.
TEST(SafetensorsTest, OverflowingShapesAreDataLossBeforeAnyAllocation) {
  struct Case {
    std::string shape, dtype, offsets, why;
  };
  const std::vector<Case> cases = {
      {"[18446744073709551615,0]", "F32", "[0,0]", "element count"},
      {"[4294967296,4294967296]", "F32", "[0,0]", "element count"},
      {"[65536,65536,65536,65536,2]", "U8", "[0,0]", "element count"},
      {"[4611686018427387904]", "F32", "[0,0]", "byte size"},
      {"[1000000000]", "F32", "[0,4000000000]", "claims bytes"},
  };
  for (const Case& c : cases) {
    const std::string path = TempPath("overflow.safetensors");
    WriteBytes(path, Header(absl::StrCat(
                         R"({"x":{"dtype":")", c.dtype, R"(","shape":)",
                         c.shape, R"(,"data_offsets":)", c.offsets, "}}")) +
                         std::string(8, '\0'));
    absl::StatusOr<TensorFile> file = ReadSafetensors(path);
    EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss)
        << c.shape << ": " << file.status();
    EXPECT_NE(file.status().message().find(c.why), std::string::npos)
        << c.shape << ": " << file.status();
    EXPECT_NE(file.status().message().find("tensor 'x'"), std::string::npos)
        << c.shape << ": " << file.status();
  }
  // A zero-size tensor with ordinary sizes is still fine.
  const std::string path = TempPath("zero.safetensors");
  WriteBytes(path, Header(R"({"x":{"dtype":"F32","shape":[1024,0],)"
                          R"("data_offsets":[0,0]}})"));
  absl::StatusOr<TensorFile> zero = ReadSafetensors(path);
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->Find("x")->sizes(), torch::IntArrayRef({1024, 0}));
}

TEST(SafetensorsTest, BadWritesFailCleanly) {
  TensorFile repeated;
  repeated.tensors = {{"x", torch::ones({1})}, {"x", torch::ones({1})}};
  EXPECT_EQ(WriteSafetensors(TempPath("r.safetensors"), repeated).code(),
            absl::StatusCode::kInvalidArgument);
  TensorFile complex;
  complex.tensors = {{"z", torch::ones({1}, torch::kComplexFloat)}};
  EXPECT_EQ(WriteSafetensors(TempPath("c.safetensors"), complex).code(),
            absl::StatusCode::kInvalidArgument);
  TensorFile fine;
  fine.tensors = {{"x", torch::ones({1})}};
  EXPECT_FALSE(WriteSafetensors("/nonexistent/dir/x.safetensors", fine).ok());
}

}  // namespace
}  // namespace iv
