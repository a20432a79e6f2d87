// Each system library links and does one real thing. Fails when a package is
// missing, a link flag is wrong, or a library resolves to an unusable build.
#include <faiss/IndexFlat.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

TEST(SystemLibraries, TorchComputes) {
  torch::Tensor a = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  torch::Tensor b = torch::matmul(a, a);
  EXPECT_FLOAT_EQ(b[0][0].item<float>(), 7.0f);
  EXPECT_FLOAT_EQ(b[1][1].item<float>(), 22.0f);
}

TEST(SystemLibraries, FaissSearches) {
  faiss::IndexFlatL2 index(2);
  std::vector<float> xb = {0, 0, 10, 10};
  index.add(2, xb.data());
  float query[2] = {9, 9};
  float distance;
  faiss::Index::idx_t label;
  index.search(1, query, 1, &distance, &label);
  EXPECT_EQ(label, 1);
  EXPECT_FLOAT_EQ(distance, 2.0f);
}

TEST(SystemLibraries, RocksDbWritesAndReads) {
  std::string dir = absl::StrCat(testing::TempDir(), "/rocksdb_smoke");
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "k", &value).ok());
  EXPECT_EQ(value, "v");
}

TEST(SystemLibraries, FfmpegHasH264) {
  EXPECT_NE(avcodec_find_decoder(AV_CODEC_ID_H264), nullptr);
  EXPECT_NE(av_find_input_format("mp4"), nullptr);
  EXPECT_GT(swscale_version(), 0u);
}

TEST(SystemLibraries, AbseilAndGrpc) {
  absl::StatusOr<int> value = absl::InvalidArgumentError("field x");
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(grpc::Version().empty());
}
