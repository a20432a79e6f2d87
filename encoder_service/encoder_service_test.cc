// The encoder service on loopback with real gRPC clients, a real tiny
// model (random weights, written as a native checkpoint) and SynthWorld
// videos decoded by FFmpeg. Expected embeddings come from the model
// library's direct forward on the same frames, one clip at a time.
#include "encoder_service/encoder_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files/checksums.h"
#include "common/files/file_digest.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "common/serving/connection.h"
#include "common/serving/model_registry.h"
#include "common/testing/damaged_checkpoint.h"
#include "common/testing/loopback_server.h"
#include "common/testing/server_process.h"
#include "common/testing/service_videos.h"
#include "common/testing/temp_dir.h"
#include "common/video/decoder.h"
#include "common/video/sampler.h"
#include "common/video/transforms.h"
#include "encoder_service/encoder.h"
#include "third_party/grpc_health/health.grpc.pb.h"

namespace iv::encoder {
namespace {

namespace fs = std::filesystem;
using internvideo::v1::EmbedTextRequest;
using internvideo::v1::EmbedTextResponse;
using internvideo::v1::EmbedVideoRequest;
using internvideo::v1::EmbedVideoResponse;
using internvideo::v1::EncoderService;

constexpr char kModel[] = "iv-test-tiny";
constexpr char kVersion1[] = "step-00000001";
constexpr char kVersion2[] = "step-00000002";

// Rendered once: <root>/videos/clips/train_0000N.mp4 (2 s, 32 frames, 64
// px), a corrupt .mp4 beside them, a video outside the roots, and version
// 1 of the model under <root>/models/iv-test-tiny/.
struct World : iv::test::ServiceTestVideos {
  std::string models;
};

const World& TestWorld() {
  static const World* world = [] {
    auto* w = new World{iv::test::RenderServiceTestVideos("encoder_world",
                                                          /*seed=*/7,
                                                          /*clips=*/6)};
    w->models = absl::StrCat(w->root, "/models/", kModel);
    fs::create_symlink(w->outside + "/secret.mp4", w->videos + "/escape.mp4");
    EXPECT_TRUE(model::testing::WriteTinyCheckpoint(
                    absl::StrCat(w->models, "/", kVersion1), 1)
                    .ok());
    return w;
  }();
  return *world;
}

// A registry, encoder and gRPC server on loopback, and a client.
class TestServer {
 public:
  TestServer(const std::string& model_dir, EncoderOptions options,
             absl::Duration poll = absl::Seconds(60)) {
    test::TestRegistryOptions registry_options;
    registry_options.load = false;  // the tests poll when they want a model
    registry_options.poll_interval = poll;
    registry_ = test::NewTestRegistry(model_dir, registry_options);
    options.allowed_roots = {TestWorld().videos};
    encoder_ = std::make_unique<Encoder>(options, registry_.get());
    service_ = std::make_unique<EncoderServiceImpl>(encoder_.get());
    loopback_ = std::make_unique<test::LoopbackServer>(
        std::vector<grpc::Service*>{service_.get()});
    channel_ = loopback_->channel();
  }

  serving::ModelRegistry& registry() { return *registry_; }
  Encoder& encoder() { return *encoder_; }
  std::unique_ptr<EncoderService::Stub> NewStub() const {
    return EncoderService::NewStub(channel_);
  }

  grpc::Status EmbedVideo(const EmbedVideoRequest& request,
                          EmbedVideoResponse* response) const {
    grpc::ClientContext context;
    return NewStub()->EmbedVideo(&context, request, response);
  }
  grpc::Status EmbedText(const std::vector<std::string>& texts,
                         EmbedTextResponse* response) const {
    EmbedTextRequest request;
    for (const std::string& text : texts) request.add_texts(text);
    grpc::ClientContext context;
    return NewStub()->EmbedText(&context, request, response);
  }

 private:
  std::unique_ptr<serving::ModelRegistry> registry_;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<EncoderServiceImpl> service_;
  std::unique_ptr<test::LoopbackServer> loopback_;
  std::shared_ptr<grpc::Channel> channel_;
};

EncoderOptions Options(int max_batch, absl::Duration delay, int max_queue) {
  EncoderOptions options;
  options.batcher.max_batch = max_batch;
  options.batcher.max_queue_delay = delay;
  options.batcher.max_queue = max_queue;
  return options;
}

std::unique_ptr<TestServer> StartLoaded(EncoderOptions options) {
  auto server = std::make_unique<TestServer>(TestWorld().models, options);
  const absl::Status loaded = server->registry().Poll();
  EXPECT_TRUE(loaded.ok()) << loaded;
  return server;
}

torch::Tensor Values(const internvideo::v1::Embedding& embedding) {
  return torch::tensor(
      std::vector<float>(embedding.values().begin(), embedding.values().end()));
}

torch::Tensor Unit(const torch::Tensor& v) { return v / v.norm(); }

void ExpectNear(const torch::Tensor& actual, const torch::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_LT((actual - expected).abs().max().item<float>(), 1e-5)
      << actual << "\nvs\n"
      << expected;
}

// The model of one version, loaded by the test itself.
model::LoadedInternVideo LoadVersion(const std::string& version) {
  absl::StatusOr<model::LoadedInternVideo> loaded =
      model::LoadInternVideo(absl::StrCat(TestWorld().models, "/", version));
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return std::move(*loaded);
}

// The direct forward of one clip of `path`: the frames `indices`, resized to
// 32 px, centre-cropped, CLIP-normalized. Not normalized.
torch::Tensor DirectClipEmbedding(model::LoadedInternVideo& model,
                                  const std::string& path,
                                  const std::vector<int64_t>& indices) {
  auto decoder = video::VideoDecoder::Open(path);
  EXPECT_TRUE(decoder.ok());
  torch::Tensor frames = *(*decoder)->DecodeFrames(indices);
  torch::Tensor clip = video::Normalize(
      video::CenterCrop(video::ResizeShortSide(video::ToFloatClip(frames), 32),
                        32),
      video::kClipNormalization);
  torch::NoGradGuard no_grad;
  return model.model->multimodal()->EncodeVideo(clip.unsqueeze(0))[0];
}

std::string Clip(int i) { return absl::StrCat("clips/train_0000", i, ".mp4"); }

TEST(EncoderServiceTest, TextEmbeddingsMatchTheModel) {
  auto server = StartLoaded(Options(8, absl::Milliseconds(5), 64));
  const std::vector<std::string> texts = {"a red circle moves left",
                                          "a blue square rotates clockwise"};
  EmbedTextResponse response;
  ASSERT_TRUE(server->EmbedText(texts, &response).ok());
  ASSERT_EQ(response.embeddings_size(), 2);

  model::LoadedInternVideo model = LoadVersion(kVersion1);
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = model.model->multimodal()->EncodeText(
      model.tokenizer->Tokenize(texts, 16));
  for (int i = 0; i < 2; ++i) {
    ExpectNear(Values(response.embeddings(i)), Unit(expected[i]));
    EXPECT_EQ(response.embeddings(i).model().model_id(), kModel);
    EXPECT_EQ(response.embeddings(i).model().version(), kVersion1);
  }
}

TEST(EncoderServiceTest, VideoEmbeddingIsTheNormalizedMeanOfItsClips) {
  auto server = StartLoaded(Options(8, absl::Milliseconds(5), 64));
  EmbedVideoRequest request;
  request.mutable_video()->set_path(Clip(1));
  request.mutable_sampling()->set_num_clips(2);
  EmbedVideoResponse response;
  ASSERT_TRUE(server->EmbedVideo(request, &response).ok());

  const std::string path = TestWorld().videos + "/" + Clip(1);
  EXPECT_EQ(response.video_info().num_frames(), 32);
  EXPECT_NEAR(response.video_info().duration_s(), 2.0, 1e-6);
  // Two clips: 4 frames from the centres of 4 segments of each half.
  model::LoadedInternVideo model = LoadVersion(kVersion1);
  const torch::Tensor expected =
      Unit(DirectClipEmbedding(model, path, {2, 6, 10, 14}) +
           DirectClipEmbedding(model, path, {18, 22, 26, 30}));
  ExpectNear(Values(response.video_embedding()), expected);
  EXPECT_EQ(response.video_embedding().model().version(), kVersion1);

  // The same file inline, and streamed in chunks.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  request.mutable_video()->set_content(bytes);
  EmbedVideoResponse inline_response;
  ASSERT_TRUE(server->EmbedVideo(request, &inline_response).ok());
  ExpectNear(Values(inline_response.video_embedding()), expected);

  grpc::ClientContext context;
  EmbedVideoResponse streamed;
  auto writer = server->NewStub()->EmbedVideoStream(&context, &streamed);
  internvideo::v1::EmbedVideoStreamRequest message;
  *message.mutable_request() = request;
  message.mutable_request()
      ->mutable_video()
      ->mutable_chunked()
      ->set_total_bytes(bytes.size());
  ASSERT_TRUE(writer->Write(message));
  for (size_t start = 0; start < bytes.size(); start += 4096) {
    message.mutable_chunk()->set_data(bytes.substr(start, 4096));
    ASSERT_TRUE(writer->Write(message));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  ExpectNear(Values(streamed.video_embedding()), expected);
}

TEST(EncoderServiceTest, SegmentsSlideOverTheVideo) {
  auto server = StartLoaded(Options(8, absl::Milliseconds(5), 64));
  EmbedVideoRequest request;
  request.mutable_video()->set_path(Clip(2));
  request.mutable_segments()->set_window_s(0.8);
  request.mutable_segments()->set_stride_s(0.5);
  request.set_skip_video_embedding(true);
  EmbedVideoResponse response;
  ASSERT_TRUE(server->EmbedVideo(request, &response).ok());
  EXPECT_FALSE(response.has_video_embedding());
  // Windows at 0, 0.5, 1.0 fit in 2 s; the tail [1.8, 2.0) is covered by
  // one more window ending at the end.
  const std::vector<std::pair<double, double>> expected_times = {
      {0, 0.8}, {0.5, 1.3}, {1.0, 1.8}, {1.2, 2.0}};
  ASSERT_EQ(response.segments_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(response.segments(i).segment().start_s(),
                expected_times[i].first, 1e-9);
    EXPECT_NEAR(response.segments(i).segment().end_s(),
                expected_times[i].second, 1e-9);
  }
  // Window [0.5, 1.3) shows frames 8..20 (16 fps): the centres of 4
  // segments of those 13 frames.
  model::LoadedInternVideo model = LoadVersion(kVersion1);
  const std::string path = TestWorld().videos + "/" + Clip(2);
  ExpectNear(Values(response.segments(1).embedding()),
             Unit(DirectClipEmbedding(model, path, {9, 12, 16, 19})));

  // A 2 s video and 3 s windows: refused, or one window covering it whole
  // when asked (as `iv ingest` asks), sampled as one clip like any window.
  request.mutable_segments()->set_window_s(3);
  request.mutable_segments()->set_stride_s(1);
  const grpc::Status refused = server->EmbedVideo(request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "segments.window_s"))
      << refused.error_message();
  request.mutable_segments()->set_shorter_as_one_window(true);
  ASSERT_TRUE(server->EmbedVideo(request, &response).ok());
  ASSERT_EQ(response.segments_size(), 1);
  EXPECT_NEAR(response.segments(0).segment().start_s(), 0, 1e-9);
  EXPECT_NEAR(response.segments(0).segment().end_s(), 2.0, 1e-9);
  ExpectNear(Values(response.segments(0).embedding()),
             Unit(DirectClipEmbedding(model, path, {4, 12, 20, 28})));
}

TEST(EncoderServiceTest, ConcurrentRequestsAreBatchedWithTheSameResults) {
  auto server = StartLoaded(Options(8, absl::Milliseconds(200), 64));
  std::vector<torch::Tensor> serial(6);
  for (int i = 0; i < 6; ++i) {
    EmbedVideoRequest request;
    request.mutable_video()->set_path(Clip(i));
    EmbedVideoResponse response;
    ASSERT_TRUE(server->EmbedVideo(request, &response).ok());
    serial[i] = Values(response.video_embedding());
  }
  EXPECT_EQ(server->encoder().batcher_stats().largest_batch, 1);

  std::vector<torch::Tensor> concurrent(12);
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int c = 0; c < 12; ++c) {
    clients.emplace_back([&, c] {
      EmbedVideoRequest request;
      request.mutable_video()->set_path(Clip(c % 6));
      EmbedVideoResponse response;
      if (!server->EmbedVideo(request, &response).ok()) ++failures;
      concurrent[c] = Values(response.video_embedding());
    });
  }
  for (std::thread& client : clients) client.join();
  ASSERT_EQ(failures, 0);
  const BatcherStats stats = server->encoder().batcher_stats();
  EXPECT_GT(stats.largest_batch, 1);
  EXPECT_LT(stats.batches, 6 + 12);
  for (int c = 0; c < 12; ++c) ExpectNear(concurrent[c], serial[c % 6]);
}

TEST(EncoderServiceTest, FullQueueIsResourceExhausted) {
  // Nothing runs before 2 s or 64 rows: the first two requests wait, every
  // later one finds the queue full.
  auto server = StartLoaded(Options(64, absl::Seconds(2), 2));
  std::vector<grpc::Status> statuses(8);
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      EmbedTextResponse response;
      statuses[c] = server->EmbedText({absl::StrCat("text ", c)}, &response);
    });
  }
  for (std::thread& client : clients) client.join();
  int ok = 0, exhausted = 0;
  for (const grpc::Status& status : statuses) {
    if (status.ok()) ++ok;
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++exhausted;
      EXPECT_NE(status.error_message().find("queue is full"),
                std::string::npos);
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(exhausted, 6);
  EmbedTextResponse response;
  EXPECT_TRUE(server->EmbedText({"still here"}, &response).ok());
}

TEST(EncoderServiceTest, HotReloadUnderLoadFailsNothing) {
  const std::string models = TestWorld().root + "/reload/" + kModel;
  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(
                  absl::StrCat(models, "/", kVersion1), 1)
                  .ok());
  TestServer server(models, Options(8, absl::Milliseconds(5), 256),
                    absl::Milliseconds(50));
  server.registry().Start();
  for (int i = 0; i < 1000 && server.registry().Current() == nullptr; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(server.registry().Current(), nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, after_new{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      bool seen_new = false;
      while (!stop) {
        EmbedVideoRequest request;
        request.mutable_video()->set_path(Clip(c));
        EmbedVideoResponse response;
        if (!server.EmbedVideo(request, &response).ok()) {
          ++failures;
          continue;
        }
        const std::string& version =
            response.video_embedding().model().version();
        if (version == kVersion2) {
          seen_new = true;
          ++after_new;
        } else if (version != kVersion1 || seen_new) {
          ++failures;  // versions only move forward
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Published as the trainer does: built aside, renamed into place.
  const std::string temp = models + "/.tmp-step-2";
  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(temp, 2).ok());
  fs::rename(temp, absl::StrCat(models, "/", kVersion2));
  for (int i = 0; i < 1000 && after_new < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GE(after_new, 8);
  EXPECT_EQ(server.registry().Current()->version, kVersion2);

  // The new version's numbers are the new model's.
  EmbedTextResponse response;
  ASSERT_TRUE(server.EmbedText({"a green triangle grows"}, &response).ok());
  auto model = model::LoadInternVideo(absl::StrCat(models, "/", kVersion2));
  ASSERT_TRUE(model.ok());
  torch::NoGradGuard no_grad;
  ExpectNear(
      Values(response.embeddings(0)),
      Unit(model->model->multimodal()->EncodeText(
          model->tokenizer->Tokenize({"a green triangle grows"}, 16))[0]));
}

TEST(EncoderServiceTest, UnavailableUntilAModelIsPublished) {
  const std::string models = iv::test::FreshTempDir("empty_models");
  TestServer server(models, Options(8, absl::Milliseconds(5), 64));
  EXPECT_TRUE(absl::IsNotFound(server.registry().Poll()));
  EmbedTextResponse response;
  EXPECT_EQ(server.EmbedText({"hello"}, &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // An incomplete version (no config yet) is not loaded.
  fs::create_directories(models + "/step-00000005");
  EXPECT_TRUE(absl::IsNotFound(server.registry().Poll()));
  ASSERT_TRUE(
      model::testing::WriteTinyCheckpoint(models + "/step-00000005", 1).ok());
  ASSERT_TRUE(server.registry().Poll().ok());
  grpc::ClientContext context;
  internvideo::v1::GetModelInfoResponse info;
  ASSERT_TRUE(server.NewStub()
                  ->GetModelInfo(&context,
                                 internvideo::v1::GetModelInfoRequest(), &info)
                  .ok());
  EXPECT_EQ(info.model().model_id(), "empty_models");
  EXPECT_EQ(info.model().version(), "step-00000005");
  EXPECT_EQ(info.embedding_dim(), 32);
  EXPECT_EQ(info.device(), "cpu");
  EXPECT_GT(info.parameter_count(), 0);
  // The model is named by id, version and digest, never by server paths.
  EXPECT_FALSE(absl::StrContains(info.DebugString(), models))
      << info.DebugString();
  absl::StatusOr<std::string> sha256 =
      files::Sha256File(models + "/step-00000005/model.safetensors");
  ASSERT_TRUE(sha256.ok()) << sha256.status();
  EXPECT_EQ(info.weights_sha256(), *sha256);
  EmbedTextResponse after;
  EXPECT_TRUE(server.EmbedText({"hello"}, &after).ok());
}

TEST(EncoderServiceTest, AVersionDamagedOnDiskIsRefusedAndTheOldOneServes) {
  const std::string models = iv::test::FreshTempDir("damaged_models");
  TestServer server(models, Options(8, absl::Milliseconds(5), 64));
  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(
                  absl::StrCat(models, "/", kVersion1), 1)
                  .ok());
  ASSERT_TRUE(server.registry().Poll().ok());

  // Version 2 lists its files in CHECKSUMS, as the trainer writes them; then
  // one byte of its weights changes (the size stays the same).
  const std::string version2 = absl::StrCat(models, "/", kVersion2);
  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(version2, 2).ok());
  ASSERT_TRUE(files::WriteChecksums(
                  version2, {"model.safetensors", "model_config.textproto"})
                  .ok());
  {
    std::fstream weights(version2 + "/model.safetensors",
                         std::ios::in | std::ios::out | std::ios::binary);
    weights.seekp(-5, std::ios::end);
    weights.put('\x7f');
  }
  const absl::Status refused = server.registry().Poll();
  EXPECT_EQ(refused.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(refused.message(), "model.safetensors"))
      << refused;
  EmbedTextResponse response;
  ASSERT_TRUE(server.EmbedText({"a red circle"}, &response).ok());
  EXPECT_EQ(response.embeddings(0).model().version(), kVersion1);

  // An intact version with CHECKSUMS loads.
  const std::string version3 = models + "/step-00000003";
  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(version3, 3).ok());
  ASSERT_TRUE(files::WriteChecksums(
                  version3, {"model.safetensors", "model_config.textproto"})
                  .ok());
  ASSERT_TRUE(server.registry().Poll().ok());
  ASSERT_TRUE(server.EmbedText({"a red circle"}, &response).ok());
  EXPECT_EQ(response.embeddings(0).model().version(), "step-00000003");
}

TEST(EncoderServiceTest, AnOverflowingShapeIsRefusedAndTheOldVersionServes) {
  const std::string models = iv::test::FreshTempDir("overflow_models");
  TestServer server(models, Options(8, absl::Milliseconds(5), 64));
  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(
                  absl::StrCat(models, "/", kVersion1), 1)
                  .ok());
  ASSERT_TRUE(server.registry().Poll().ok());

  int step = 2;
  for (const std::string shape :
       {"[18446744073709551615, 0]", "[4294967296, 4294967296]"}) {
    SCOPED_TRACE(shape);
    const std::string version = absl::StrCat(models, "/step-0000000", step);
    ASSERT_TRUE(model::testing::WriteTinyCheckpoint(version, step++).ok());
    ASSERT_TRUE(
        test::GiveATensorShape(version + "/model.safetensors", shape).ok());
    // CHECKSUMS lists the bad file as it is, so the reader is what refuses.
    ASSERT_TRUE(files::WriteChecksums(
                    version, {"model.safetensors", "model_config.textproto"})
                    .ok());
    const absl::Status refused = server.registry().Poll();
    EXPECT_EQ(refused.code(), absl::StatusCode::kDataLoss) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), "shape")) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), "overflows")) << refused;
    EmbedTextResponse response;
    ASSERT_TRUE(server.EmbedText({"a red circle"}, &response).ok());
    EXPECT_EQ(response.embeddings(0).model().version(), kVersion1);
  }
}

struct BadInput {
  std::string name;
  std::function<void(EmbedVideoRequest&)> edit;
  grpc::StatusCode code;
  std::string message;  // a part of the message
};

TEST(EncoderServiceTest, BadVideoInputsGetPreciseStatuses) {
  auto server = StartLoaded(Options(8, absl::Milliseconds(5), 64));
  const World& world = TestWorld();
  const std::vector<BadInput> cases = {
      {"parent escape",
       [](EmbedVideoRequest& r) {
         r.mutable_video()->set_path("../../etc/passwd");
       },
       grpc::StatusCode::PERMISSION_DENIED, "video.path"},
      {"absolute outside",
       [&](EmbedVideoRequest& r) {
         r.mutable_video()->set_path(world.outside + "/secret.mp4");
       },
       grpc::StatusCode::PERMISSION_DENIED, "video.path"},
      {"symlink escape",
       [](EmbedVideoRequest& r) { r.mutable_video()->set_path("escape.mp4"); },
       grpc::StatusCode::PERMISSION_DENIED, "video.path"},
      {"missing",
       [](EmbedVideoRequest& r) {
         r.mutable_video()->set_path("clips/none.mp4");
       },
       grpc::StatusCode::NOT_FOUND, "video.path"},
      {"directory",
       [](EmbedVideoRequest& r) { r.mutable_video()->set_path("clips"); },
       grpc::StatusCode::INVALID_ARGUMENT, "video.path"},
      {"corrupt file",
       [](EmbedVideoRequest& r) { r.mutable_video()->set_path("corrupt.mp4"); },
       grpc::StatusCode::INVALID_ARGUMENT, "video: "},
      {"corrupt bytes",
       [](EmbedVideoRequest& r) {
         r.mutable_video()->set_content(std::string(5000, '\x17'));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "video: "},
      {"no source", [](EmbedVideoRequest& r) { r.clear_video(); },
       grpc::StatusCode::INVALID_ARGUMENT, "video: required"},
      {"chunked in unary",
       [](EmbedVideoRequest& r) { r.mutable_video()->mutable_chunked(); },
       grpc::StatusCode::INVALID_ARGUMENT, "video.chunked"},
      {"unknown model", [](EmbedVideoRequest& r) { r.set_model_id("other"); },
       grpc::StatusCode::NOT_FOUND, "model_id"},
      {"frames",
       [](EmbedVideoRequest& r) { r.mutable_sampling()->set_num_frames(3); },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.num_frames"},
      {"clips",
       [](EmbedVideoRequest& r) { r.mutable_sampling()->set_num_clips(1000); },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.num_clips"},
      {"unknown resize",
       [](EmbedVideoRequest& r) {
         r.mutable_sampling()->set_resize(
             static_cast<internvideo::v1::ClipSampling::Resize>(99));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.resize: unknown value"},
      {"unknown mode",
       [](EmbedVideoRequest& r) {
         r.mutable_sampling()->set_mode(
             static_cast<internvideo::v1::ClipSampling::Mode>(7));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.mode: unknown value"},
      {"linspace with clips",
       [](EmbedVideoRequest& r) {
         r.mutable_sampling()->set_mode(
             internvideo::v1::ClipSampling::MODE_LINSPACE);
         r.mutable_sampling()->set_num_clips(2);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.num_clips"},
      {"skip without segments",
       [](EmbedVideoRequest& r) { r.set_skip_video_embedding(true); },
       grpc::StatusCode::INVALID_ARGUMENT, "skip_video_embedding"},
      {"stride",
       [](EmbedVideoRequest& r) {
         r.mutable_segments()->set_window_s(1);
         r.mutable_segments()->set_stride_s(2);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "segments.stride_s"},
      {"window longer than the video",
       [](EmbedVideoRequest& r) { r.mutable_segments()->set_window_s(5); },
       grpc::StatusCode::INVALID_ARGUMENT, "segments.window_s"},
      {"segment past the end",
       [](EmbedVideoRequest& r) {
         r.mutable_video()->mutable_segment()->set_start_s(3);
         r.mutable_video()->mutable_segment()->set_end_s(4);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "video.segment"},
      {"too many windows",
       [](EmbedVideoRequest& r) {
         r.mutable_segments()->set_window_s(0.1);
         r.mutable_segments()->set_stride_s(0.001);
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "segments.stride_s"},
  };
  for (const BadInput& bad : cases) {
    SCOPED_TRACE(bad.name);
    EmbedVideoRequest request;
    request.mutable_video()->set_path(Clip(0));
    bad.edit(request);
    EmbedVideoResponse response;
    const grpc::Status status = server->EmbedVideo(request, &response);
    EXPECT_EQ(status.error_code(), bad.code) << status.error_message();
    EXPECT_NE(status.error_message().find(bad.message), std::string::npos)
        << status.error_message();
  }
  // A batch isolates its bad item.
  internvideo::v1::BatchEmbedVideosRequest batch;
  batch.add_requests()->mutable_video()->set_path(Clip(0));
  batch.add_requests()->mutable_video()->set_path("../../etc/passwd");
  internvideo::v1::BatchEmbedVideosResponse results;
  grpc::ClientContext context;
  ASSERT_TRUE(
      server->NewStub()->BatchEmbedVideos(&context, batch, &results).ok());
  ASSERT_EQ(results.results_size(), 2);
  EXPECT_EQ(results.results(0).response().video_embedding().values_size(), 32);
  EXPECT_EQ(results.results(1).error().code(),
            static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_NE(results.results(1).error().message().find("requests[1].video.path"),
            std::string::npos);

  EmbedVideoRequest good;
  good.mutable_video()->set_path(Clip(0));
  EmbedVideoResponse response;
  EXPECT_TRUE(server->EmbedVideo(good, &response).ok());
}

TEST(EncoderServiceTest, BadStreamsAndTextsGetPreciseStatuses) {
  auto server = StartLoaded(Options(8, absl::Milliseconds(5), 64));
  const std::vector<std::pair<std::vector<std::string>, std::string>> texts = {
      {{}, "texts: empty"},
      {{""}, "texts[0]: empty"},
      {{"fine", std::string(100 * 1024, 'a')}, "texts[1]: 102400 bytes"},
  };
  for (const auto& [input, message] : texts) {
    EmbedTextResponse response;
    const grpc::Status status = server->EmbedText(input, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find(message), std::string::npos)
        << status.error_message();
  }

  auto stream = [&](const std::vector<internvideo::v1::EmbedVideoStreamRequest>&
                        messages) {
    grpc::ClientContext context;
    EmbedVideoResponse response;
    auto writer = server->NewStub()->EmbedVideoStream(&context, &response);
    for (const auto& message : messages) writer->Write(message);
    writer->WritesDone();
    return writer->Finish();
  };
  internvideo::v1::EmbedVideoStreamRequest first, chunk;
  first.mutable_request()->mutable_video()->mutable_chunked()->set_total_bytes(
      10);
  chunk.mutable_chunk()->set_data("12345");
  grpc::Status status = stream({chunk});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("request"), std::string::npos);
  status = stream({first, chunk});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("video.chunked.total_bytes"),
            std::string::npos);
  status = stream({first, chunk, first});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  first.mutable_request()->mutable_video()->mutable_chunked()->set_total_bytes(
      int64_t{1} << 40);
  status = stream({first});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  EmbedTextResponse response;
  EXPECT_TRUE(server->EmbedText({"still serving"}, &response).ok());
}

TEST(EncoderServiceTest, AQuietUploadIsCancelledAndFreesItsThread) {
  EncoderOptions options = Options(8, absl::Milliseconds(5), 64);
  options.stream_idle_timeout = absl::Seconds(1);
  auto server = StartLoaded(options);
  internvideo::v1::EmbedVideoStreamRequest first;
  first.mutable_request()->mutable_video()->mutable_chunked()->set_total_bytes(
      1000);
  grpc::ClientContext context;
  EmbedVideoResponse response;
  auto writer = server->NewStub()->EmbedVideoStream(&context, &response);
  ASSERT_TRUE(writer->Write(first));
  // Then nothing, without closing: the server gives up after 1 s.
  const absl::Time start = absl::Now();
  const grpc::Status status = writer->Finish();
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED)
      << status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EmbedTextResponse texts;
  EXPECT_TRUE(server->EmbedText({"still serving"}, &texts).ok());
}

// encoder_server as a process: NOT_SERVING (and UNAVAILABLE) until a
// version is published into its empty model folder, then SERVING.
TEST(EncoderServerTest, BinaryIsNotServingUntilAModelIsPublished) {
  const std::string root = iv::test::FreshTempDir("server_binary");
  const std::string models = root + "/models/iv-test-tiny";
  fs::create_directories(models);
  const std::string log = root + "/server.log";
  absl::StatusOr<iv::test::ServerProcess> server = iv::test::StartServerProcess(
      absl::StrCat("encoder_service/encoder_server --address 127.0.0.1:0 "
                   "--metrics-address '' --poll-seconds 0.1 --model-dir ",
                   models, " --allowed-roots ", TestWorld().videos),
      log, absl::Seconds(30));
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = server->port;
  auto connection =
      serving::Connection::Open(absl::StrCat("127.0.0.1:", port), {});
  ASSERT_TRUE(connection.ok());
  auto health = grpc::health::v1::Health::NewStub(connection->channel());
  auto status = [&] {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckResponse response;
    health->Check(&context, {}, &response);
    return response.status();
  };
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  auto stub = EncoderService::NewStub(connection->channel());
  EmbedTextRequest request;
  request.add_texts("a red circle");
  EmbedTextResponse response;
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub->EmbedText(&context, request, &response).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }

  ASSERT_TRUE(model::testing::WriteTinyCheckpoint(models + "/.tmp", 3).ok());
  fs::rename(models + "/.tmp", models + "/step-00000010");
  for (int i = 0;
       i < 600 && status() != grpc::health::v1::HealthCheckResponse::SERVING;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::SERVING)
      << iv::test::ReadTextFile(log);
  grpc::ClientContext context;
  ASSERT_TRUE(stub->EmbedText(&context, request, &response).ok());
  EXPECT_EQ(response.embeddings(0).model().model_id(), "iv-test-tiny");
  EXPECT_EQ(response.embeddings(0).model().version(), "step-00000010");
  iv::test::StopServerProcess(*server, SIGTERM);
}

}  // namespace
}  // namespace iv::encoder
