// The batch indexer against the real encoder and index services, run as
// processes on loopback with a tiny random-weight model: what it writes,
// what it skips on a second run, what it redoes after a change or an
// interruption, and that a broken file fails alone.
#include "tools/iv/ingest.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "common/process/command.h"
#include "common/serving/connection.h"
#include "common/synthworld/renderer.h"
#include "common/testing/server_process.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "protos/index_service.grpc.pb.h"

namespace iv::cli {
namespace {

namespace fs = std::filesystem;
namespace v1 = internvideo::v1;

// sha256sum: an implementation independent of the one under test.
std::string Sha256Sum(const std::string& path) {
  return process::RunCommand("sha256sum '" + path + "'").output.substr(0, 64);
}

class IngestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::FreshTempDir("ingest"));
    synthworld::SynthOptions world;
    world.out_dir = *root_ + "/library";
    world.seed = 11;
    world.rendering.size = 64;
    world.train_clips = world.val_clips = 0;
    world.test_clips = 6;
    world.test_untrimmed = 1;
    ASSERT_TRUE(synthworld::RenderWorld(world, {}).ok());
    std::ofstream(*root_ + "/library/clips/broken.mp4") << "not a video";
    std::ofstream(*root_ + "/library/notes.txt") << "not a video either";
    ASSERT_TRUE(model::testing::WriteTinyCheckpoint(*root_ + "/model", 1).ok());

    absl::StatusOr<test::ServerProcess> encoder = test::StartServerProcess(
        absl::StrCat("encoder_service/encoder_server --address 127.0.0.1:0 "
                     "--metrics-address '' --model-dir ",
                     *root_, "/model --allowed-roots ", *root_),
        *root_ + "/encoder.log");
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    encoder_ = new test::ServerProcess(*encoder);
    ASSERT_TRUE(test::WaitUntilServing(*encoder_).ok());
    absl::StatusOr<test::ServerProcess> index = test::StartServerProcess(
        absl::StrCat("index_service/index_server --address 127.0.0.1:0 "
                     "--metrics-address '' --data-dir ",
                     *root_,
                     "/index --encoder-address 127.0.0.1:", encoder_->port),
        *root_ + "/index.log");
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = new test::ServerProcess(*index);
  }

  static void TearDownTestSuite() {
    if (index_) test::StopServerProcess(*index_, SIGTERM);
    if (encoder_) test::StopServerProcess(*encoder_, SIGTERM);
  }

  void SetUp() override {
    encoder_connection_ =
        std::make_unique<serving::Connection>(*serving::Connection::Open(
            absl::StrCat("127.0.0.1:", encoder_->port), {}));
    index_connection_ =
        std::make_unique<serving::Connection>(*serving::Connection::Open(
            absl::StrCat("127.0.0.1:", index_->port), {}));
    stub_ = v1::IndexService::NewStub(index_connection_->channel());
  }

  IngestSummary IngestLibrary() {
    IngestOptions options;
    options.paths = {*root_ + "/library"};
    options.collection = "library";
    options.index_factory = "Flat";
    options.manifests = {*root_ + "/library/test.jsonl",
                         *root_ + "/library/test_untrimmed.jsonl"};
    options.jobs = 2;
    absl::StatusOr<IngestSummary> summary =
        Ingest(options, *encoder_connection_, *index_connection_);
    EXPECT_TRUE(summary.ok()) << summary.status();
    return summary.ok() ? *summary : IngestSummary{};
  }

  v1::GetResponse Get(const std::vector<std::string>& ids) {
    v1::GetRequest request;
    request.set_collection("library");
    request.set_include_vectors(true);
    for (const std::string& id : ids) request.add_ids(id);
    v1::GetResponse response;
    grpc::Status status =
        stub_->Get(index_connection_->NewContext(absl::Seconds(30)).get(),
                   request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::string Clip(int i) {
    return fs::canonical(*root_ + "/library/clips/" +
                         absl::StrCat("test_0000", i, ".mp4"))
        .string();
  }

  static std::string* root_;
  static test::ServerProcess* encoder_;
  static test::ServerProcess* index_;
  std::unique_ptr<serving::Connection> encoder_connection_;
  std::unique_ptr<serving::Connection> index_connection_;
  std::unique_ptr<v1::IndexService::Stub> stub_;
};

std::string* IngestTest::root_ = nullptr;
test::ServerProcess* IngestTest::encoder_ = nullptr;
test::ServerProcess* IngestTest::index_ = nullptr;

TEST_F(IngestTest, IndexesSkipsAndRedoes) {
  // First run: 6 clips + 1 untrimmed video indexed, the broken file listed.
  IngestSummary first = IngestLibrary();
  EXPECT_EQ(first.found, 8);  // notes.txt is not a video
  EXPECT_EQ(first.indexed, 7);
  EXPECT_EQ(first.failed, 1);
  ASSERT_EQ(first.errors.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(first.errors[0].first, "broken.mp4"));
  EXPECT_TRUE(absl::StartsWith(first.errors[0].second, "INVALID_ARGUMENT"))
      << first.errors[0].second;
  // A 2 s clip has one 2 s window; the 8-16 s video at least 7 more.
  EXPECT_GE(first.segments, 6 + 7);

  v1::GetResponse got = Get({Clip(0), Clip(0) + "#segment=0"});
  ASSERT_EQ(got.records_size(), 2) << got.DebugString();
  const v1::Record& whole = got.records(0);
  const auto& metadata = whole.metadata();
  EXPECT_EQ(metadata.at("path").string_value(), Clip(0));
  EXPECT_EQ(metadata.at("size_bytes").int_value(),
            static_cast<int64_t>(fs::file_size(Clip(0))));
  EXPECT_EQ(metadata.at("content_hash").string_value(), Sha256Sum(Clip(0)));
  EXPECT_NEAR(metadata.at("duration_s").double_value(), 2.0, 0.1);
  // Labels from the manifest, on the whole record and on its segments.
  const std::string manifest =
      test::ReadTextFile(*root_ + "/library/test.jsonl");
  const std::string first_line = manifest.substr(0, manifest.find('\n'));
  EXPECT_TRUE(absl::StrContains(
      first_line, absl::StrCat("\"action\":\"",
                               metadata.at("action").string_value(), "\"")))
      << first_line;
  EXPECT_TRUE(absl::StrContains(
      first_line, absl::StrCat("\"captions\":[\"",
                               metadata.at("caption").string_value(), "\"")));
  EXPECT_EQ(got.records(1).metadata().at("color").string_value(),
            metadata.at("color").string_value());
  EXPECT_FALSE(whole.has_segment());
  EXPECT_TRUE(got.records(1).has_segment());
  EXPECT_NEAR(got.records(1).segment().end_s(), 2.0, 0.1);

  // The whole-video vector finds its own record first.
  v1::SearchRequest search;
  search.set_collection("library");
  search.set_k(1);
  search.set_scope(v1::SEGMENT_SCOPE_WHOLE_VIDEOS);
  *search.mutable_vector() = whole.embedding();
  v1::SearchResponse found;
  ASSERT_TRUE(
      stub_
          ->Search(index_connection_->NewContext(absl::Seconds(30)).get(),
                   search, &found)
          .ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).id(), Clip(0));

  // Second run: nothing changed, nothing embedded.
  IngestSummary second = IngestLibrary();
  EXPECT_EQ(second.indexed, 0);
  EXPECT_EQ(second.skipped, 7);
  EXPECT_EQ(second.failed, 1);

  // A changed file (clip 1's bytes now clip 2's) is redone, and an
  // interrupted one (segments written, whole record not) is done again.
  fs::copy_file(Clip(2), Clip(1), fs::copy_options::overwrite_existing);
  v1::DeleteRequest interrupted;
  interrupted.set_collection("library");
  interrupted.add_ids(Clip(3));
  v1::DeleteResponse deleted;
  ASSERT_TRUE(
      stub_
          ->Delete(index_connection_->NewContext(absl::Seconds(30)).get(),
                   interrupted, &deleted)
          .ok());
  IngestSummary third = IngestLibrary();
  EXPECT_EQ(third.indexed, 2);
  EXPECT_EQ(third.skipped, 5);
  v1::GetResponse changed = Get({Clip(1), Clip(2), Clip(3)});
  ASSERT_EQ(changed.records_size(), 3);
  EXPECT_EQ(changed.records(0).metadata().at("content_hash").string_value(),
            Sha256Sum(Clip(2)));
  // Same bytes, same embedding.
  for (int i = 0; i < changed.records(0).embedding().values_size(); ++i) {
    EXPECT_NEAR(changed.records(0).embedding().values(i),
                changed.records(1).embedding().values(i), 1e-5);
  }
}

// A video with more moments than the encoder cuts in one call
// (--max-clip-rows 4): the whole video alone, then its moments a span at a
// time; the same moments as one call makes.
TEST_F(IngestTest, LongVideosAreEmbeddedASpanAtATime) {
  IngestLibrary();
  absl::StatusOr<test::ServerProcess> small = test::StartServerProcess(
      absl::StrCat("encoder_service/encoder_server --address 127.0.0.1:0 "
                   "--metrics-address '' --max-clip-rows 4 --model-dir ",
                   *root_, "/model --allowed-roots ", *root_),
      *root_ + "/small_encoder.log");
  ASSERT_TRUE(small.ok()) << small.status();
  ASSERT_TRUE(test::WaitUntilServing(*small).ok());
  absl::StatusOr<serving::Connection> connection =
      serving::Connection::Open(absl::StrCat("127.0.0.1:", small->port), {});
  ASSERT_TRUE(connection.ok());
  IngestOptions options;
  options.paths = {*root_ + "/library/untrimmed"};
  options.collection = "spans";
  options.index_factory = "Flat";
  absl::StatusOr<IngestSummary> summary =
      Ingest(options, *connection, *index_connection_);
  test::StopServerProcess(*small, SIGTERM);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->indexed, 1)
      << test::ReadTextFile(*root_ + "/small_encoder.log");
  EXPECT_GE(summary->segments, 7);

  std::string video;
  for (const auto& entry :
       fs::directory_iterator(*root_ + "/library/untrimmed")) {
    if (entry.path().extension() == ".mp4") {
      video = fs::canonical(entry.path()).string();
    }
  }
  std::vector<std::string> ids = {video};
  for (int i = 0; i < summary->segments; ++i) {
    ids.push_back(absl::StrCat(video, "#segment=", i));
  }
  const v1::GetResponse whole_call = Get(ids);
  v1::GetRequest request;
  request.set_collection("spans");
  request.set_include_vectors(true);
  for (const std::string& id : ids) request.add_ids(id);
  v1::GetResponse by_spans;
  ASSERT_TRUE(stub_
                  ->Get(index_connection_->NewContext(absl::Seconds(30)).get(),
                        request, &by_spans)
                  .ok());
  ASSERT_EQ(whole_call.records_size(), static_cast<int>(ids.size()));
  ASSERT_EQ(by_spans.records_size(), static_cast<int>(ids.size()));
  EXPECT_EQ(by_spans.records(0).metadata().at("segment_count").int_value(),
            summary->segments);
  EXPECT_EQ(whole_call.records(0).metadata().at("segment_count").int_value(),
            summary->segments);
  for (size_t i = 0; i < ids.size(); ++i) {
    const v1::Record& a = whole_call.records(i);
    const v1::Record& b = by_spans.records(i);
    EXPECT_NEAR(a.segment().start_s(), b.segment().start_s(), 1e-6) << ids[i];
    EXPECT_NEAR(a.segment().end_s(), b.segment().end_s(), 1e-6) << ids[i];
    ASSERT_EQ(a.embedding().values_size(), b.embedding().values_size());
    for (int d = 0; d < a.embedding().values_size(); ++d) {
      EXPECT_NEAR(a.embedding().values(d), b.embedding().values(d), 1e-5)
          << ids[i];
    }
  }
}

TEST_F(IngestTest, MissingFolderIsAnArgumentError) {
  IngestOptions options;
  options.paths = {*root_ + "/no-such-folder"};
  absl::StatusOr<IngestSummary> summary =
      Ingest(options, *encoder_connection_, *index_connection_);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(summary.status().message(), "no-such-folder"));
}

}  // namespace
}  // namespace iv::cli
