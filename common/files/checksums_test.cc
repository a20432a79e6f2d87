#include "common/files/checksums.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace iv::files {
namespace {

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ChecksumsTest, ListsCrc32AndSizeAndCatchesDamage) {
  const std::string dir = test::FreshTempDir("checksums");
  Write(dir + "/config.txt", "hello");
  Write(dir + "/weights.bin", std::string("weights\0\1", 9));
  ASSERT_TRUE(WriteChecksums(dir, {"config.txt", "weights.bin"}).ok());
  // Python's zlib.crc32: b"hello" -> 0x3610a686, b"weights\0\1" -> 0x8db0cf61.
  EXPECT_EQ(Read(dir + "/CHECKSUMS"),
            "3610a686 5 config.txt\n8db0cf61 9 weights.bin\n");
  EXPECT_TRUE(VerifyChecksums(dir).ok());

  // One flipped bit, same size.
  Write(dir + "/weights.bin", std::string("weights\0\3", 9));
  absl::Status damaged = VerifyChecksums(dir);
  EXPECT_EQ(damaged.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(damaged.message(), "weights.bin: checksum"))
      << damaged;

  std::filesystem::remove(dir + "/weights.bin");
  absl::Status missing = VerifyChecksums(dir);
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(missing.message(), "missing")) << missing;

  Write(dir + "/CHECKSUMS", "not a checksum line\n");
  EXPECT_EQ(VerifyChecksums(dir).code(), absl::StatusCode::kDataLoss);

  std::filesystem::remove(dir + "/CHECKSUMS");
  EXPECT_EQ(VerifyChecksums(dir).code(), absl::StatusCode::kNotFound);
}

TEST(ChecksumsTest, AFileThatCannotBeReadIsNotListed) {
  const std::string dir = test::FreshTempDir("checksums_unreadable");
  EXPECT_FALSE(WriteChecksums(dir, {"absent.bin"}).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/CHECKSUMS"));
}

}  // namespace
}  // namespace iv::files
