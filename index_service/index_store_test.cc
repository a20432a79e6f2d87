// IndexStore with real RocksDB and FAISS: search quality of each index type
// against brute force computed here, deletes and tombstones, replacement,
// filters, segments, restart with and without a snapshot, concurrency.
#include "index_service/index_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/testing/temp_dir.h"

namespace iv::index {
namespace {

using internvideo::v1::Collection;
using internvideo::v1::Record;
using internvideo::v1::SearchRequest;
using internvideo::v1::SearchResponse;

constexpr int kDim = 32;

// Points around 50 random centres, like embeddings of a few topics.
std::vector<std::vector<float>> Clustered(int n, int seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::mt19937 centre_rng(7);  // the same centres for data and queries
  std::vector<std::vector<float>> centres(50, std::vector<float>(kDim));
  for (auto& centre : centres) {
    for (float& x : centre) x = normal(centre_rng);
  }
  std::vector<std::vector<float>> points(n, std::vector<float>(kDim));
  for (auto& point : points) {
    const auto& centre = centres[rng() % centres.size()];
    for (int d = 0; d < kDim; ++d) point[d] = centre[d] + 0.5f * normal(rng);
  }
  return points;
}

std::string Id(int i) { return absl::StrCat("video-", i); }

Record MakeRecord(int i, const std::vector<float>& vector) {
  Record record;
  record.set_id(Id(i));
  for (float x : vector) record.mutable_embedding()->add_values(x);
  (*record.mutable_metadata())["color"].set_string_value(
      i % 3 == 0 ? "red" : (i % 3 == 1 ? "green" : "blue"));
  (*record.mutable_metadata())["size_bytes"].set_int_value(i);
  (*record.mutable_metadata())["duration_s"].set_double_value(0.5 * i);
  if (i % 2 == 1) {
    record.mutable_segment()->set_start_s(i);
    record.mutable_segment()->set_end_s(i + 2.5);
  }
  return record;
}

// Exact nearest ids by brute force, over the records `keep` accepts.
template <typename Keep>
std::vector<std::string> Exact(const std::vector<std::vector<float>>& points,
                               const std::vector<float>& query,
                               internvideo::v1::Metric metric, int k,
                               Keep keep) {
  auto normalized = [](std::vector<float> v) {
    double norm = 0;
    for (float x : v) norm += double{x} * x;
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
  };
  const std::vector<float> q =
      metric == internvideo::v1::METRIC_COSINE ? normalized(query) : query;
  std::vector<std::pair<double, int>> scored;
  for (int i = 0; i < static_cast<int>(points.size()); ++i) {
    if (!keep(i)) continue;
    const std::vector<float> p = metric == internvideo::v1::METRIC_COSINE
                                     ? normalized(points[i])
                                     : points[i];
    double score = 0;
    for (int d = 0; d < kDim; ++d) {
      score += metric == internvideo::v1::METRIC_L2
                   ? (double{p[d]} - q[d]) * (double{p[d]} - q[d])
                   : double{p[d]} * q[d];
    }
    // Sort ascending: distance for L2, negated similarity otherwise.
    scored.emplace_back(metric == internvideo::v1::METRIC_L2 ? score : -score,
                        i);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> ids;
  for (int i = 0; i < k && i < static_cast<int>(scored.size()); ++i) {
    ids.push_back(Id(scored[i].second));
  }
  return ids;
}

std::vector<std::string> Exact(const std::vector<std::vector<float>>& points,
                               const std::vector<float>& query,
                               internvideo::v1::Metric metric, int k) {
  return Exact(points, query, metric, k, [](int) { return true; });
}

SearchRequest Query(const std::string& collection,
                    const std::vector<float>& vector, int k) {
  SearchRequest request;
  request.set_collection(collection);
  request.set_k(k);
  for (float x : vector) request.mutable_vector()->add_values(x);
  return request;
}

std::vector<std::string> Ids(const SearchResponse& response) {
  std::vector<std::string> ids;
  for (const auto& hit : response.hits()) ids.push_back(hit.id());
  return ids;
}

double Overlap(const std::vector<std::string>& found,
               const std::vector<std::string>& exact) {
  absl::flat_hash_set<std::string> truth(exact.begin(), exact.end());
  int hits = 0;
  for (const std::string& id : found) hits += truth.contains(id);
  return exact.empty() ? 1.0 : double(hits) / exact.size();
}

class IndexStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = test::FreshTempDir(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    Reopen();
  }

  void Reopen() {
    store_.reset();  // releases the database lock first
    absl::StatusOr<std::unique_ptr<IndexStore>> store =
        IndexStore::Open(options_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void Create(const std::string& name, const std::string& factory,
              internvideo::v1::Metric metric) {
    Collection collection;
    collection.set_name(name);
    collection.set_dimension(kDim);
    collection.set_metric(metric);
    collection.set_index_factory(factory);
    absl::StatusOr<Collection> created = store_->CreateCollection(collection);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  void Upsert(const std::string& name,
              const std::vector<std::vector<float>>& points, int from = 0) {
    for (int start = from; start < static_cast<int>(points.size());
         start += 500) {
      internvideo::v1::UpsertRequest request;
      request.set_collection(name);
      for (int i = start;
           i < std::min<int>(start + 500, static_cast<int>(points.size()));
           ++i) {
        *request.add_records() = MakeRecord(i, points[i]);
      }
      absl::StatusOr<int64_t> count = store_->Upsert(request);
      ASSERT_TRUE(count.ok()) << count.status();
      EXPECT_EQ(*count, request.records_size());
    }
  }

  // Mean recall@10 of the collection against brute force over `points`.
  double Recall(const std::string& name,
                const std::vector<std::vector<float>>& points,
                internvideo::v1::Metric metric) {
    const std::vector<std::vector<float>> queries = Clustered(50, 99);
    double total = 0;
    for (const auto& query : queries) {
      absl::StatusOr<SearchResponse> found =
          store_->Search(Query(name, query, 10));
      EXPECT_TRUE(found.ok()) << found.status();
      if (!found.ok()) return 0;
      EXPECT_EQ(found->hits_size(), 10);
      total += Overlap(Ids(*found), Exact(points, query, metric, 10));
    }
    return total / queries.size();
  }

  internvideo::v1::CollectionStats Stats(const std::string& name) {
    absl::StatusOr<internvideo::v1::CollectionStats> stats =
        store_->GetStats(name);
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : internvideo::v1::CollectionStats();
  }

  IndexStoreOptions options_;
  std::unique_ptr<IndexStore> store_;
};

TEST_F(IndexStoreTest, FlatIsExactForEveryMetric) {
  const auto points = Clustered(2000, 1);
  for (auto metric :
       {internvideo::v1::METRIC_COSINE, internvideo::v1::METRIC_INNER_PRODUCT,
        internvideo::v1::METRIC_L2}) {
    const std::string name = absl::StrCat("flat", metric);
    Create(name, "", metric);
    Upsert(name, points);
    EXPECT_DOUBLE_EQ(Recall(name, points, metric), 1.0) << name;
  }
  // Scores are the metric's values: the nearest point to itself under L2
  // scores 0; under cosine, 1.
  absl::StatusOr<SearchResponse> self =
      store_->Search(Query("flat3", points[5], 1));
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->hits(0).id(), Id(5));
  EXPECT_NEAR(self->hits(0).score(), 0, 1e-4);
  self = store_->Search(Query("flat1", points[5], 1));
  ASSERT_TRUE(self.ok());
  EXPECT_NEAR(self->hits(0).score(), 1, 1e-5);
}

TEST_F(IndexStoreTest, HnswRecallAndEfSearch) {
  const auto points = Clustered(4000, 2);
  Create("hnsw", "HNSW16", internvideo::v1::METRIC_L2);
  Upsert("hnsw", points);
  EXPECT_GE(Recall("hnsw", points, internvideo::v1::METRIC_L2), 0.95);
  EXPECT_EQ(Stats("hnsw").indexed_vector_count(), 4000);
  EXPECT_TRUE(Stats("hnsw").index_trained());
}

TEST_F(IndexStoreTest, IvfPqSearchesExactlyUntilTrainedThenApproximately) {
  options_.collection.train_points_per_centroid = 8;  // 256 x 8 = 2048
  Reopen();
  const auto points = Clustered(3000, 3);
  Create("ivfpq", "IVF16,PQ8", internvideo::v1::METRIC_L2);
  const std::vector<std::vector<float>> first(points.begin(),
                                              points.begin() + 1500);
  Upsert("ivfpq", first);
  EXPECT_FALSE(Stats("ivfpq").index_trained());
  EXPECT_DOUBLE_EQ(Recall("ivfpq", first, internvideo::v1::METRIC_L2), 1.0);

  Upsert("ivfpq", points, 1500);
  const auto stats = Stats("ivfpq");
  EXPECT_TRUE(stats.index_trained());
  EXPECT_EQ(stats.record_count(), 3000);
  // PQ8 keeps 8 bytes of 128: approximate, but far better than chance
  // (10 / 3000), and every probed list is searched.
  const double recall = Recall("ivfpq", points, internvideo::v1::METRIC_L2);
  EXPECT_GE(recall, 0.4);
  EXPECT_LT(stats.index_memory_bytes(), 3000 * kDim * 4 / 2);
}

TEST_F(IndexStoreTest, HnswDeletesAreTombstonedThenRebuilt) {
  const auto points = Clustered(1000, 4);
  Create("hnsw", "HNSW16", internvideo::v1::METRIC_COSINE);
  Upsert("hnsw", points);
  // Delete the 100 nearest to a query: without tombstone filtering they
  // would be exactly what the search returns.
  const std::vector<float> query = points[0];
  const std::vector<std::string> nearest =
      Exact(points, query, internvideo::v1::METRIC_COSINE, 100);
  internvideo::v1::DeleteRequest del;
  del.set_collection("hnsw");
  for (const std::string& id : nearest) del.add_ids(id);
  del.add_ids("never-existed");
  absl::StatusOr<int64_t> deleted = store_->Delete(del);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 100);
  auto stats = Stats("hnsw");
  EXPECT_EQ(stats.record_count(), 900);
  EXPECT_EQ(stats.tombstone_count(), 100);
  EXPECT_EQ(stats.indexed_vector_count(), 1000);

  absl::flat_hash_set<std::string> gone(nearest.begin(), nearest.end());
  absl::StatusOr<SearchResponse> found =
      store_->Search(Query("hnsw", query, 10));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->hits_size(), 10);
  for (const auto& hit : found->hits()) EXPECT_FALSE(gone.contains(hit.id()));
  const std::vector<std::string> exact_live =
      Exact(points, query, internvideo::v1::METRIC_COSINE, 10,
            [&](int i) { return !gone.contains(Id(i)); });
  EXPECT_GE(Overlap(Ids(*found), exact_live), 0.9);

  internvideo::v1::GetRequest get;
  get.set_collection("hnsw");
  get.add_ids(nearest[0]);
  get.add_ids(Id(999) == nearest[0] ? Id(998) : Id(999));
  absl::StatusOr<internvideo::v1::GetResponse> got = store_->Get(get);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->missing_ids_size(), 1);
  EXPECT_EQ(got->missing_ids(0), nearest[0]);
  EXPECT_EQ(got->records_size(), 1);

  // Past 25% tombstones the index is rebuilt from RocksDB.
  internvideo::v1::DeleteRequest more;
  more.set_collection("hnsw");
  int extra = 0;
  for (int i = 0; extra < 200; ++i) {
    if (!gone.contains(Id(i))) {
      more.add_ids(Id(i));
      ++extra;
    }
  }
  ASSERT_TRUE(store_->Delete(more).ok());
  stats = Stats("hnsw");
  EXPECT_EQ(stats.record_count(), 700);
  EXPECT_EQ(stats.tombstone_count(), 0);
  EXPECT_EQ(stats.indexed_vector_count(), 700);
}

TEST_F(IndexStoreTest, UpsertReplacesAWholeRecord) {
  auto points = Clustered(500, 5);
  Create("hnsw", "HNSW16", internvideo::v1::METRIC_L2);
  Upsert("hnsw", points);
  // Move video-7 onto video-300's spot, with new metadata and no segment.
  Record moved = MakeRecord(7, points[300]);
  moved.clear_segment();
  (*moved.mutable_metadata())["color"].set_string_value("purple");
  internvideo::v1::UpsertRequest request;
  request.set_collection("hnsw");
  *request.add_records() = moved;
  ASSERT_TRUE(store_->Upsert(request).ok());

  absl::StatusOr<SearchResponse> found =
      store_->Search(Query("hnsw", points[300], 2));
  ASSERT_TRUE(found.ok());
  std::vector<std::string> ids = Ids(*found);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{Id(300), Id(7)}));
  for (const auto& hit : found->hits()) {
    EXPECT_NEAR(hit.score(), 0, 1e-4);
    if (hit.id() == Id(7)) {
      EXPECT_EQ(hit.metadata().at("color").string_value(), "purple");
      EXPECT_FALSE(hit.has_segment());
    }
  }
  // Its old place no longer finds it.
  found = store_->Search(Query("hnsw", points[7], 1));
  ASSERT_TRUE(found.ok());
  EXPECT_NE(found->hits(0).id(), Id(7));
  const auto stats = Stats("hnsw");
  EXPECT_EQ(stats.record_count(), 500);
  EXPECT_EQ(stats.tombstone_count(), 1);
  EXPECT_EQ(stats.segment_record_count(), 249);  // odd ids but 7
}

TEST_F(IndexStoreTest, FiltersAndScopesMatchBruteForce) {
  const auto points = Clustered(2000, 6);
  Create("hnsw", "HNSW16", internvideo::v1::METRIC_COSINE);
  Upsert("hnsw", points);
  const std::vector<float> query = Clustered(1, 42)[0];

  // color == "red" (i % 3 == 0), size in [100, 1500), not duration 150.0
  // (i == 300), segments only (odd i): 1 in 6 of the points.
  SearchRequest request = Query("hnsw", query, 20);
  auto* red = request.mutable_filter()->add_must();
  red->set_key("color");
  red->mutable_equals()->set_string_value("red");
  auto* size = request.mutable_filter()->add_must();
  size->set_key("size_bytes");
  size->mutable_range()->set_gte(100);
  size->mutable_range()->set_lt(1500);
  auto* not_300 = request.mutable_filter()->add_must_not();
  not_300->set_key("duration_s");
  not_300->mutable_any_of()->add_values()->set_double_value(150.0);
  not_300->mutable_any_of()->add_values()->set_double_value(-1.0);
  request.set_scope(internvideo::v1::SEGMENT_SCOPE_SEGMENTS);
  request.set_hnsw_ef_search(200);
  absl::StatusOr<SearchResponse> found = store_->Search(request);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->hits_size(), 20);
  auto keep = [](int i) {
    return i % 3 == 0 && i >= 100 && i < 1500 && i != 300 && i % 2 == 1;
  };
  EXPECT_GE(
      Overlap(Ids(*found),
              Exact(points, query, internvideo::v1::METRIC_COSINE, 20, keep)),
      0.9);
  for (const auto& hit : found->hits()) {
    const int i = std::stoi(hit.id().substr(6));
    EXPECT_TRUE(keep(i)) << hit.id();
    // Segment times come back with the hit.
    EXPECT_DOUBLE_EQ(hit.segment().start_s(), i);
    EXPECT_DOUBLE_EQ(hit.segment().end_s(), i + 2.5);
    EXPECT_FALSE(hit.has_embedding());
  }

  // Whole videos only, and a type mismatch matches nothing: size_bytes is
  // an int, not a string.
  SearchRequest whole = Query("hnsw", query, 5);
  whole.set_scope(internvideo::v1::SEGMENT_SCOPE_WHOLE_VIDEOS);
  whole.set_include_vectors(true);
  found = store_->Search(whole);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->hits_size(), 5);
  for (const auto& hit : found->hits()) {
    EXPECT_FALSE(hit.has_segment());
    EXPECT_EQ(hit.embedding().values_size(), kDim);
  }
  auto* wrong_type = whole.mutable_filter()->add_must();
  wrong_type->set_key("size_bytes");
  wrong_type->mutable_equals()->set_string_value("4");
  found = store_->Search(whole);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->hits_size(), 0);
}

TEST_F(IndexStoreTest, RestartKeepsEveryRecordWithAndWithoutSnapshot) {
  const auto points = Clustered(1500, 8);
  Create("hnsw", "HNSW16", internvideo::v1::METRIC_L2);
  Create("flat", "Flat", internvideo::v1::METRIC_COSINE);
  Upsert("hnsw", points);
  Upsert("flat", points);
  Reopen();  // rebuilt from RocksDB
  EXPECT_EQ(Stats("hnsw").record_count(), 1500);
  EXPECT_GE(Recall("hnsw", points, internvideo::v1::METRIC_L2), 0.95);
  EXPECT_DOUBLE_EQ(Recall("flat", points, internvideo::v1::METRIC_COSINE), 1.0);

  absl::StatusOr<internvideo::v1::SnapshotResponse> snapshot =
      store_->Snapshot("hnsw");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->record_count(), 1500);
  EXPECT_GT(snapshot->size_bytes(), 1500 * kDim * 4);
  // Writes after the snapshot: replaced, deleted and new records.
  auto later = points;
  const auto extra = Clustered(200, 9);
  later.insert(later.end(), extra.begin(), extra.end());
  const auto replacements = Clustered(50, 12);
  for (int i = 0; i < 50; ++i) later[i] = replacements[i];  // replaced
  Upsert("hnsw",
         std::vector<std::vector<float>>(later.begin(), later.begin() + 50));
  Upsert("hnsw", later, 1500);
  internvideo::v1::DeleteRequest del;
  del.set_collection("hnsw");
  for (int i = 50; i < 60; ++i) del.add_ids(Id(i));
  ASSERT_TRUE(store_->Delete(del).ok());

  Reopen();  // the snapshot plus a replay of the later writes
  const auto stats = Stats("hnsw");
  EXPECT_EQ(stats.record_count(), 1690);
  EXPECT_TRUE(stats.has_last_snapshot_time());
  // The snapshot's 1500, plus 250 added since; 60 of them dead.
  EXPECT_EQ(stats.indexed_vector_count(), 1750);
  EXPECT_EQ(stats.tombstone_count(), 60);
  std::vector<std::vector<float>> live;
  // Recall against the live set: deleted points must not come back.
  const auto queries = Clustered(30, 99);
  double total = 0;
  for (const auto& query : queries) {
    absl::StatusOr<SearchResponse> found =
        store_->Search(Query("hnsw", query, 10));
    ASSERT_TRUE(found.ok());
    for (const auto& hit : found->hits()) {
      const int i = std::stoi(hit.id().substr(6));
      EXPECT_FALSE(i >= 50 && i < 60) << hit.id();
    }
    total +=
        Overlap(Ids(*found), Exact(later, query, internvideo::v1::METRIC_L2, 10,
                                   [](int i) { return i < 50 || i >= 60; }));
  }
  EXPECT_GE(total / queries.size(), 0.95);
  // A replaced record is found at its new place.
  absl::StatusOr<SearchResponse> moved =
      store_->Search(Query("hnsw", later[3], 1));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->hits(0).id(), Id(3));
}

TEST_F(IndexStoreTest, ConcurrentUpsertsAndSearches) {
  Create("hnsw", "HNSW16", internvideo::v1::METRIC_COSINE);
  const auto points = Clustered(2000, 10);
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int start = w * 500; start < (w + 1) * 500; start += 25) {
        internvideo::v1::UpsertRequest request;
        request.set_collection("hnsw");
        for (int i = start; i < start + 25; ++i) {
          *request.add_records() = MakeRecord(i, points[i]);
        }
        if (!store_->Upsert(request).ok()) ++failures;
      }
    });
  }
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] {
      const auto queries = Clustered(20, 100 + r);
      while (writing) {
        for (const auto& query : queries) {
          absl::StatusOr<SearchResponse> found =
              store_->Search(Query("hnsw", query, 5));
          if (!found.ok()) ++failures;
        }
      }
    });
  }
  for (int w = 0; w < 4; ++w) threads[w].join();
  writing = false;
  for (size_t t = 4; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(Stats("hnsw").record_count(), 2000);
  EXPECT_GE(Recall("hnsw", points, internvideo::v1::METRIC_COSINE), 0.95);
}

TEST_F(IndexStoreTest, DeleteCollectionRemovesItsRecords) {
  const auto points = Clustered(100, 11);
  Create("gone", "HNSW16", internvideo::v1::METRIC_L2);
  Upsert("gone", points);
  ASSERT_TRUE(store_->Snapshot("gone").ok());
  ASSERT_TRUE(store_->DeleteCollection("gone").ok());
  EXPECT_EQ(store_->GetStats("gone").status().code(),
            absl::StatusCode::kNotFound);
  // The same name again starts empty, also after a restart (the old
  // snapshot must not come back).
  Create("gone", "HNSW16", internvideo::v1::METRIC_L2);
  Reopen();
  EXPECT_EQ(Stats("gone").record_count(), 0);
  EXPECT_EQ(Stats("gone").indexed_vector_count(), 0);
  EXPECT_EQ(store_->ListCollections().size(), 1u);
}

}  // namespace
}  // namespace iv::index
