#include "index_service/snapshot_file.h"

#include <faiss/IndexFlat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace iv::index {
namespace {

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

SnapshotHeader Header() {
  SnapshotHeader header;
  header.sequence = 0x0102030405060708;
  header.create_seconds = 1700000000;
  header.snapshot_unix_nanos = 1700000001000000002;
  header.exact_until_trained = 1;
  return header;
}

TEST(SnapshotFileTest, RoundTrip) {
  const std::string path = test::FreshTempDir("round_trip") + "/c.snapshot";
  faiss::IndexFlatL2 index(2);
  const float vectors[6] = {1, 2, 3, 4, 5, 6};
  index.add(3, vectors);
  ASSERT_TRUE(WriteSnapshotFile(path, Header(), {"a", "", "c"}, index).ok());

  SnapshotHeader header;
  std::vector<std::string> ids = {"left over"};
  absl::StatusOr<std::unique_ptr<faiss::Index>> read =
      ReadSnapshotFile(path, header, ids);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)->d, 2);
  EXPECT_EQ((*read)->ntotal, 3);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(header.sequence, Header().sequence);
  EXPECT_EQ(header.create_seconds, Header().create_seconds);
  EXPECT_EQ(header.snapshot_unix_nanos, Header().snapshot_unix_nanos);
  EXPECT_EQ(header.exact_until_trained, 1);
}

// The layout existing snapshots have: it must not change.
TEST(SnapshotFileTest, LayoutIsStable) {
  const std::string path = test::FreshTempDir("layout") + "/c.snapshot";
  faiss::IndexFlatL2 index(2);
  const float vectors[2] = {1, 2};
  index.add(1, vectors);
  ASSERT_TRUE(WriteSnapshotFile(path, Header(), {"ab"}, index).ok());
  const std::string bytes = ReadBytes(path);
  ASSERT_GE(bytes.size(), 8u + 32u + 8u + 4u + 2u);
  EXPECT_EQ(bytes.substr(0, 8), "IVSNAP01");
  uint64_t sequence;
  std::memcpy(&sequence, bytes.data() + 8, 8);
  EXPECT_EQ(sequence, Header().sequence);
  int64_t create_seconds;
  std::memcpy(&create_seconds, bytes.data() + 16, 8);
  EXPECT_EQ(create_seconds, Header().create_seconds);
  int64_t nanos;
  std::memcpy(&nanos, bytes.data() + 24, 8);
  EXPECT_EQ(nanos, Header().snapshot_unix_nanos);
  EXPECT_EQ(bytes[32], 1);  // exact_until_trained, then 7 bytes of padding
  uint64_t labels;
  std::memcpy(&labels, bytes.data() + 40, 8);
  EXPECT_EQ(labels, 1u);
  uint32_t id_size;
  std::memcpy(&id_size, bytes.data() + 48, 4);
  EXPECT_EQ(id_size, 2u);
  EXPECT_EQ(bytes.substr(52, 2), "ab");
  // Then FAISS's own format of the flat index: its fourcc first.
  EXPECT_EQ(bytes.substr(54, 4), "IxF2");
}

TEST(SnapshotFileTest, UnreadableIsDataLoss) {
  const std::string dir = test::FreshTempDir("unreadable");
  SnapshotHeader header;
  std::vector<std::string> ids;
  const absl::Status missing =
      ReadSnapshotFile(dir + "/missing", header, ids).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(missing.message(),
            dir + "/missing is not a readable index snapshot");

  const std::string garbage = dir + "/garbage";
  std::ofstream(garbage) << "IVSNAP02 and more";
  EXPECT_EQ(ReadSnapshotFile(garbage, header, ids).status().code(),
            absl::StatusCode::kDataLoss);

  // A good file cut short.
  const std::string good = dir + "/good";
  faiss::IndexFlatL2 index(2);
  const float vectors[2] = {1, 2};
  index.add(1, vectors);
  ASSERT_TRUE(WriteSnapshotFile(good, Header(), {"a"}, index).ok());
  const std::string bytes = ReadBytes(good);
  const std::string cut = dir + "/cut";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  EXPECT_EQ(ReadSnapshotFile(cut, header, ids).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SnapshotFileTest, AMissingFolderIsNotFoundAndWritesNothing) {
  const std::string dir = test::FreshTempDir("missing_folder");
  faiss::IndexFlatL2 index(2);
  EXPECT_EQ(
      WriteSnapshotFile(dir + "/no/c.snapshot", Header(), {}, index).code(),
      absl::StatusCode::kNotFound);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

}  // namespace
}  // namespace iv::index
