// The black-box hostile-input suite: encoder_server, index_server,
// task_server and trainer_server run as processes on loopback with an API
// key, as deployed. Each case sends one hostile request and checks its
// status code and that the message names the field or the limit; after
// every case each server must still report SERVING and answer an
// authorized call (EmbedText, Search by text, Recognize, ListJobs):
// nothing crashed, nothing was lost. (Reflection's door is tested in
// common/serving/server_test: this suite has no reflection client.)
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files/read_file.h"
#include "common/serving/connection.h"
#include "common/testing/damaged_checkpoint.h"
#include "common/testing/server_process.h"
#include "common/testing/service_videos.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "protos/encoder_service.grpc.pb.h"
#include "protos/index_service.grpc.pb.h"
#include "protos/task_service.grpc.pb.h"
#include "protos/trainer_service.grpc.pb.h"
#include "third_party/grpc_health/health.grpc.pb.h"
#include "trainer/testing/small_run.h"

namespace iv {
namespace {

namespace fs = std::filesystem;
namespace v1 = internvideo::v1;
using ::testing::HasSubstr;

constexpr char kApiKey[] = "hostile-suite-key";
constexpr char kCollection[] = "library";

// Writes `name` under `dir` with the ffmpeg CLI; returns its path.
std::string Ffmpeg(const std::string& dir, const std::string& name,
                   const std::string& args) {
  const std::string path = absl::StrCat(dir, "/", name);
  const std::string command =
      absl::StrCat("ffmpeg -nostdin -v error -y ", args, " '", path, "'");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return path;
}

// The files of a native checkpoint folder (models/iv-tiny).
constexpr const char* kCheckpointFiles[] = {"model.safetensors",
                                            "model_config.textproto",
                                            "bpe_vocab.txt", "CHECKSUMS"};

// Copies models/iv-tiny's checkpoint into `dir` (created).
void CopyIvTiny(const std::string& dir) {
  fs::create_directories(dir);
  for (const char* file : kCheckpointFiles) {
    fs::copy_file(absl::StrCat("models/iv-tiny/", file),
                  absl::StrCat(dir, "/", file));
  }
}

struct Stack {
  test::ServiceTestVideos videos;
  // The task server's model folder: versions step-N/, polled every second.
  std::string task_models;
  test::ServerProcess encoder, index, tasks, trainer;
  std::optional<serving::Connection> encoder_connection, index_connection,
      tasks_connection, trainer_connection;
};

Stack* stack = nullptr;

class HostileInputTest : public ::testing::Test {
 protected:
  using Call = std::function<grpc::Status(grpc::ClientContext*)>;

  static void SetUpTestSuite() {
    stack = new Stack;
    stack->videos = test::RenderServiceTestVideos("hostile", 11, 2);
    const std::string& dir = stack->videos.videos;
    // Two frames whose timestamps claim 1e9 s.
    Ffmpeg(dir, "gap.mkv",
           "-f lavfi -i color=s=64x64:r=1:d=2 -vf setpts=PTS*1e9 "
           "-fps_mode passthrough -c:v mjpeg");
    // 8192 pixels wide, 8 high.
    Ffmpeg(dir, "wide.mkv", "-f lavfi -i color=s=8192x8:r=25:d=1 -c:v mjpeg");
    // Two 8192x8192 frames.
    Ffmpeg(dir, "huge.avi",
           "-f lavfi -i color=c=red:s=8192x8192:r=1:d=2 -c:v mjpeg "
           "-pix_fmt yuvj420p");

    const std::string common = absl::StrCat(
        " --address 127.0.0.1:0 --metrics-address '' --api-key ", kApiKey);
    const std::string model = " --model-dir models/iv-tiny --threads 1";
    absl::StatusOr<test::ServerProcess> encoder = test::StartServerProcess(
        absl::StrCat("encoder_service/encoder_server", common, model,
                     " --allowed-roots ", dir, " --stream-idle-seconds 2"),
        stack->videos.root + "/encoder.log");
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    stack->encoder = *encoder;
    absl::StatusOr<test::ServerProcess> index = test::StartServerProcess(
        absl::StrCat("index_service/index_server", common, " --data-dir ",
                     stack->videos.root, "/index --encoder-address 127.0.0.1:",
                     encoder->port, " --encoder-api-key ", kApiKey),
        stack->videos.root + "/index.log");
    ASSERT_TRUE(index.ok()) << index.status();
    stack->index = *index;
    stack->task_models = stack->videos.root + "/models/iv-tiny";
    CopyIvTiny(stack->task_models + "/step-00000001");
    absl::StatusOr<test::ServerProcess> tasks = test::StartServerProcess(
        absl::StrCat("task_service/task_server", common, " --model-dir ",
                     stack->task_models, " --poll-seconds 1 --threads 1",
                     " --allowed-roots ", dir),
        stack->videos.root + "/tasks.log");
    ASSERT_TRUE(tasks.ok()) << tasks.status();
    stack->tasks = *tasks;
    absl::StatusOr<test::ServerProcess> trainer = test::StartServerProcess(
        absl::StrCat("trainer/service/trainer_server", common, " --jobs-root ",
                     stack->videos.root, "/jobs --allowed-roots ",
                     test::SmallWorld(),
                     // No job of this suite runs.
                     " --iv-binary /bin/true"),
        stack->videos.root + "/trainer.log");
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    stack->trainer = *trainer;
    for (const test::ServerProcess* server :
         {&stack->encoder, &stack->index, &stack->tasks, &stack->trainer}) {
      ASSERT_TRUE(test::WaitUntilServing(*server).ok());
    }
    serving::ConnectionOptions options;
    options.api_key = kApiKey;
    stack->encoder_connection = *serving::Connection::Open(
        absl::StrCat("127.0.0.1:", stack->encoder.port), options);
    stack->index_connection = *serving::Connection::Open(
        absl::StrCat("127.0.0.1:", stack->index.port), options);
    stack->tasks_connection = *serving::Connection::Open(
        absl::StrCat("127.0.0.1:", stack->tasks.port), options);
    stack->trainer_connection = *serving::Connection::Open(
        absl::StrCat("127.0.0.1:", stack->trainer.port), options);

    // One record to search for, embedded by the encoder.
    v1::EmbedTextResponse embedded = EmbedText("a red circle moves up");
    ASSERT_EQ(embedded.embeddings_size(), 1);
    v1::CreateCollectionRequest create;
    create.mutable_collection()->set_name(kCollection);
    create.mutable_collection()->set_dimension(
        embedded.embeddings(0).values_size());
    v1::Collection created;
    auto index_stub = v1::IndexService::NewStub(Index().channel());
    ASSERT_TRUE(
        index_stub
            ->CreateCollection(Index().NewContext(absl::Seconds(30)).get(),
                               create, &created)
            .ok());
    v1::UpsertRequest upsert;
    upsert.set_collection(kCollection);
    v1::Record* record = upsert.add_records();
    record->set_id("red-circle");
    *record->mutable_embedding() = embedded.embeddings(0);
    v1::UpsertResponse upserted;
    grpc::Status status = index_stub->Upsert(
        Index().NewContext(absl::Seconds(30)).get(), upsert, &upserted);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  static void TearDownTestSuite() {
    if (stack == nullptr) return;
    for (const test::ServerProcess* server :
         {&stack->encoder, &stack->index, &stack->tasks, &stack->trainer}) {
      if (server->pid > 0) test::StopServerProcess(*server, SIGTERM);
    }
    delete stack;
    stack = nullptr;
  }

  static const serving::Connection& Encoder() {
    return *stack->encoder_connection;
  }
  static const serving::Connection& Index() { return *stack->index_connection; }
  static const serving::Connection& Tasks() { return *stack->tasks_connection; }
  static const serving::Connection& Trainer() {
    return *stack->trainer_connection;
  }

  static v1::EmbedTextResponse EmbedText(const std::string& text) {
    v1::EmbedTextRequest request;
    request.add_texts(text);
    v1::EmbedTextResponse response;
    grpc::Status status =
        v1::EncoderService::NewStub(Encoder().channel())
            ->EmbedText(Encoder().NewContext(absl::Seconds(30)).get(), request,
                        &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Every server is healthy and answers an authorized call.
  static void ExpectStillServing(const std::string& after) {
    SCOPED_TRACE(after);
    for (const serving::Connection* connection :
         {&Encoder(), &Index(), &Tasks(), &Trainer()}) {
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      grpc::Status status =
          grpc::health::v1::Health::NewStub(connection->channel())
              ->Check(connection->NewContext(absl::Seconds(10)).get(), request,
                      &response);
      ASSERT_TRUE(status.ok())
          << connection->address() << ": " << status.error_message();
      EXPECT_EQ(response.status(),
                grpc::health::v1::HealthCheckResponse::SERVING);
    }
    EXPECT_EQ(EmbedText("a blue square").embeddings_size(), 1);
    v1::SearchRequest search;
    search.set_collection(kCollection);
    search.set_text("a red circle moves up");
    search.set_k(1);
    v1::SearchResponse found;
    grpc::Status status =
        v1::IndexService::NewStub(Index().channel())
            ->Search(Index().NewContext(absl::Seconds(30)).get(), search,
                     &found);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(found.hits_size(), 1);
    EXPECT_EQ(found.hits(0).id(), "red-circle");
    v1::RecognizeRequest recognize;
    recognize.mutable_video()->set_path("clips/train_00000.mp4");
    v1::RecognizeResponse recognized;
    status = v1::RecognitionService::NewStub(Tasks().channel())
                 ->Recognize(Tasks().NewContext(absl::Seconds(60)).get(),
                             recognize, &recognized);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(recognized.model().version(), "step-00000001");
    v1::ListJobsResponse jobs;
    status = v1::TrainerService::NewStub(Trainer().channel())
                 ->ListJobs(Trainer().NewContext(absl::Seconds(30)).get(),
                            v1::ListJobsRequest(), &jobs);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  // Sends `call`, expects `code` and every one of `parts` in the message,
  // then checks every server still serves.
  static void ExpectRefused(const std::string& name, const Call& call,
                            grpc::StatusCode code,
                            const std::vector<std::string>& parts,
                            const serving::Connection& connection) {
    SCOPED_TRACE(name);
    const absl::Time start = absl::Now();
    grpc::Status status = call(connection.NewContext(absl::Seconds(120)).get());
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    for (const std::string& part : parts) {
      EXPECT_THAT(status.error_message(), HasSubstr(part));
    }
    // Refused before the work, not after it.
    EXPECT_LT(absl::Now() - start, absl::Seconds(20));
    ExpectStillServing(name);
  }

  // A call of `method` with `request` on `connection`'s service.
  template <typename Stub, typename Request, typename Response>
  static Call Rpc(const serving::Connection& connection,
                  grpc::Status (Stub::*method)(grpc::ClientContext*,
                                               const Request&, Response*),
                  const Request& request) {
    return [&connection, method, request](grpc::ClientContext* context) {
      Stub stub(connection.channel());
      Response response;
      return (stub.*method)(context, request, &response);
    };
  }
};

TEST_F(HostileInputTest, SlidingWindowsAreBoundedBeforeTheyAreBuilt) {
  v1::EmbedVideoRequest request;
  request.mutable_video()->set_path("clips/train_00000.mp4");
  request.mutable_segments()->set_window_s(1e-9);
  request.mutable_segments()->set_stride_s(1e-9);
  ExpectRefused("1e-9 s windows",
                Rpc(Encoder(), &v1::EncoderService::Stub::EmbedVideo, request),
                grpc::StatusCode::RESOURCE_EXHAUSTED,
                {"segments.stride_s", "limit of"}, Encoder());

  request.mutable_video()->set_path("gap.mkv");
  request.mutable_segments()->Clear();  // 2 s windows every 1 s
  ExpectRefused("a video claiming 1e9 s",
                Rpc(Encoder(), &v1::EncoderService::Stub::EmbedVideo, request),
                grpc::StatusCode::RESOURCE_EXHAUSTED,
                {"segments.stride_s", "limit of"}, Encoder());

  v1::LocalizeRequest localize;
  localize.mutable_video()->set_path("gap.mkv");
  ExpectRefused(
      "Localize of a video claiming 1e9 s",
      Rpc(Tasks(), &v1::LocalizationService::Stub::Localize, localize),
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      {"video: ", "--max-localize-windows"}, Tasks());
}

TEST_F(HostileInputTest, FrameMemoryIsBoundedPerRequest) {
  v1::EmbedVideoRequest request;
  request.mutable_video()->set_path("wide.mkv");
  request.mutable_sampling()->set_short_side(4096);
  ExpectRefused("8192x8 frames resized to a 4096 short side",
                Rpc(Encoder(), &v1::EncoderService::Stub::EmbedVideo, request),
                grpc::StatusCode::RESOURCE_EXHAUSTED,
                {"sampling.short_side", "limit of"}, Encoder());

  request.mutable_video()->set_path("huge.avi");
  request.clear_sampling();
  ExpectRefused("two 8192x8192 frames",
                Rpc(Encoder(), &v1::EncoderService::Stub::EmbedVideo, request),
                grpc::StatusCode::RESOURCE_EXHAUSTED, {"MiB", "limit of"},
                Encoder());

  v1::RecognizeRequest recognize;
  recognize.mutable_video()->set_path("huge.avi");
  ExpectRefused(
      "Recognize two 8192x8192 frames",
      Rpc(Tasks(), &v1::RecognitionService::Stub::Recognize, recognize),
      grpc::StatusCode::RESOURCE_EXHAUSTED, {"MiB", "limit of"}, Tasks());
}

TEST_F(HostileInputTest, ZeroShotTextsAreBounded) {
  v1::RecognizeRequest request;
  request.mutable_video()->set_path("clips/train_00000.mp4");
  request.mutable_zero_shot()->add_labels("red");
  request.mutable_zero_shot()->set_prompt_template(std::string(1 << 20, 'a') +
                                                   "{label}");
  ExpectRefused("a 1 MiB prompt template",
                Rpc(Tasks(), &v1::RecognitionService::Stub::Recognize, request),
                grpc::StatusCode::INVALID_ARGUMENT,
                {"zero_shot.prompt_template", "limit is"}, Tasks());

  std::string slots;
  for (int i = 0; i < 100; ++i) slots += "{label}";
  request.mutable_zero_shot()->set_prompt_template(slots);
  request.mutable_zero_shot()->set_labels(0, std::string(500, 'x'));
  ExpectRefused("a template repeating a long label",
                Rpc(Tasks(), &v1::RecognitionService::Stub::Recognize, request),
                grpc::StatusCode::INVALID_ARGUMENT,
                {"zero_shot.labels[0]", "prompt is 50000 bytes"}, Tasks());

  // Search texts have a size limit of their own.
  v1::SearchRequest search;
  search.set_collection(kCollection);
  search.set_text(std::string(1 << 20, 'a'));
  ExpectRefused("a 1 MiB search text",
                Rpc(Index(), &v1::IndexService::Stub::Search, search),
                grpc::StatusCode::INVALID_ARGUMENT, {"text: ", "the limit is"},
                Index());
}

TEST_F(HostileInputTest, LabelListsAreBounded) {
  v1::RecognizeRequest request;
  request.mutable_video()->set_path("clips/train_00000.mp4");
  for (int i = 0; i < 257; ++i) {
    request.mutable_zero_shot()->add_labels(absl::StrCat("label ", i));
  }
  ExpectRefused("257 zero-shot labels",
                Rpc(Tasks(), &v1::RecognitionService::Stub::Recognize, request),
                grpc::StatusCode::INVALID_ARGUMENT,
                {"zero_shot.labels", "limit is 256"}, Tasks());
}

TEST_F(HostileInputTest, IndexSizesAndSearchParametersAreBounded) {
  for (const auto& [factory, limit] :
       std::vector<std::pair<std::string, std::string>>{
           {"IVF200000000,Flat", "over the limit 65536"},
           {"HNSW100000", "over the limit 2048"}}) {
    v1::CreateCollectionRequest create;
    create.mutable_collection()->set_name("huge");
    create.mutable_collection()->set_dimension(8);
    create.mutable_collection()->set_index_factory(factory);
    ExpectRefused(
        factory,
        Rpc(Index(), &v1::IndexService::Stub::CreateCollection, create),
        grpc::StatusCode::INVALID_ARGUMENT, {"collection.index_factory", limit},
        Index());
  }
  v1::SearchRequest search;
  search.set_collection(kCollection);
  search.set_text("a red circle moves up");
  search.set_k(1);
  search.set_hnsw_ef_search(1 << 30);
  ExpectRefused("efSearch 2^30",
                Rpc(Index(), &v1::IndexService::Stub::Search, search),
                grpc::StatusCode::INVALID_ARGUMENT,
                {"hnsw_ef_search", "must be in [0, 32768]"}, Index());
  search.clear_hnsw_ef_search();
  search.set_ivf_nprobe(1 << 30);
  ExpectRefused("nprobe 2^30",
                Rpc(Index(), &v1::IndexService::Stub::Search, search),
                grpc::StatusCode::INVALID_ARGUMENT,
                {"ivf_nprobe", "must be in [0, 65536]"}, Index());
}

TEST_F(HostileInputTest, DoorsAreLocked) {
  // Without the key: refused, health aside.
  v1::EmbedTextRequest text;
  text.add_texts("a red circle");
  const serving::Connection anonymous =
      *serving::Connection::Open(Encoder().address(), {});
  ExpectRefused("a call without the API key",
                Rpc(anonymous, &v1::EncoderService::Stub::EmbedText, text),
                grpc::StatusCode::UNAUTHENTICATED, {"API key"}, anonymous);

  // A video path in a search goes to the encoder with the caller's
  // credentials, and the encoder's roots judge it.
  v1::SearchRequest search;
  search.set_collection(kCollection);
  search.mutable_video()->set_path("/etc/passwd");
  ExpectRefused("a search by a video outside the roots",
                Rpc(Index(), &v1::IndexService::Stub::Search, search),
                grpc::StatusCode::PERMISSION_DENIED, {"video.path"}, Index());

  // GetModelInfo names no server path.
  v1::GetModelInfoResponse info;
  grpc::Status status =
      v1::EncoderService::NewStub(Encoder().channel())
          ->GetModelInfo(Encoder().NewContext(absl::Seconds(30)).get(),
                         v1::GetModelInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.weights_sha256().size(), 64u);
  EXPECT_THAT(info.DebugString(), ::testing::Not(HasSubstr("/")));
}

TEST_F(HostileInputTest, AQuietUploadIsCancelled) {
  const absl::Time start = absl::Now();
  std::unique_ptr<grpc::ClientContext> context =
      Encoder().NewContext(absl::Seconds(60));
  v1::EmbedVideoResponse response;
  auto stub = v1::EncoderService::NewStub(Encoder().channel());
  std::unique_ptr<grpc::ClientWriter<v1::EmbedVideoStreamRequest>> writer =
      stub->EmbedVideoStream(context.get(), &response);
  // Sends nothing, and never says it is done.
  const grpc::Status status = writer->Finish();
  // The server cancels the call (the client sees CANCELLED, not its
  // message) after its --stream-idle-seconds of 2.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED)
      << status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  ExpectStillServing("a quiet upload");
}

TEST_F(HostileInputTest, AnOverflowingCheckpointIsRefusedAndTheOldOneServes) {
  // Published as the trainer publishes: a finished folder renamed into
  // place. No CHECKSUMS: the safetensors reader is what must refuse it.
  const std::string staging = stack->task_models + "/.step-00000002";
  CopyIvTiny(staging);
  fs::remove(staging + "/CHECKSUMS");
  ASSERT_TRUE(test::GiveATensorShape(staging + "/model.safetensors",
                                     "[18446744073709551615, 0]")
                  .ok());
  fs::rename(staging, stack->task_models + "/step-00000002");
  // The server polls every second and reports the refusal in its log.
  std::string log;
  for (int i = 0; i < 300 && !absl::StrContains(log, "overflows"); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    log = files::ReadFile(stack->tasks.log).value_or("");
  }
  EXPECT_THAT(log, HasSubstr("DATA_LOSS"));
  EXPECT_THAT(log, HasSubstr("overflows"));
  ExpectStillServing("a checkpoint with an overflowing shape");  // step 1
}

TEST_F(HostileInputTest, RecipesCannotReachOutsideTheirRoots) {
  v1::SubmitJobRequest valid;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      test::SmallRecipeText(20, 0), valid.mutable_recipe()));
  v1::SubmitJobRequest request = valid;
  request.mutable_recipe()
      ->mutable_model()
      ->mutable_multimodal_encoder()
      ->mutable_tokenizer()
      ->set_vocab_path("/etc/passwd");
  ExpectRefused("a vocabulary outside the roots",
                Rpc(Trainer(), &v1::TrainerService::Stub::SubmitJob, request),
                grpc::StatusCode::PERMISSION_DENIED,
                {"recipe.model.multimodal_encoder.tokenizer.vocab_path"},
                Trainer());

  request = valid;
  request.mutable_recipe()->set_output_dir(stack->videos.root + "/jobs");
  ExpectRefused("the jobs root as output_dir",
                Rpc(Trainer(), &v1::TrainerService::Stub::SubmitJob, request),
                grpc::StatusCode::PERMISSION_DENIED, {"recipe.output_dir"},
                Trainer());
}

}  // namespace
}  // namespace iv
