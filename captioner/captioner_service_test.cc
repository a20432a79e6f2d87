// The captioner on loopback with real gRPC clients, a real tiny task model
// (random weights, with a caption decoder, written as a native checkpoint)
// and SynthWorld videos decoded by FFmpeg. Expected captions come from the
// model library's GenerateCaptions on the same clip, cut by the test itself
// from the frames the model's sampling picks.
#include "captioner/captioner_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "captioner/captioner.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "common/serving/connection.h"
#include "common/serving/model_registry.h"
#include "common/testing/loopback_server.h"
#include "common/testing/server_process.h"
#include "common/testing/service_videos.h"
#include "common/testing/temp_dir.h"
#include "common/video/decoder.h"
#include "common/video/transforms.h"
#include "third_party/grpc_health/health.grpc.pb.h"

namespace iv::captioner {
namespace {

namespace fs = std::filesystem;
using internvideo::v1::BatchCaptionVideosRequest;
using internvideo::v1::BatchCaptionVideosResponse;
using internvideo::v1::CaptionerService;
using internvideo::v1::CaptionVideoRequest;
using internvideo::v1::CaptionVideoResponse;
using internvideo::v1::DecodingOptions;

constexpr char kModelId[] = "iv-test-caption";

// Rendered once: <root>/videos/clips/train_0000N.mp4 (2 s, 32 frames, 64
// px), a corrupt .mp4 beside them, a video outside the roots, the tiny task
// model (with a caption decoder) and the tiny model without one.
struct World : iv::test::ServiceTestVideos {
  std::string task_model, plain_model;
};

const World& TestWorld() {
  static const World* world = [] {
    auto* w = new World{iv::test::RenderServiceTestVideos(
        "captioner_world", /*seed=*/11, /*clips=*/4)};
    w->task_model = w->root + "/models/task";
    w->plain_model = w->root + "/models/plain";
    EXPECT_TRUE(model::testing::WriteTinyCheckpoint(
                    w->task_model, 3, model::testing::TinyTaskModelConfig())
                    .ok());
    EXPECT_TRUE(model::testing::WriteTinyCheckpoint(
                    w->plain_model, 3, model::testing::TinyModelConfig())
                    .ok());
    return w;
  }();
  return *world;
}

std::string Clip(int i) { return absl::StrCat("clips/train_0000", i, ".mp4"); }

// A registry, captioner and gRPC server on loopback, and a client.
class TestServer {
 public:
  explicit TestServer(const std::string& model_dir, bool load = true) {
    test::TestRegistryOptions registry_options;
    registry_options.model_id = kModelId;
    registry_options.load = load;
    registry_ = test::NewTestRegistry(model_dir, registry_options);
    CaptionerOptions options;
    options.allowed_roots = {TestWorld().videos};
    options.max_batch = 6;
    captioner_ = std::make_unique<Captioner>(options, registry_.get());
    service_ = std::make_unique<CaptionerServiceImpl>(captioner_.get());
    loopback_ = std::make_unique<test::LoopbackServer>(
        std::vector<grpc::Service*>{service_.get()});
    stub_ = CaptionerService::NewStub(loopback_->channel());
  }

  grpc::Status Caption(const CaptionVideoRequest& request,
                       CaptionVideoResponse* response) const {
    grpc::ClientContext context;
    return stub_->CaptionVideo(&context, request, response);
  }
  grpc::Status Batch(const BatchCaptionVideosRequest& request,
                     BatchCaptionVideosResponse* response) const {
    grpc::ClientContext context;
    return stub_->BatchCaptionVideos(&context, request, response);
  }

 private:
  std::unique_ptr<serving::ModelRegistry> registry_;
  std::unique_ptr<Captioner> captioner_;
  std::unique_ptr<CaptionerServiceImpl> service_;
  std::unique_ptr<test::LoopbackServer> loopback_;
  std::unique_ptr<CaptionerService::Stub> stub_;
};

CaptionVideoRequest Request(const std::string& path,
                            DecodingOptions::Method method, int beam_width = 0,
                            int max_length = 0) {
  CaptionVideoRequest request;
  request.mutable_video()->set_path(path);
  request.mutable_decoding()->set_method(method);
  request.mutable_decoding()->set_beam_width(beam_width);
  request.mutable_decoding()->set_max_length(max_length);
  return request;
}

// The task model as the test loads it, and what it says of clips.
class Reference {
 public:
  Reference() {
    absl::StatusOr<model::LoadedInternVideo> loaded =
        model::LoadInternVideo(TestWorld().task_model);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    model_ = std::move(*loaded);
  }

  const model::MultimodalConfig& config() const {
    return *model_.model->config().multimodal;
  }

  // The clip the model's default sampling cuts from `path`: num_frames
  // frames from the centres of as many equal segments, resized and
  // centre-cropped to the input size, normalized as the multimodal
  // encoder expects.
  torch::Tensor ClipOf(const std::string& path) const {
    auto decoder = video::VideoDecoder::Open(TestWorld().videos + "/" + path);
    EXPECT_TRUE(decoder.ok()) << decoder.status();
    const int64_t frames = (*decoder)->info().num_frames;
    const int64_t count = config().vision.num_frames;
    std::vector<int64_t> indices;
    for (int64_t i = 0; i < count; ++i) {
      indices.push_back(static_cast<int64_t>((i + 0.5) * frames / count));
    }
    const int64_t size = config().vision.input_resolution;
    const torch::Tensor clip = video::Normalize(
        video::CenterCrop(
            video::ResizeShortSide(
                video::ToFloatClip(*(*decoder)->DecodeFrames(indices)), size),
            size),
        model::MultimodalNormalization(model_.model->config()));
    return clip.unsqueeze(0);
  }

  // In-process captions of `paths` with `method` (ranked by mean token
  // log-probability, as the API specifies), decoded and lower-cased.
  std::vector<std::pair<std::string, double>> Captions(
      const std::vector<std::string>& paths, model::DecodingMethod method,
      int64_t beam, int64_t max_length = 0, uint64_t seed = 0,
      double temperature = 1) {
    std::vector<torch::Tensor> clips;
    for (const std::string& path : paths) clips.push_back(ClipOf(path));
    model::CaptionGenerationOptions options;
    options.method = method;
    options.beam_size = beam;
    options.max_length =
        max_length > 0 ? max_length : config().caption_decoder->max_length;
    options.length_penalty = model::LengthPenalty::kAverage;
    options.seed = seed;
    options.temperature = temperature;
    options.sot_token = model_.tokenizer->start_of_text();
    options.eot_token = model_.tokenizer->end_of_text();
    torch::NoGradGuard no_grad;
    model::InternVideoClip& clip = model_.model->multimodal();
    const std::vector<model::GeneratedCaption> generated =
        model::GenerateCaptions(clip, model_.model->caption_decoder(),
                                clip->Visual(torch::cat(clips)).tokens,
                                options);
    std::vector<std::pair<std::string, double>> captions;
    for (const model::GeneratedCaption& caption : generated) {
      const int64_t length =
          static_cast<int64_t>(caption.tokens.size()) + caption.finished;
      EXPECT_NEAR(caption.score, caption.log_prob / length, 1e-9);
      absl::StatusOr<std::string> text = model_.tokenizer->Decode(
          std::vector<int>(caption.tokens.begin(), caption.tokens.end()));
      EXPECT_TRUE(text.ok());
      captions.emplace_back(
          absl::AsciiStrToLower(absl::StripAsciiWhitespace(*text)),
          caption.score);
    }
    return captions;
  }

 private:
  model::LoadedInternVideo model_;
};

TEST(CaptionerServiceTest, GreedyAndBeamCaptionsAreTheModels) {
  TestServer server(TestWorld().task_model);
  Reference reference;
  const std::vector<
      std::tuple<DecodingOptions::Method, model::DecodingMethod, int, int>>
      cases = {
          {DecodingOptions::METHOD_UNSPECIFIED, model::DecodingMethod::kGreedy,
           1, 0},
          {DecodingOptions::METHOD_GREEDY, model::DecodingMethod::kGreedy, 1,
           5},
          {DecodingOptions::METHOD_BEAM, model::DecodingMethod::kBeam, 3, 0},
          {DecodingOptions::METHOD_BEAM, model::DecodingMethod::kBeam, 1, 0}};
  for (const auto& [method, library_method, beam, max_length] : cases) {
    SCOPED_TRACE(absl::StrCat("method ", method, " beam ", beam, " max_length ",
                              max_length));
    for (int i : {0, 1}) {
      CaptionVideoResponse response;
      const grpc::Status status = server.Caption(
          Request(Clip(i), method,
                  method == DecodingOptions::METHOD_BEAM ? beam : 0,
                  max_length),
          &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      const auto expected =
          reference.Captions({Clip(i)}, library_method, beam, max_length)[0];
      EXPECT_EQ(response.caption().text(), expected.first);
      EXPECT_NEAR(response.caption().score(), expected.second, 1e-5);
      EXPECT_LE(response.caption().score(), 0);
      EXPECT_EQ(response.model().model_id(), kModelId);
      EXPECT_EQ(response.model().version(), "task");
    }
  }
}

TEST(CaptionerServiceTest, InlineBytesCaptionAsThePath) {
  TestServer server(TestWorld().task_model);
  CaptionVideoResponse by_path, inline_bytes;
  CaptionVideoRequest request =
      Request(Clip(2), DecodingOptions::METHOD_BEAM, 2);
  ASSERT_TRUE(server.Caption(request, &by_path).ok());
  std::ifstream in(TestWorld().videos + "/" + Clip(2), std::ios::binary);
  request.mutable_video()->set_content(
      std::string((std::istreambuf_iterator<char>(in)), {}));
  ASSERT_TRUE(server.Caption(request, &inline_bytes).ok());
  EXPECT_EQ(inline_bytes.caption().text(), by_path.caption().text());
  EXPECT_EQ(inline_bytes.caption().score(), by_path.caption().score());
}

TEST(CaptionerServiceTest, BatchResultsAreTheSingleResults) {
  TestServer server(TestWorld().task_model);
  for (int beam : {0, 3}) {
    SCOPED_TRACE(absl::StrCat("beam ", beam));
    const DecodingOptions::Method method = beam > 0
                                               ? DecodingOptions::METHOD_BEAM
                                               : DecodingOptions::METHOD_GREEDY;
    BatchCaptionVideosRequest batch;
    batch.mutable_decoding()->set_method(method);
    batch.mutable_decoding()->set_beam_width(beam);
    for (const std::string& path :
         {Clip(0), Clip(1), std::string("clips/none.mp4"), Clip(3),
          std::string("corrupt.mp4"), Clip(0)}) {
      batch.add_videos()->set_path(path);
    }
    BatchCaptionVideosResponse response;
    ASSERT_TRUE(server.Batch(batch, &response).ok());
    ASSERT_EQ(response.results_size(), 6);
    EXPECT_EQ(response.model().model_id(), kModelId);
    for (int i : {0, 1, 3, 5}) {
      CaptionVideoResponse single;
      ASSERT_TRUE(
          server.Caption(Request(batch.videos(i).path(), method, beam), &single)
              .ok());
      ASSERT_TRUE(response.results(i).has_caption()) << i;
      EXPECT_EQ(response.results(i).caption().text(), single.caption().text());
      EXPECT_NEAR(response.results(i).caption().score(),
                  single.caption().score(), 1e-5);
    }
    EXPECT_EQ(response.results(2).error().code(),
              static_cast<int>(grpc::StatusCode::NOT_FOUND));
    EXPECT_EQ(response.results(2).error().message().rfind("videos[2].path", 0),
              0u)
        << response.results(2).error().message();
    EXPECT_EQ(response.results(4).error().code(),
              static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_EQ(response.results(4).error().message().rfind("videos[4]", 0), 0u)
        << response.results(4).error().message();
  }
}

TEST(CaptionerServiceTest, SamplingIsReproducibleWithASeed) {
  TestServer server(TestWorld().task_model);
  Reference reference;
  auto sample = [&](std::optional<uint64_t> seed, float temperature) {
    CaptionVideoRequest request =
        Request(Clip(1), DecodingOptions::METHOD_SAMPLING);
    request.mutable_decoding()->set_temperature(temperature);
    if (seed) request.mutable_decoding()->set_seed(*seed);
    CaptionVideoResponse response;
    const grpc::Status status = server.Caption(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.caption();
  };
  std::set<std::string> seeded, unseeded;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const internvideo::v1::Caption caption = sample(seed, 2);
    const internvideo::v1::Caption again = sample(seed, 2);
    EXPECT_EQ(again.text(), caption.text());
    EXPECT_EQ(again.score(), caption.score());
    const auto expected = reference.Captions(
        {Clip(1)}, model::DecodingMethod::kSampling, 1, 0, seed, 2)[0];
    EXPECT_EQ(caption.text(), expected.first) << "seed " << seed;
    EXPECT_NEAR(caption.score(), expected.second, 1e-5);
    seeded.insert(caption.text());
    unseeded.insert(sample(std::nullopt, 2).text());
  }
  // Temperature 2 flattens a random model's broad distributions further:
  // six seeds, or six fresh seeds, give several captions.
  EXPECT_GE(seeded.size(), 3u);
  EXPECT_GE(unseeded.size(), 3u);
  // Temperature 0 means 1.
  EXPECT_EQ(
      sample(5, 0).text(),
      (reference
           .Captions({Clip(1)}, model::DecodingMethod::kSampling, 1, 0, 5, 1)[0]
           .first));
}

struct BadInput {
  std::string name;
  std::function<void(CaptionVideoRequest&)> edit;
  grpc::StatusCode code;
  std::string message;  // how the message starts
};

TEST(CaptionerServiceTest, BadInputsGetPreciseStatuses) {
  TestServer server(TestWorld().task_model);
  const int model_max = Reference().config().caption_decoder->max_length;
  const World& world = TestWorld();
  const std::vector<BadInput> cases = {
      {"beam width 0",
       [](CaptionVideoRequest& r) {
         r.mutable_decoding()->set_method(DecodingOptions::METHOD_BEAM);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "decoding.beam_width: must be in [1, 16] with METHOD_BEAM, got 0"},
      {"beam width 10000",
       [](CaptionVideoRequest& r) {
         r.mutable_decoding()->set_method(DecodingOptions::METHOD_BEAM);
         r.mutable_decoding()->set_beam_width(10000);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "decoding.beam_width: must be in [1, 16] with METHOD_BEAM, got 10000"},
      {"max length over the model's",
       [&](CaptionVideoRequest& r) {
         r.mutable_decoding()->set_max_length(model_max + 1);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       absl::StrCat("decoding.max_length: the model's captions are at most ",
                    model_max, " tokens, got ", model_max + 1)},
      {"max length 1",
       [](CaptionVideoRequest& r) { r.mutable_decoding()->set_max_length(1); },
       grpc::StatusCode::INVALID_ARGUMENT, "decoding.max_length: "},
      {"negative temperature",
       [](CaptionVideoRequest& r) {
         r.mutable_decoding()->set_method(DecodingOptions::METHOD_SAMPLING);
         r.mutable_decoding()->set_temperature(-0.5);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "decoding.temperature: "},
      {"unknown method",
       [](CaptionVideoRequest& r) {
         r.mutable_decoding()->set_method(
             static_cast<DecodingOptions::Method>(9));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "decoding.method: "},
      {"not a video",
       [](CaptionVideoRequest& r) {
         r.mutable_video()->set_path("corrupt.mp4");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "video: "},
      {"not a video, inline",
       [](CaptionVideoRequest& r) {
         r.mutable_video()->set_content(std::string(5000, '\x17'));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "video: "},
      {"outside the roots",
       [](CaptionVideoRequest& r) {
         r.mutable_video()->set_path("../../etc/passwd");
       },
       grpc::StatusCode::PERMISSION_DENIED, "video.path: "},
      {"absolute outside the roots",
       [&](CaptionVideoRequest& r) {
         r.mutable_video()->set_path(world.outside + "/secret.mp4");
       },
       grpc::StatusCode::PERMISSION_DENIED, "video.path: "},
      {"missing",
       [](CaptionVideoRequest& r) {
         r.mutable_video()->set_path("clips/none.mp4");
       },
       grpc::StatusCode::NOT_FOUND, "video.path: "},
      {"no video", [](CaptionVideoRequest& r) { r.clear_video(); },
       grpc::StatusCode::INVALID_ARGUMENT, "video"},
      {"chunked in unary",
       [](CaptionVideoRequest& r) { r.mutable_video()->mutable_chunked(); },
       grpc::StatusCode::INVALID_ARGUMENT, "video.chunked"},
      {"segment past the end",
       [](CaptionVideoRequest& r) {
         r.mutable_video()->mutable_segment()->set_start_s(3);
         r.mutable_video()->mutable_segment()->set_end_s(4);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "video.segment"},
      {"unknown model", [](CaptionVideoRequest& r) { r.set_model_id("other"); },
       grpc::StatusCode::NOT_FOUND, "model_id: "},
  };
  for (const BadInput& bad : cases) {
    SCOPED_TRACE(bad.name);
    CaptionVideoRequest request =
        Request(Clip(0), DecodingOptions::METHOD_GREEDY);
    bad.edit(request);
    CaptionVideoResponse response;
    const grpc::Status status = server.Caption(request, &response);
    EXPECT_EQ(status.error_code(), bad.code) << status.error_message();
    EXPECT_EQ(status.error_message().rfind(bad.message, 0), 0u)
        << status.error_message();
  }
  // The whole batch fails for an empty or too long list, and for bad
  // shared options.
  BatchCaptionVideosRequest batch;
  BatchCaptionVideosResponse results;
  grpc::Status status = server.Batch(batch, &results);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "videos: empty (send at least one video)");
  for (int i = 0; i < 7; ++i) batch.add_videos()->set_path(Clip(0));
  status = server.Batch(batch, &results);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "videos: 7 videos, the server's limit is 6");
  batch.mutable_videos()->DeleteSubrange(1, 6);
  batch.mutable_decoding()->set_method(DecodingOptions::METHOD_BEAM);
  status = server.Batch(batch, &results);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("decoding.beam_width", 0), 0u);

  // Still serving.
  CaptionVideoResponse response;
  EXPECT_TRUE(
      server
          .Caption(Request(Clip(0), DecodingOptions::METHOD_GREEDY), &response)
          .ok());
}

// Both RPCs fail as a whole with `code`, the message starting `message`.
void ExpectEveryCallFails(const TestServer& server, grpc::StatusCode code,
                          const std::string& message) {
  CaptionVideoResponse response;
  const grpc::Status single = server.Caption(
      Request(Clip(0), DecodingOptions::METHOD_GREEDY), &response);
  BatchCaptionVideosRequest batch;
  batch.add_videos()->set_path(Clip(0));
  BatchCaptionVideosResponse results;
  const grpc::Status batched = server.Batch(batch, &results);
  for (const grpc::Status& status : {single, batched}) {
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_EQ(status.error_message().rfind(message, 0), 0u)
        << status.error_message();
  }
}

TEST(CaptionerServiceTest, ModelWithoutCaptionDecoderIsFailedPrecondition) {
  ExpectEveryCallFails(
      TestServer(TestWorld().plain_model),
      grpc::StatusCode::FAILED_PRECONDITION,
      absl::StrCat("model \"", kModelId, "\" has no caption decoder"));
}

TEST(CaptionerServiceTest, UnavailableBeforeAModelIsLoaded) {
  ExpectEveryCallFails(TestServer(TestWorld().task_model, /*load=*/false),
                       grpc::StatusCode::UNAVAILABLE, "no model is loaded");
}

// captioner_server as a process: NOT_SERVING (and UNAVAILABLE) until a
// version is published into its empty model folder, then SERVING and
// captioning with it.
TEST(CaptionerServerTest, BinaryServesOnceAModelIsPublished) {
  const std::string root = iv::test::FreshTempDir("captioner_binary");
  const std::string models = root + "/models/iv-test-caption";
  fs::create_directories(models);
  const std::string log = root + "/server.log";
  absl::StatusOr<iv::test::ServerProcess> server = iv::test::StartServerProcess(
      absl::StrCat("captioner/captioner_server --address 127.0.0.1:0 "
                   "--metrics-address '' --poll-seconds 0.1 --threads 1 "
                   "--model-dir ",
                   models, " --allowed-roots ", TestWorld().videos),
      log, absl::Seconds(30));
  ASSERT_TRUE(server.ok()) << server.status();
  auto connection =
      serving::Connection::Open(absl::StrCat("127.0.0.1:", server->port), {});
  ASSERT_TRUE(connection.ok());
  auto health = grpc::health::v1::Health::NewStub(connection->channel());
  auto status = [&] {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckResponse response;
    health->Check(&context, {}, &response);
    return response.status();
  };
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  auto stub = CaptionerService::NewStub(connection->channel());
  const CaptionVideoRequest request =
      Request(Clip(0), DecodingOptions::METHOD_GREEDY);
  CaptionVideoResponse response;
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub->CaptionVideo(&context, request, &response).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }

  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(
                  models + "/.tmp", 3, model::testing::TinyTaskModelConfig())
                  .ok());
  fs::rename(models + "/.tmp", models + "/step-00000010");
  for (int i = 0;
       i < 600 && status() != grpc::health::v1::HealthCheckResponse::SERVING;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::SERVING)
      << iv::test::ReadTextFile(log);
  grpc::ClientContext context;
  ASSERT_TRUE(stub->CaptionVideo(&context, request, &response).ok());
  EXPECT_EQ(response.model().model_id(), "iv-test-caption");
  EXPECT_EQ(response.model().version(), "step-00000010");
  // The same weights (seed 3) as the in-process server's model.
  TestServer in_process(TestWorld().task_model);
  CaptionVideoResponse expected;
  ASSERT_TRUE(in_process.Caption(request, &expected).ok());
  EXPECT_EQ(response.caption().text(), expected.caption().text());
  iv::test::StopServerProcess(*server, SIGTERM);
}

}  // namespace
}  // namespace iv::captioner
