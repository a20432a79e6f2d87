// IndexService over real gRPC on loopback: bad inputs get precise statuses
// and leave the service healthy; text and video queries go through an
// EncoderService (a deterministic stand-in for the remote encoder, served
// over real gRPC); index_server survives kill -9 with every acknowledged
// upsert.
#include "index_service/index_service.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
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
// 0 and 1; a video path "clip.mp4" to axis 2; "bad" is INVALID_ARGUMENT,
// "crash" INTERNAL, "slow" answers after a second; anything else is
// NOT_FOUND. Remembers the credentials of the last call it answered.
class TableEncoder final : public internvideo::v1::EncoderService::Service {
 public:
  grpc::Status EmbedText(
      grpc::ServerContext* context,
      const internvideo::v1::EmbedTextRequest* request,
      internvideo::v1::EmbedTextResponse* response) override {
    Remember(*context);
    for (const std::string& text : request->texts()) {
      if (text == "bad") {
        return grpc::Status(grpc::INVALID_ARGUMENT, "texts[0]: bad token");
      }
      if (text == "crash") {
        return grpc::Status(grpc::INTERNAL, "secret /srv/models/iv.pt broke");
      }
      if (text == "slow") absl::SleepFor(absl::Seconds(1));
      const int axis = text == "red" ? 0 : (text == "blue" ? 1 : -1);
      if (axis < 0) return grpc::Status(grpc::NOT_FOUND, "unknown text");
      *response->add_embeddings() = Axis(axis, request->model_id());
    }
    return grpc::Status::OK;
  }
  grpc::Status EmbedVideo(
      grpc::ServerContext* context,
      const internvideo::v1::EmbedVideoRequest* request,
      internvideo::v1::EmbedVideoResponse* response) override {
    Remember(*context);
    if (request->video().path() != "clip.mp4") {
      return grpc::Status(grpc::PERMISSION_DENIED,
                          "video.path: outside the video roots");
    }
    *response->mutable_video_embedding() = Axis(2, request->model_id());
    return grpc::Status::OK;
  }

  // The "authorization" of the last call ("" = none), and the calls seen.
  std::string last_authorization() {
    absl::MutexLock lock(&mutex_);
    return last_authorization_;
  }
  int calls() {
    absl::MutexLock lock(&mutex_);
    return calls_;
  }

 private:
  void Remember(const grpc::ServerContext& context) {
    auto found = context.client_metadata().find("authorization");
    absl::MutexLock lock(&mutex_);
    ++calls_;
    last_authorization_ =
        found == context.client_metadata().end()
            ? ""
            : std::string(found->second.data(), found->second.size());
  }

  static internvideo::v1::Embedding Axis(int axis, const std::string& model) {
    internvideo::v1::Embedding embedding;
    for (int d = 0; d < kDim; ++d) embedding.add_values(d == axis ? 1.f : 0.f);
    embedding.mutable_model()->set_model_id(model.empty() ? "iv-tiny" : model);
    embedding.mutable_model()->set_version("step-1");
    return embedding;
  }

  absl::Mutex mutex_;
  std::string last_authorization_;
  int calls_ = 0;
};

// Options of the servers a test starts, to change before they start.
struct ServerSetup {
  serving::ServerOptions encoder;  // the encoder stand-in's server
  IndexStoreOptions store;
  IndexServiceOptions service;
};

class IndexServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::FreshTempDir(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  // Starts the encoder stand-in (when asked) and the index service, with
  // the options `configure` sets.
  void Start(bool with_encoder,
             const std::function<void(ServerSetup&)>& configure = nullptr) {
    ServerSetup setup;
    setup.store.data_dir = root_ + "/data";
    if (configure) configure(setup);
    if (with_encoder) {
      absl::StatusOr<std::unique_ptr<serving::Server>> encoder =
          serving::Server::Start(setup.encoder, {&encoder_service_});
      ASSERT_TRUE(encoder.ok()) << encoder.status();
      encoder_server_ = std::move(*encoder);
      encoder_server_->SetServing(true);
    }
    absl::StatusOr<std::unique_ptr<IndexStore>> store =
        IndexStore::Open(setup.store);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    if (with_encoder) {
      absl::StatusOr<serving::Connection> encoder = serving::Connection::Open(
          absl::StrCat("127.0.0.1:", encoder_server_->port()), {});
      ASSERT_TRUE(encoder.ok());
      setup.service.encoder = *encoder;
    }
    service_ = std::make_unique<IndexServiceImpl>(store_.get(), setup.service);
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

  // A call's context; `authorization` ("" = none) is sent as it is.
  std::unique_ptr<grpc::ClientContext> Context(
      const std::string& authorization = "") {
    std::unique_ptr<grpc::ClientContext> context =
        connection_->NewContext(absl::Seconds(30));
    if (!authorization.empty()) {
      context->AddMetadata("authorization", authorization);
    }
    return context;
  }

  grpc::Status CreateCollection(const std::string& name,
                                const std::string& factory,
                                const std::string& model_id = "",
                                const internvideo::v1::IndexParams& params =
                                    internvideo::v1::IndexParams()) {
    internvideo::v1::CreateCollectionRequest request;
    request.mutable_collection()->set_name(name);
    request.mutable_collection()->set_dimension(kDim);
    request.mutable_collection()->set_index_factory(factory);
    request.mutable_collection()->set_model_id(model_id);
    *request.mutable_collection()->mutable_params() = params;
    internvideo::v1::Collection created;
    return stub_->CreateCollection(Context().get(), request, &created);
  }

  grpc::Status Upsert(const internvideo::v1::UpsertRequest& request,
                      internvideo::v1::UpsertResponse* response = nullptr) {
    internvideo::v1::UpsertResponse ignored;
    return stub_->Upsert(Context().get(), request,
                         response != nullptr ? response : &ignored);
  }

  // Creates `name` (Flat unless `factory` says otherwise) holding `count`
  // random records "v0", "v1", ...
  void CreateWithRecords(const std::string& name, int count,
                         const std::string& factory = "Flat") {
    ASSERT_TRUE(CreateCollection(name, factory).ok());
    std::mt19937 rng(7);
    internvideo::v1::UpsertRequest request;
    request.set_collection(name);
    for (int i = 0; i < count; ++i) {
      *request.add_records() =
          MakeRecord(absl::StrCat("v", i), RandomVector(rng));
    }
    ASSERT_TRUE(Upsert(request).ok());
  }

  grpc::Status Search(const SearchRequest& request,
                      SearchResponse* response = nullptr,
                      const std::string& authorization = "") {
    SearchResponse ignored;
    return stub_->Search(Context(authorization).get(), request,
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
  for (const char* text : {"red", "blue"}) {
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
  EXPECT_TRUE(absl::StrContains(down.error_message(),
                                "encoder service unavailable (UNAVAILABLE)"))
      << down.error_message();
}

// The encoder's errors as the index's: what the caller can fix keeps its
// code and says it came from the encoder; a slow encoder is UNAVAILABLE;
// the encoder's internal failure text is not passed on.
TEST_F(IndexServiceTest, EncoderErrorsMapToTheIndexsCodes) {
  Start(/*with_encoder=*/true, [](ServerSetup& setup) {
    setup.service.encoder_timeout = absl::Milliseconds(300);
  });
  CreateWithRecords("videos", 5);
  SearchRequest search;
  search.set_collection("videos");
  search.set_k(1);
  struct Case {
    std::string text;
    grpc::StatusCode code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"bad", grpc::INVALID_ARGUMENT,
            "the encoder service refused the query: texts[0]: bad token"},
           {"green", grpc::NOT_FOUND,
            "the encoder service refused the query: unknown text"},
           {"slow", grpc::UNAVAILABLE,
            "encoder service unavailable (DEADLINE_EXCEEDED); retry"},
           {"crash", grpc::INTERNAL,
            "the encoder service failed to embed the query (INTERNAL)"},
       }) {
    search.set_text(c.text);
    grpc::Status status = Search(search);
    EXPECT_EQ(status.error_code(), c.code)
        << c.text << ": " << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), c.message))
        << c.text << ": " << status.error_message();
    EXPECT_FALSE(absl::StrContains(status.error_message(), "secret"))
        << status.error_message();
  }
  search.set_text("red");
  ASSERT_TRUE(Search(search).ok());
  ExpectHealthy();
}

// A confused deputy no more: a video path is embedded on the caller's own
// credentials, never on the index's key; a caller's key is forwarded as it
// is; text from a caller without credentials goes with the index's key.
TEST_F(IndexServiceTest, EncoderJudgesTheCallersCredentials) {
  Start(/*with_encoder=*/true, [](ServerSetup& setup) {
    setup.encoder.api_key = "team-key";
    setup.service.encoder_api_key = "team-key";
  });
  CreateWithRecords("videos", 5);
  SearchRequest text;
  text.set_collection("videos");
  text.set_k(1);
  text.set_text("red");
  SearchRequest video = text;
  video.mutable_video()->set_path("clip.mp4");

  // Text without credentials: the index's key.
  grpc::Status status = Search(text);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(encoder_service_.last_authorization(), "Bearer team-key");

  // A video path without credentials never reaches the encoder's handler.
  const int calls = encoder_service_.calls();
  status = Search(video);
  EXPECT_EQ(status.error_code(), grpc::UNAUTHENTICATED)
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(
      status.error_message(),
      "the encoder service refused the query: missing or wrong API key"))
      << status.error_message();
  EXPECT_EQ(encoder_service_.calls(), calls);

  // The caller's own key, forwarded: accepted when the encoder takes it...
  status = Search(video, nullptr, "Bearer team-key");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(encoder_service_.last_authorization(), "Bearer team-key");
  // ...and refused when it does not, for video and text alike (the index's
  // key does not stand in for a wrong one).
  for (const SearchRequest* request : {&video, &text}) {
    status = Search(*request, nullptr, "Bearer someone-else");
    EXPECT_EQ(status.error_code(), grpc::UNAUTHENTICATED)
        << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(),
                                  "the encoder service refused the query"))
        << status.error_message();
  }
  EXPECT_EQ(encoder_service_.calls(), calls + 1);
  ExpectHealthy();
}

// Sizes over the limits (README "Limits") are refused before FAISS builds
// anything, naming the field; the limits themselves are accepted.
TEST_F(IndexServiceTest, OversizedIndexesAndSearchParametersAreRefused) {
  Start(/*with_encoder=*/false);
  CreateWithRecords("videos", 20, "HNSW16");
  CreateWithRecords("lists", 20, "IVF64,Flat");
  internvideo::v1::IndexParams ef_search, ef_construction, nprobe, past_lists;
  ef_search.set_hnsw_ef_search(40000);
  ef_construction.set_hnsw_ef_construction(100000);
  nprobe.set_ivf_nprobe(70000);
  past_lists.set_ivf_nprobe(100);
  struct Case {
    std::string what;
    grpc::Status status;
    std::string message;
  };
  std::vector<Case> cases = {
      {"IVF lists", CreateCollection("a", "IVF200000000,Flat"),
       "collection.index_factory: 'IVF200000000,Flat': IVF list count "
       "200000000 is over the limit 65536"},
      {"HNSW M", CreateCollection("a", "HNSW100000"),
       "collection.index_factory: 'HNSW100000': graph degree M 100000 is over "
       "the limit 2048"},
      {"coarse HNSW M", CreateCollection("a", "IVF64_HNSW4096,Flat"),
       "graph degree M 4096 is over the limit 2048"},
      {"PQ bits", CreateCollection("a", "IVF16,PQ4x24"),
       "collection.index_factory: 'IVF16,PQ4x24': bits per code 24 is over "
       "the limit 16"},
      {"IMI bits", CreateCollection("a", "IMI2x12,Flat"),
       "IMI bits per half 12 is over the limit 8"},
      {"PQ M", CreateCollection("a", "PQ99999999999999999999"),
       "size 99999999999999999999 is over the limit 65536"},
      {"PQ M of 0", CreateCollection("a", "IVF4,PQ0"),
       "collection.index_factory: 'IVF4,PQ0': a size of 0 (at 7); every "
       "count and size is at least 1"},
      {"0 bits", CreateCollection("a", "PQ4x0"), "a size of 0 (at 4)"},
      {"efSearch", CreateCollection("a", "HNSW16", "", ef_search),
       "collection.params.hnsw_ef_search: must be in [0, 32768] (0: the "
       "default), got 40000"},
      {"efConstruction", CreateCollection("a", "HNSW16", "", ef_construction),
       "collection.params.hnsw_ef_construction: must be in [0, 32768]"},
      {"nprobe", CreateCollection("a", "IVF64,Flat", "", nprobe),
       "collection.params.ivf_nprobe: must be in [0, 65536] (0: the "
       "default), got 70000"},
      {"nprobe past the lists",
       CreateCollection("a", "IVF64,Flat", "", past_lists),
       "collection.params.ivf_nprobe: 100 exceeds the 64 lists of "
       "'IVF64,Flat'"},
  };
  SearchRequest search;
  search.set_k(5);
  for (int d = 0; d < kDim; ++d) search.mutable_vector()->add_values(1);
  search.set_collection("videos");
  search.set_hnsw_ef_search(32769);
  cases.push_back({"search efSearch", Search(search),
                   "hnsw_ef_search: must be in [0, 32768] (0: the "
                   "collection's default), got 32769"});
  search.set_hnsw_ef_search(0);
  search.set_ivf_nprobe(65537);
  cases.push_back(
      {"search nprobe", Search(search), "ivf_nprobe: must be in [0, 65536]"});
  search.set_collection("lists");
  search.set_ivf_nprobe(65);
  cases.push_back({"search nprobe past the lists", Search(search),
                   "ivf_nprobe: must be in [0, 64] (0: the collection's "
                   "default; its index has 64 lists), got 65"});
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.error_code(), grpc::INVALID_ARGUMENT)
        << c.what << ": " << c.status.error_message();
    EXPECT_TRUE(absl::StrContains(c.status.error_message(), c.message))
        << c.what << ": " << c.status.error_message();
  }
  // At the limits: accepted.
  internvideo::v1::IndexParams most;
  most.set_hnsw_ef_search(32768);
  most.set_ivf_nprobe(65536);
  for (const auto& [name, factory] :
       std::vector<std::pair<std::string, std::string>>{
           {"most", "IVF65536,PQ4x8"},
           {"wide", "IVF65536,Flat"},
           {"codes", "PQ4x16"},
           {"graph", "HNSW2048"}}) {
    grpc::Status status = CreateCollection(name, factory, "", most);
    EXPECT_TRUE(status.ok()) << factory << ": " << status.error_message();
  }
  search.set_ivf_nprobe(64);
  SearchResponse found;
  ASSERT_TRUE(Search(search, &found).ok());
  EXPECT_EQ(found.hits_size(), 5);
  search.set_collection("videos");
  search.set_ivf_nprobe(0);
  search.set_hnsw_ef_search(32768);
  ASSERT_TRUE(Search(search, &found).ok());
  EXPECT_EQ(found.hits_size(), 5);
  ExpectHealthy();
}

// DeleteCollection waits for the searches running on its collection, but
// not while holding the store-wide lock: calls on other collections go on.
TEST_F(IndexServiceTest, DeleteCollectionWaitingForASearchStallsNoOther) {
  absl::Notification search_holds_lock, drop_started, release;
  Start(/*with_encoder=*/false, [&](ServerSetup& setup) {
    setup.store.collection.test_hook = [&](absl::string_view point,
                                           const std::string& collection) {
      if (collection != "busy") return;
      if (point == "search") {
        search_holds_lock.Notify();
        release.WaitForNotification();
      } else if (point == "drop") {
        drop_started.Notify();
      }
    };
  });
  CreateWithRecords("videos", 5);
  CreateWithRecords("busy", 5);
  SearchRequest search;
  search.set_k(1);
  for (int d = 0; d < kDim; ++d) search.mutable_vector()->add_values(1);
  search.set_collection("busy");
  grpc::Status long_search, deleted;
  std::thread searcher([&] { long_search = Search(search); });
  search_holds_lock.WaitForNotification();
  std::thread deleter([&] {
    internvideo::v1::DeleteCollectionRequest request;
    request.set_name("busy");
    internvideo::v1::DeleteCollectionResponse response;
    deleted = stub_->DeleteCollection(Context().get(), request, &response);
  });
  drop_started.WaitForNotification();

  // Meanwhile, other collections are created, written and searched.
  std::future<void> others = std::async(std::launch::async, [&] {
    EXPECT_TRUE(CreateCollection("fresh", "Flat").ok());
    internvideo::v1::UpsertRequest upsert;
    upsert.set_collection("fresh");
    *upsert.add_records() = MakeRecord("one", std::vector<float>(kDim, 1));
    EXPECT_TRUE(Upsert(upsert).ok());
    SearchRequest other = search;
    for (const char* name : {"fresh", "videos"}) {
      other.set_collection(name);
      SearchResponse found;
      EXPECT_TRUE(Search(other, &found).ok());
      EXPECT_EQ(found.hits_size(), 1);
    }
  });
  EXPECT_EQ(others.wait_for(std::chrono::seconds(20)),
            std::future_status::ready)
      << "calls on other collections waited for the deletion";
  release.Notify();
  searcher.join();
  deleter.join();
  others.wait();
  EXPECT_TRUE(long_search.ok()) << long_search.error_message();
  EXPECT_TRUE(deleted.ok()) << deleted.error_message();
  search.set_collection("busy");
  grpc::Status gone = Search(search);
  EXPECT_EQ(gone.error_code(), grpc::NOT_FOUND);
  EXPECT_TRUE(
      absl::StrContains(gone.error_message(), "collection 'busy' not found"));
  ExpectHealthy();
}

// Once its write is synced an upsert is acknowledged, even when FAISS then
// fails to add the vectors: the index is behind until the next write
// rebuilds it from RocksDB.
TEST_F(IndexServiceTest, SyncedUpsertIsAcknowledgedWhenTheIndexFails) {
  std::atomic<bool> fail_adds{false};
  Start(/*with_encoder=*/false, [&](ServerSetup& setup) {
    setup.store.collection.test_hook = [&](absl::string_view point,
                                           const std::string&) {
      if (point == "add" && fail_adds) throw std::runtime_error("no memory");
    };
  });
  CreateWithRecords("videos", 20);
  std::vector<float> late(kDim, 0.f);
  late[3] = 1;
  internvideo::v1::UpsertRequest upsert;
  upsert.set_collection("videos");
  *upsert.add_records() = MakeRecord("late", late);
  fail_adds = true;
  internvideo::v1::UpsertResponse upserted;
  grpc::Status status = Upsert(upsert, &upserted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(upserted.upserted_count(), 1);
  fail_adds = false;

  // Durable and readable; searches still answer (without it for now).
  internvideo::v1::GetRequest get;
  get.set_collection("videos");
  get.add_ids("late");
  internvideo::v1::GetResponse got;
  ASSERT_TRUE(stub_->Get(Context().get(), get, &got).ok());
  EXPECT_EQ(got.records_size(), 1);
  ExpectHealthy();
  SearchRequest search;
  search.set_collection("videos");
  search.set_k(1);
  for (float x : late) search.mutable_vector()->add_values(x);
  SearchResponse found;
  ASSERT_TRUE(Search(search, &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_NE(found.hits(0).id(), "late");

  // The next write rebuilds the index, and the record is found.
  upsert.mutable_records(0)->set_id("next");
  ASSERT_TRUE(Upsert(upsert).ok());
  ASSERT_TRUE(Search(search, &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_TRUE(found.hits(0).id() == "late" || found.hits(0).id() == "next")
      << found.hits(0).id();
  internvideo::v1::GetStatsRequest stats_request;
  stats_request.set_collection("videos");
  internvideo::v1::CollectionStats stats;
  ASSERT_TRUE(stub_->GetStats(Context().get(), stats_request, &stats).ok());
  EXPECT_EQ(stats.record_count(), 22);
  EXPECT_EQ(stats.indexed_vector_count(), 22);
}

// A snapshot whose file cannot be written whole (here the process's file
// size limit: the write fails with EFBIG) is not committed: the previous
// snapshot stays, no temporary file is left, and the service goes on.
TEST_F(IndexServiceTest, SnapshotThatCannotBeWrittenIsNotCommitted) {
  Start(/*with_encoder=*/false);
  CreateWithRecords("videos", 20);
  internvideo::v1::SnapshotRequest request;
  request.set_collection("videos");
  internvideo::v1::SnapshotResponse first;
  ASSERT_TRUE(stub_->Snapshot(Context().get(), request, &first).ok());
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = read(first.path());
  ASSERT_FALSE(before.empty());
  internvideo::v1::UpsertRequest upsert;
  upsert.set_collection("videos");
  *upsert.add_records() = MakeRecord("more", std::vector<float>(kDim, 1));
  ASSERT_TRUE(Upsert(upsert).ok());

  // Files may not grow past 64 bytes while the snapshot is taken.
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* const old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 64;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  internvideo::v1::SnapshotResponse failed;
  grpc::Status status = stub_->Snapshot(Context().get(), request, &failed);
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, old_handler);

  EXPECT_EQ(status.error_code(), grpc::OUT_OF_RANGE) << status.error_message();
  EXPECT_TRUE(absl::StrContains(
      status.error_message(),
      "snapshot of collection 'videos' not written (the previous one, if "
      "any, is kept): cannot write"))
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "File too large"))
      << status.error_message();
  EXPECT_EQ(read(first.path()), before);
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(first.path()).parent_path())) {
    EXPECT_EQ(entry.path().string(), first.path()) << "left behind";
  }
  ExpectHealthy();
  internvideo::v1::SnapshotResponse second;
  ASSERT_TRUE(stub_->Snapshot(Context().get(), request, &second).ok());
  EXPECT_EQ(second.record_count(), 21);
  EXPECT_NE(read(first.path()), before);
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
