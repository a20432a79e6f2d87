// The FAISS-type-specific decisions of vector_index.h, on real FAISS
// indexes. Refusals of factory strings and parameters are tested through
// the service (index_service_test: "sizes over the limits").
#include "index_service/vector_index.h"

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iv::index {
namespace {

using internvideo::v1::Collection;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Collection Definition(const std::string& factory, int dimension = 8) {
  Collection definition;
  definition.set_name("c");
  definition.set_dimension(dimension);
  definition.set_metric(internvideo::v1::METRIC_L2);
  definition.set_index_factory(factory);
  return definition;
}

std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

std::unique_ptr<faiss::Index> Made(Collection definition) {
  EXPECT_TRUE(CheckAndFillIndexDefaults(definition).ok());
  absl::StatusOr<std::unique_ptr<faiss::Index>> index = NewIndex(definition);
  EXPECT_TRUE(index.ok()) << index.status();
  return index.ok() ? std::move(*index) : nullptr;
}

TEST(VectorIndexTest, DefaultsAreFilledAndNprobeIsLoweredToTheLists) {
  Collection flat = Definition("");
  ASSERT_TRUE(CheckAndFillIndexDefaults(flat).ok());
  EXPECT_EQ(flat.index_factory(), "Flat");
  EXPECT_EQ(flat.params().hnsw_ef_construction(), 40);
  EXPECT_EQ(flat.params().hnsw_ef_search(), 64);
  EXPECT_EQ(flat.params().ivf_nprobe(), 16);

  Collection few_lists = Definition("IVF4,Flat");
  ASSERT_TRUE(CheckAndFillIndexDefaults(few_lists).ok());
  EXPECT_EQ(few_lists.params().ivf_nprobe(), 4);

  Collection too_many = Definition("IVF4,Flat");
  too_many.mutable_params()->set_ivf_nprobe(5);
  const absl::Status refused = CheckAndFillIndexDefaults(too_many);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(),
            "collection.params.ivf_nprobe: 5 exceeds the 4 lists of "
            "'IVF4,Flat'");
}

TEST(VectorIndexTest, FactorySizesAreCheckedBeforeFaissParses) {
  EXPECT_TRUE(CheckFactorySizes("IVF65536,PQ4x8").ok());
  EXPECT_TRUE(CheckFactorySizes("HNSW2048").ok());
  EXPECT_TRUE(CheckFactorySizes("IMI2x8,PQ8").ok());
  EXPECT_THAT(Message(CheckFactorySizes("IMI2x9,PQ8")),
              HasSubstr("IMI bits per half 9 is over the limit 8"));
  EXPECT_THAT(Message(CheckFactorySizes("IVF65537,Flat")),
              HasSubstr("IVF list count 65537 is over the limit 65536"));
  EXPECT_THAT(Message(CheckFactorySizes("NSG4096")),
              HasSubstr("graph degree M 4096 is over the limit 2048"));
  EXPECT_THAT(Message(CheckFactorySizes("PCA65537,Flat")),
              HasSubstr("size 65537 is over the limit 65536"));
  EXPECT_EQ(CheckFactorySizes("PQ0").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VectorIndexTest, NewIndexSetsTheDefinitionsParameters) {
  Collection definition = Definition("HNSW8");
  definition.mutable_params()->set_hnsw_ef_construction(33);
  definition.mutable_params()->set_hnsw_ef_search(44);
  std::unique_ptr<faiss::Index> index = Made(definition);
  const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index.get());
  ASSERT_NE(hnsw, nullptr);
  EXPECT_EQ(hnsw->hnsw.efConstruction, 33);
  EXPECT_EQ(hnsw->hnsw.efSearch, 44);
  EXPECT_EQ(hnsw->metric_type, faiss::METRIC_L2);

  std::unique_ptr<faiss::Index> ivf = Made(Definition("IVF32,Flat"));
  ASSERT_NE(dynamic_cast<const faiss::IndexIVF*>(ivf.get()), nullptr);
  EXPECT_EQ(dynamic_cast<const faiss::IndexIVF*>(ivf.get())->nprobe, 16u);

  const absl::Status bad = NewIndex(Definition("HNSWx")).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(bad),
              StartsWith("collection.index_factory: FAISS cannot parse "
                         "'HNSWx': "));
}

TEST(VectorIndexTest, TrainingThresholdCountsCentroids) {
  EXPECT_EQ(TrainingThreshold(*Made(Definition("Flat")), 39), 0);
  EXPECT_EQ(TrainingThreshold(*Made(Definition("HNSW8")), 39), 0);
  EXPECT_EQ(TrainingThreshold(*Made(Definition("IVF32,Flat")), 39), 32 * 39);
  // IVF-PQ learns 256 codewords per sub-quantizer, more than 32 lists.
  EXPECT_EQ(TrainingThreshold(*Made(Definition("IVF32,PQ4")), 39), 256 * 39);
  EXPECT_EQ(TrainingThreshold(*Made(Definition("PQ4x4")), 10), 16 * 10);
}

TEST(VectorIndexTest, IvfListsOnlyForIvf) {
  EXPECT_EQ(IvfLists(*Made(Definition("IVF32,Flat"))), 32);
  EXPECT_EQ(IvfLists(*Made(Definition("IVF8,PQ4"))), 8);
  EXPECT_EQ(IvfLists(*Made(Definition("HNSW8"))), 0);
  EXPECT_EQ(IvfLists(*NewExactIndex(Definition("IVF8,Flat"))), 0);
}

TEST(VectorIndexTest, SearchParametersFitTheIndexType) {
  std::unique_ptr<faiss::SearchParameters> hnsw =
      NewSearchParameters(*Made(Definition("HNSW8")), 300, 7);
  ASSERT_NE(dynamic_cast<faiss::SearchParametersHNSW*>(hnsw.get()), nullptr);
  EXPECT_EQ(dynamic_cast<faiss::SearchParametersHNSW*>(hnsw.get())->efSearch,
            300);

  std::unique_ptr<faiss::Index> ivf = Made(Definition("IVF32,Flat"));
  std::unique_ptr<faiss::SearchParameters> some =
      NewSearchParameters(*ivf, 300, 7);
  ASSERT_NE(dynamic_cast<faiss::SearchParametersIVF*>(some.get()), nullptr);
  EXPECT_EQ(dynamic_cast<faiss::SearchParametersIVF*>(some.get())->nprobe, 7u);
  std::unique_ptr<faiss::SearchParameters> all =
      NewSearchParameters(*ivf, 300, 7 * 4 * 4);
  EXPECT_EQ(dynamic_cast<faiss::SearchParametersIVF*>(all.get())->nprobe, 32u);

  EXPECT_EQ(NewSearchParameters(*Made(Definition("Flat")), 300, 7), nullptr);
}

TEST(VectorIndexTest, ExactIndexHasTheDefinitionsMetric) {
  Collection definition = Definition("IVF8,Flat", 16);
  definition.set_metric(internvideo::v1::METRIC_COSINE);
  std::unique_ptr<faiss::Index> exact = NewExactIndex(definition);
  EXPECT_TRUE(exact->is_trained);
  EXPECT_EQ(exact->d, 16);
  EXPECT_EQ(exact->metric_type, faiss::METRIC_INNER_PRODUCT);
}

TEST(VectorIndexTest, IndexBytesGrowWithTheVectors) {
  std::unique_ptr<faiss::Index> index = Made(Definition("Flat"));
  absl::StatusOr<int64_t> empty = IndexBytes(*index);
  ASSERT_TRUE(empty.ok()) << empty.status();
  const float vectors[16] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  index->add(2, vectors);
  absl::StatusOr<int64_t> two = IndexBytes(*index);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(*two - *empty, 2 * 8 * static_cast<int64_t>(sizeof(float)));
}

}  // namespace
}  // namespace iv::index
