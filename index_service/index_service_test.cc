// IndexService over real gRPC on loopback: bad inputs get precise statuses
// and leave the service healthy; text and video queries go through an
// EncoderService (a deterministic stand-in for the remote encoder, served
// over real gRPC); index_server survives kill -9 with every acknowledged
// upsert.
#include "index_service/index_service.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/serving/server.h"
#include "common/testing/server_process.h"
#include "common/testing/temp_dir.h"
#include "third_party/grpc_health/health.grpc.pb.h"

namespace iv::index {
namespace {

using internvideo::v1::IndexService;
using internvideo::v1::Record;
using internvideo::v1::SearchRequest;
using internvideo::v1::SearchResponse;

constexpr int kDim = 8;

std::vector<float> RandomVector(std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(kDim);
  for (float& x : v) x = normal(rng);
  return v;
}

Record MakeRecord(const std::string& id, const std::vector<float>& vector) {
  Record record;
  record.set_id(id);
  for (float x : vector) record.mutable_embedding()->add_values(x);
  return record;
}

// The encoder's API with a fixed table: "red" and "blue" map to unit axes
// 0 and 1; a video path "clip.mp4" to axis 2; anything else is NOT_FOUND.
class TableEncoder final : public internvideo::v1::EncoderService::Service {
 public:
  grpc::Status EmbedText(
      grpc::ServerContext*, const internvideo::v1::EmbedTextRequest* request,
      internvideo::v1::EmbedTextResponse* response) override {
    for (const std::string& text : request->texts()) {
      const int axis = text == "red" ? 0 : (text == "blue" ? 1 : -1);
      if (axis < 0) return grpc::Status(grpc::NOT_FOUND, "unknown text");
      *response->add_embeddings() = Axis(axis, request->model_id());
    }
    return grpc::Status::OK;
  }
  grpc::Status EmbedVideo(
      grpc::ServerContext*, const internvideo::v1::EmbedVideoRequest* request,
      internvideo::v1::EmbedVideoResponse* response) override {
    if (request->video().path() != "clip.mp4") {
      return grpc::Status(grpc::PERMISSION_DENIED,
                          "video.path: outside the video roots");
    }
    *response->mutable_video_embedding() = Axis(2, request->model_id());
    return grpc::Status::OK;
  }

 private:
  static internvideo::v1::Embedding Axis(int axis, const std::string& model) {
    internvideo::v1::Embedding embedding;
    for (int d = 0; d < kDim; ++d) embedding.add_values(d == axis ? 1.f : 0.f);
    embedding.mutable_model()->set_model_id(model.empty() ? "iv-tiny" : model);
    embedding.mutable_model()->set_version("step-1");
    return embedding;
  }
};

class IndexServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::FreshTempDir(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  // Starts the encoder stand-in (when asked) and the index service.
  void Start(bool with_encoder) {
    if (with_encoder) {
      absl::StatusOr<std::unique_ptr<serving::Server>> encoder =
          serving::Server::Start({}, {&encoder_service_});
      ASSERT_TRUE(encoder.ok()) << encoder.status();
      encoder_server_ = std::move(*encoder);
    }
    IndexStoreOptions store_options;
    store_options.data_dir = root_ + "/data";
    absl::StatusOr<std::unique_ptr<IndexStore>> store =
        IndexStore::Open(store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    IndexServiceOptions options;
    if (with_encoder) {
      absl::StatusOr<serving::Connection> encoder = serving::Connection::Open(
          absl::StrCat("127.0.0.1:", encoder_server_->port()), {});
      ASSERT_TRUE(encoder.ok());
      options.encoder = *encoder;
    }
    service_ = std::make_unique<IndexServiceImpl>(store_.get(), options);
    absl::StatusOr<std::unique_ptr<serving::Server>> server =
        serving::Server::Start({}, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_->SetServing(true);
    absl::StatusOr<serving::Connection> connection = serving::Connection::Open(
        absl::StrCat("127.0.0.1:", server_->port()), {});
    ASSERT_TRUE(connection.ok());
    connection_ = std::make_unique<serving::Connection>(*connection);
    stub_ = IndexService::NewStub(connection_->channel());
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    return connection_->NewContext(absl::Seconds(30));
  }

  grpc::Status CreateCollection(const std::string& name,
                                const std::string& factory,
                                const std::string& model_id = "") {
    internvideo::v1::CreateCollectionRequest request;
    request.mutable_collection()->set_name(name);
    request.mutable_collection()->set_dimension(kDim);
    request.mutable_collection()->set_index_factory(factory);
    request.mutable_collection()->set_model_id(model_id);
    internvideo::v1::Collection created;
    return stub_->CreateCollection(Context().get(), request, &created);
  }

  grpc::Status Upsert(const internvideo::v1::UpsertRequest& request) {
    internvideo::v1::UpsertResponse response;
    return stub_->Upsert(Context().get(), request, &response);
  }

  grpc::Status Search(const SearchRequest& request,
                      SearchResponse* response = nullptr) {
    SearchResponse ignored;
    return stub_->Search(Context().get(), request,
                         response != nullptr ? response : &ignored);
  }

  // The service answers health checks SERVING and still searches.
  void ExpectHealthy() {
    auto health = grpc::health::v1::Health::NewStub(connection_->channel());
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(Context().get(), request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
    SearchRequest search;
    search.set_collection("videos");
    search.set_k(1);
    for (int d = 0; d < kDim; ++d) search.mutable_vector()->add_values(1);
    SearchResponse found;
    ASSERT_TRUE(Search(search, &found).ok());
    EXPECT_EQ(found.hits_size(), 1);
  }

  std::string root_;
  TableEncoder encoder_service_;
  std::unique_ptr<serving::Server> encoder_server_;
  std::unique_ptr<IndexStore> store_;
  std::unique_ptr<IndexServiceImpl> service_;
  std::unique_ptr<serving::Server> server_;
  std::unique_ptr<serving::Connection> connection_;
  std::unique_ptr<IndexService::Stub> stub_;
};

// Each bad request: its code, and a message naming the field.
TEST_F(IndexServiceTest, BadInputsGetPreciseStatusesAndLeaveItHealthy) {
  Start(/*with_encoder=*/false);
  ASSERT_TRUE(CreateCollection("videos", "HNSW16").ok());
  std::mt19937 rng(1);
  internvideo::v1::UpsertRequest good;
  good.set_collection("videos");
  for (int i = 0; i < 20; ++i) {
    *good.add_records() = MakeRecord(absl::StrCat("v", i), RandomVector(rng));
  }
  ASSERT_TRUE(Upsert(good).ok());

  struct Case {
    std::string what;
    grpc::Status status;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  auto upsert_with = [&](auto change) {
    internvideo::v1::UpsertRequest request = good;
    change(request);
    return Upsert(request);
  };
  cases.push_back({"wrong dimension", upsert_with([](auto& r) {
                     r.mutable_records(2)->mutable_embedding()->add_values(1);
                   }),
                   grpc::INVALID_ARGUMENT,
                   "records[2].embedding.values: 9 values, collection "
                   "expects 8"});
  cases.push_back({"NaN", upsert_with([](auto& r) {
                     r.mutable_records(3)->mutable_embedding()->set_values(
                         4, std::nanf(""));
                   }),
                   grpc::INVALID_ARGUMENT,
                   "records[3].embedding.values[4]: not a finite number"});
  cases.push_back({"empty id", upsert_with([](auto& r) {
                     r.mutable_records(1)->set_id("");
                   }),
                   grpc::INVALID_ARGUMENT, "records[1].id: empty"});
  cases.push_back(
      {"duplicate id",
       upsert_with([](auto& r) { r.mutable_records(5)->set_id("v0"); }),
       grpc::INVALID_ARGUMENT, "records[5].id: 'v0' repeats records[0]"});
  cases.push_back(
      {"oversized metadata", upsert_with([](auto& r) {
         (*r.mutable_records(4)->mutable_metadata())["notes"].set_string_value(
             std::string(70000, 'x'));
       }),
       grpc::INVALID_ARGUMENT,
       "records[4].metadata: 70009 bytes, the limit is 65536"});
  cases.push_back({"bad segment", upsert_with([](auto& r) {
                     r.mutable_records(6)->mutable_segment()->set_start_s(5);
                     r.mutable_records(6)->mutable_segment()->set_end_s(4);
                   }),
                   grpc::INVALID_ARGUMENT, "records[6].segment: needs"});
  cases.push_back({"batch over the limit", upsert_with([&](auto& r) {
                     for (int i = 20; i <= 10000; ++i) {
                       *r.add_records() =
                           MakeRecord(absl::StrCat("v", i), RandomVector(rng));
                     }
                   }),
                   grpc::RESOURCE_EXHAUSTED,
                   "records: 10001 records in one upsert, the limit is "
                   "10000"});
  cases.push_back({"unknown collection",
                   upsert_with([](auto& r) { r.set_collection("nope"); }),
                   grpc::NOT_FOUND, "collection 'nope' not found"});
  cases.push_back({"duplicate collection", CreateCollection("videos", "Flat"),
                   grpc::ALREADY_EXISTS, "collection 'videos' already exists"});
  cases.push_back({"bad factory", CreateCollection("other", "HNSWx"),
                   grpc::INVALID_ARGUMENT,
                   "collection.index_factory: FAISS cannot parse 'HNSWx'"});
  cases.push_back({"bad name", CreateCollection("a/b", "Flat"),
                   grpc::INVALID_ARGUMENT, "collection.name: 'a/b'"});
  cases.push_back({"model mismatch",
                   [&] {
                     CreateCollection("tiny", "Flat", "iv-tiny");
                     internvideo::v1::UpsertRequest request = good;
                     request.set_collection("tiny");
                     request.mutable_records(0)
                         ->mutable_embedding()
                         ->mutable_model()
                         ->set_model_id("iv-base");
                     return Upsert(request);
                   }(),
                   grpc::FAILED_PRECONDITION,
                   "records[0].embedding.model.model_id: 'iv-base'"});

  SearchRequest search;
  search.set_collection("videos");
  search.set_k(5);
  for (float x : RandomVector(rng)) search.mutable_vector()->add_values(x);
  auto search_with = [&](auto change) {
    SearchRequest request = search;
    change(request);
    return Search(request);
  };
  cases.push_back({"k = 0", search_with([](auto& r) { r.set_k(0); }),
                   grpc::INVALID_ARGUMENT, "k: must be in [1, 1000], got 0"});
  cases.push_back(
      {"k = 10^9", search_with([](auto& r) { r.set_k(1000000000); }),
       grpc::INVALID_ARGUMENT, "k: must be in [1, 1000], got 1000000000"});
  cases.push_back(
      {"query NaN",
       search_with([](auto& r) { r.mutable_vector()->set_values(0, NAN); }),
       grpc::INVALID_ARGUMENT, "vector.values[0]: not a finite number"});
  cases.push_back({"query dimension", search_with([](auto& r) {
                     r.mutable_vector()->mutable_values()->RemoveLast();
                   }),
                   grpc::INVALID_ARGUMENT,
                   "vector.values: 7 values, collection expects 8"});
  cases.push_back({"no query", search_with([](auto& r) { r.clear_query(); }),
                   grpc::INVALID_ARGUMENT, "query: exactly one of"});
  cases.push_back({"search unknown collection",
                   search_with([](auto& r) { r.set_collection("nope"); }),
                   grpc::NOT_FOUND, "collection 'nope' not found"});
  cases.push_back(
      {"filter without key", search_with([](auto& r) {
         r.mutable_filter()->add_must()->mutable_equals()->set_int_value(1);
       }),
       grpc::INVALID_ARGUMENT, "filter.must[0].key: empty"});
  cases.push_back({"text without encoder",
                   search_with([](auto& r) { r.set_text("red"); }),
                   grpc::FAILED_PRECONDITION, "--encoder-address"});
  cases.push_back({"empty text", search_with([](auto& r) { r.set_text(""); }),
                   grpc::INVALID_ARGUMENT, "text: empty"});
  cases.push_back(
      {"100 kB text",
       search_with([](auto& r) { r.set_text(std::string(100 * 1024, 'a')); }),
       grpc::INVALID_ARGUMENT, "text: 102400 bytes, the limit is 4096"});
  {
    internvideo::v1::DeleteRequest request;
    request.set_collection("videos");
    internvideo::v1::DeleteResponse response;
    cases.push_back({"delete no ids",
                     stub_->Delete(Context().get(), request, &response),
                     grpc::INVALID_ARGUMENT, "ids: empty"});
  }
  {
    internvideo::v1::GetStatsRequest request;
    request.set_collection("nope");
    internvideo::v1::CollectionStats response;
    cases.push_back({"stats unknown",
                     stub_->GetStats(Context().get(), request, &response),
                     grpc::NOT_FOUND, "collection 'nope' not found"});
  }
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.error_code(), c.code)
        << c.what << ": " << c.status.error_message();
    EXPECT_TRUE(absl::StrContains(c.status.error_message(), c.message))
        << c.what << ": " << c.status.error_message();
  }
  // All or none: the bad upserts wrote nothing (still the 20 good records,
  // no tombstones from replacements).
  internvideo::v1::GetRequest get;
  get.set_collection("videos");
  get.add_ids("v2");
  get.set_include_vectors(true);
  internvideo::v1::GetResponse got;
  ASSERT_TRUE(stub_->Get(Context().get(), get, &got).ok());
  ASSERT_EQ(got.records_size(), 1);
  EXPECT_EQ(got.records(0).embedding().values_size(), kDim);
  internvideo::v1::GetStatsRequest stats_request;
  stats_request.set_collection("videos");
  internvideo::v1::CollectionStats stats;
  ASSERT_TRUE(stub_->GetStats(Context().get(), stats_request, &stats).ok());
  EXPECT_EQ(stats.record_count(), 20);
  EXPECT_EQ(stats.tombstone_count(), 0);
  ExpectHealthy();
}

TEST_F(IndexServiceTest, TextAndVideoQueriesGoThroughTheEncoder) {
  Start(/*with_encoder=*/true);
  ASSERT_TRUE(CreateCollection("videos", "Flat", "iv-tiny").ok());
  internvideo::v1::UpsertRequest request;
  request.set_collection("videos");
  // "red-ball" near axis 0, "blue-cube" near axis 1, "moment" near axis 2
  // as a segment of a longer video.
  std::vector<float> red(kDim, 0.1f), blue(kDim, 0.1f), moment(kDim, 0.1f);
  red[0] = 1;
  blue[1] = 1;
  moment[2] = 1;
  *request.add_records() = MakeRecord("red-ball", red);
  *request.add_records() = MakeRecord("blue-cube", blue);
  Record segment = MakeRecord("long.mp4#3", moment);
  segment.mutable_segment()->set_start_s(3);
  segment.mutable_segment()->set_end_s(5);
  (*segment.mutable_metadata())["path"].set_string_value("long.mp4");
  *request.add_records() = segment;
  ASSERT_TRUE(Upsert(request).ok());

  SearchRequest search;
  search.set_collection("videos");
  search.set_k(1);
  SearchResponse found;
  for (const std::string& text : {"red", "blue"}) {
    search.set_text(text);
    grpc::Status status = Search(search, &found);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(found.hits_size(), 1);
    EXPECT_EQ(found.hits(0).id(),
              text == std::string("red") ? "red-ball" : "blue-cube");
    EXPECT_EQ(found.query_model().model_id(), "iv-tiny");
    EXPECT_EQ(found.query_model().version(), "step-1");
  }
  search.mutable_video()->set_path("clip.mp4");
  ASSERT_TRUE(Search(search, &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).id(), "long.mp4#3");
  EXPECT_DOUBLE_EQ(found.hits(0).segment().start_s(), 3);
  EXPECT_DOUBLE_EQ(found.hits(0).segment().end_s(), 5);
  EXPECT_EQ(found.hits(0).metadata().at("path").string_value(), "long.mp4");

  // The encoder's errors come back with their code.
  search.mutable_video()->set_path("../../etc/passwd");
  grpc::Status denied = Search(search);
  EXPECT_EQ(denied.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(denied.error_message(), "video.path"));
  // An encoder that is down: UNAVAILABLE, naming it.
  encoder_server_->Shutdown();
  search.set_text("red");
  grpc::Status down = Search(search);
  EXPECT_EQ(down.error_code(), grpc::UNAVAILABLE) << down.error_message();
  EXPECT_TRUE(absl::StrContains(down.error_message(), "encoder service at"));
}

// index_server as a process, killed with SIGKILL right after its last
// acknowledged upsert: after a restart on the same folder every record is
// there and is its own nearest neighbour.
TEST_F(IndexServiceTest, AcknowledgedUpsertsSurviveKillDashNine) {
  auto start = [this](const std::string& log) {
    absl::StatusOr<test::ServerProcess> server = test::StartServerProcess(
        absl::StrCat("index_service/index_server --address 127.0.0.1:0 "
                     "--metrics-address '' --data-dir ",
                     root_, "/data"),
        log);
    EXPECT_TRUE(server.ok()) << server.status();
    absl::StatusOr<serving::Connection> connection = serving::Connection::Open(
        absl::StrCat("127.0.0.1:", server.ok() ? server->port : 1), {});
    EXPECT_TRUE(connection.ok());
    connection_ = std::make_unique<serving::Connection>(*connection);
    stub_ = IndexService::NewStub(connection_->channel());
    return server.ok() ? *server : test::ServerProcess{};
  };

  const test::ServerProcess first = start(root_ + "/server1.log");
  ASSERT_TRUE(CreateCollection("videos", "HNSW16").ok());
  std::mt19937 rng(3);
  std::vector<std::vector<float>> vectors;
  constexpr int kRecords = 300;
  for (int batch = 0; batch < kRecords / 10; ++batch) {
    internvideo::v1::UpsertRequest request;
    request.set_collection("videos");
    for (int i = batch * 10; i < (batch + 1) * 10; ++i) {
      vectors.push_back(RandomVector(rng));
      *request.add_records() = MakeRecord(absl::StrCat("v", i), vectors[i]);
    }
    ASSERT_TRUE(Upsert(request).ok());
  }
  // No shutdown, no flush: only the synced WAL remains.
  test::StopServerProcess(first, SIGKILL);

  const test::ServerProcess second = start(root_ + "/server2.log");
  internvideo::v1::GetRequest get;
  get.set_collection("videos");
  for (int i = 0; i < kRecords; ++i) get.add_ids(absl::StrCat("v", i));
  internvideo::v1::GetResponse got;
  grpc::Status status = stub_->Get(Context().get(), get, &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(got.records_size(), kRecords);
  EXPECT_EQ(got.missing_ids_size(), 0);
  int found_self = 0;
  for (int i = 0; i < kRecords; ++i) {
    SearchRequest search;
    search.set_collection("videos");
    search.set_k(1);
    for (float x : vectors[i]) search.mutable_vector()->add_values(x);
    SearchResponse found;
    ASSERT_TRUE(Search(search, &found).ok());
    found_self +=
        found.hits_size() == 1 && found.hits(0).id() == absl::StrCat("v", i);
  }
  EXPECT_GE(found_self, kRecords - 3);  // HNSW is approximate
  test::StopServerProcess(second, SIGTERM);
}

}  // namespace
}  // namespace iv::index
