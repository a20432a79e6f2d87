// The task services on loopback with real gRPC clients, a real tiny task
// model (random weights, written as a native checkpoint) and SynthWorld
// videos decoded by FFmpeg. Expected results come from the model library's
// direct forward on the same frames, computed here step by step, so the
// service layer is shown to pass the model's outputs through unchanged.
#include "task_service/task_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/data/window_features.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "common/serving/cancellation.h"
#include "common/serving/model_registry.h"
#include "common/testing/loopback_server.h"
#include "common/testing/service_videos.h"
#include "common/video/clip_spec.h"
#include "common/video/decoder.h"
#include "common/video/transforms.h"
#include "common/video/writer.h"

namespace iv::tasks {
namespace {

using internvideo::v1::AnswerQuestionRequest;
using internvideo::v1::AnswerQuestionResponse;
using internvideo::v1::ClipSampling;
using internvideo::v1::LocalizationService;
using internvideo::v1::LocalizeRequest;
using internvideo::v1::LocalizeResponse;
using internvideo::v1::RecognitionService;
using internvideo::v1::RecognizeRequest;
using internvideo::v1::RecognizeResponse;
using internvideo::v1::VQAService;

constexpr char kTaskModel[] = "iv-test-tiny-task";
constexpr char kVersion[] = "step-00000001";
constexpr char kUntrimmed[] = "untrimmed/test_000.mp4";

// Rendered once under <root>: videos/ (two SynthWorld clips of 2 s, one
// untrimmed test video, a 0.625 s video, a file of noise), outside/ (a
// video outside the roots), and two models: the tiny task model (every
// head) and the plain tiny multimodal model (no masked encoder, no heads).
struct World : iv::test::ServiceTestVideos {
  std::string task_model, plain_model;
};

const World& TestWorld() {
  static const World* world = [] {
    auto* w = new World{iv::test::RenderServiceTestVideos(
        "task_world", /*seed=*/11, /*clips=*/2, /*untrimmed=*/1)};
    w->task_model = absl::StrCat(w->root, "/models/", kTaskModel);
    w->plain_model = w->root + "/models/plain";
    // 10 frames at 16 fps: shorter than the 1 s window.
    auto writer = video::VideoWriter::Open(w->videos + "/short.mp4", 64, 64);
    EXPECT_TRUE(writer.ok());
    std::vector<uint8_t> frame(64 * 64 * 3, 128);
    for (int i = 0; i < 10; ++i)
      EXPECT_TRUE((*writer)->WriteFrame(frame.data()).ok());
    EXPECT_TRUE((*writer)->Close().ok());
    EXPECT_TRUE(model::testing::WriteTinyCheckpoint(
                    absl::StrCat(w->task_model, "/", kVersion), 1,
                    model::testing::TinyTaskModelConfig())
                    .ok());
    EXPECT_TRUE(model::testing::WriteTinyCheckpoint(w->plain_model, 2).ok());
    return w;
  }();
  return *world;
}

// A registry, the three task objects and their services on one loopback
// server, and stubs.
class TestServer {
 public:
  TestServer(const std::string& model_dir, bool load) {
    test::TestRegistryOptions registry_options;
    registry_options.load = load;
    registry_ = test::NewTestRegistry(model_dir, registry_options);
    TaskOptions options;
    options.allowed_roots = {TestWorld().videos};
    recognizer_ = std::make_unique<Recognizer>(options, registry_.get());
    localizer_ = std::make_unique<Localizer>(options, registry_.get());
    answerer_ = std::make_unique<QuestionAnswerer>(options, registry_.get());
    recognition_ = std::make_unique<RecognitionServiceImpl>(recognizer_.get());
    localization_ = std::make_unique<LocalizationServiceImpl>(localizer_.get());
    vqa_ = std::make_unique<VqaServiceImpl>(answerer_.get());
    loopback_ =
        std::make_unique<test::LoopbackServer>(std::vector<grpc::Service*>{
            recognition_.get(), localization_.get(), vqa_.get()});
    channel_ = loopback_->channel();
  }

  const Localizer& localizer() const { return *localizer_; }

  grpc::Status Recognize(const RecognizeRequest& request,
                         RecognizeResponse* response) const {
    grpc::ClientContext context;
    return RecognitionService::NewStub(channel_)->Recognize(&context, request,
                                                            response);
  }
  grpc::Status Localize(const LocalizeRequest& request,
                        LocalizeResponse* response) const {
    grpc::ClientContext context;
    return LocalizationService::NewStub(channel_)->Localize(&context, request,
                                                            response);
  }
  grpc::Status Answer(const AnswerQuestionRequest& request,
                      AnswerQuestionResponse* response) const {
    grpc::ClientContext context;
    return VQAService::NewStub(channel_)->AnswerQuestion(&context, request,
                                                         response);
  }

 private:
  std::unique_ptr<serving::ModelRegistry> registry_;
  std::unique_ptr<Recognizer> recognizer_;
  std::unique_ptr<Localizer> localizer_;
  std::unique_ptr<QuestionAnswerer> answerer_;
  std::unique_ptr<RecognitionServiceImpl> recognition_;
  std::unique_ptr<LocalizationServiceImpl> localization_;
  std::unique_ptr<VqaServiceImpl> vqa_;
  std::unique_ptr<test::LoopbackServer> loopback_;
  std::shared_ptr<grpc::Channel> channel_;
};

const TestServer& TaskServer() {
  static const TestServer* server =
      new TestServer(TestWorld().task_model, /*load=*/true);
  return *server;
}

// The task model, loaded by the test itself.
model::LoadedInternVideo& DirectModel() {
  static model::LoadedInternVideo* loaded = [] {
    auto result = model::LoadInternVideo(
        absl::StrCat(TestWorld().task_model, "/", kVersion));
    EXPECT_TRUE(result.ok()) << result.status();
    return new model::LoadedInternVideo(std::move(*result));
  }();
  return *loaded;
}

std::string Clip(int i) { return absl::StrCat("clips/train_0000", i, ".mp4"); }

// One clip of `path` for both encoders: frames `indices`, short side
// resized to `short_side`, the crops `three_crop` asks for (else the
// centre), normalized for the multimodal encoder (CLIP statistics) and for
// the masked encoder; [views, 3, T, 32, 32] each.
struct DirectClips {
  torch::Tensor multimodal, masked;
};

DirectClips Cut(const std::string& path,
                const std::vector<std::vector<int64_t>>& clips,
                int short_side = 32, bool three_crop = false) {
  auto decoder = video::VideoDecoder::Open(path);
  EXPECT_TRUE(decoder.ok());
  const video::Normalization masked_statistics =
      model::MaskedNormalization(DirectModel().model->config());
  DirectClips out;
  std::vector<torch::Tensor> multimodal, masked;
  for (const std::vector<int64_t>& indices : clips) {
    const torch::Tensor clip = video::ResizeShortSide(
        video::ToFloatClip(*(*decoder)->DecodeFrames(indices)), short_side);
    const std::vector<torch::Tensor> views =
        three_crop ? video::ThreeCrop(clip, 32)
                   : std::vector<torch::Tensor>{video::CenterCrop(clip, 32)};
    for (const torch::Tensor& view : views) {
      multimodal.push_back(video::Normalize(view, video::kClipNormalization));
      masked.push_back(video::Normalize(view, masked_statistics));
    }
  }
  out.multimodal = torch::stack(multimodal);
  out.masked = torch::stack(masked);
  return out;
}

torch::Tensor Normalized(const torch::Tensor& rows) {
  return rows / rows.norm(2, 1, true);
}

// Zero-shot / multiple-choice probabilities [texts] of one-view clips.
torch::Tensor DirectMatch(const DirectClips& clips,
                          const std::vector<std::string>& texts) {
  model::LoadedInternVideo& direct = DirectModel();
  torch::NoGradGuard no_grad;
  const torch::Tensor videos =
      Normalized(direct.model->VideoEmbeds(clips.masked, clips.multimodal));
  const torch::Tensor words = Normalized(direct.model->multimodal()->EncodeText(
      direct.tokenizer->Tokenize(texts, 16)));
  return (direct.model->multimodal()->logit_scale().exp() *
          videos.matmul(words.t()))
      .softmax(1)
      .mean(0);
}

// Each returned label's score equals `expected`'s at its index, and the
// labels come in descending order.
void ExpectScores(
    const google::protobuf::RepeatedPtrField<internvideo::v1::LabelScore>&
        labels,
    const torch::Tensor& expected, const std::vector<std::string>& names) {
  for (int i = 0; i < labels.size(); ++i) {
    const int index = labels[i].index();
    EXPECT_NEAR(labels[i].score(), expected[index].item<float>(), 1e-5);
    EXPECT_EQ(labels[i].label(), names[index]);
    if (i > 0) {
      EXPECT_GE(labels[i - 1].score(), labels[i].score());
    }
  }
}

std::vector<std::string> ClassNames() {
  const auto& names = DirectModel().model->config().proto.class_names();
  return {names.begin(), names.end()};
}

TEST(TaskServiceTest, TrainedHeadRecognitionMatchesTheModel) {
  RecognizeRequest request;
  request.mutable_video()->set_path(Clip(0));
  request.set_top_k(100);
  RecognizeResponse response;
  ASSERT_TRUE(TaskServer().Recognize(request, &response).ok());
  ASSERT_EQ(response.labels_size(), 10);  // more than there are: all
  EXPECT_EQ(response.num_views(), 1);
  EXPECT_EQ(response.model().model_id(), kTaskModel);
  EXPECT_EQ(response.model().version(), kVersion);
  // 4 frames of 32: the centres of 4 segments of 8.
  const DirectClips clips =
      Cut(TestWorld().videos + "/" + Clip(0), {{4, 12, 20, 28}});
  torch::NoGradGuard no_grad;
  const torch::Tensor expected =
      DirectModel()
          .model->RecognitionLogits(clips.masked, clips.multimodal)
          .softmax(1)[0];
  ExpectScores(response.labels(), expected, ClassNames());
  EXPECT_EQ(response.labels(0).index(), expected.argmax().item<int64_t>());

  request.set_top_k(0);  // = 5
  ASSERT_TRUE(TaskServer().Recognize(request, &response).ok());
  EXPECT_EQ(response.labels_size(), 5);
}

TEST(TaskServiceTest, MultiViewAveragesClipsTimesCrops) {
  RecognizeRequest request;
  request.mutable_video()->set_path(Clip(1));
  request.mutable_sampling()->set_num_clips(2);
  request.mutable_sampling()->set_crop(ClipSampling::CROP_THREE);
  request.mutable_sampling()->set_short_side(48);
  request.set_top_k(10);
  RecognizeResponse response;
  ASSERT_TRUE(TaskServer().Recognize(request, &response).ok());
  EXPECT_EQ(response.num_views(), 6);
  // Two clips, one from each half; three 32-px crops of 48-px frames.
  const DirectClips clips = Cut(TestWorld().videos + "/" + Clip(1),
                                {{2, 6, 10, 14}, {18, 22, 26, 30}}, 48, true);
  torch::NoGradGuard no_grad;
  const torch::Tensor expected =
      DirectModel()
          .model->RecognitionLogits(clips.masked, clips.multimodal)
          .softmax(1)
          .mean(0);
  ExpectScores(response.labels(), expected, ClassNames());
  double sum = 0;
  for (const auto& label : response.labels()) sum += label.score();
  EXPECT_NEAR(sum, 1.0, 1e-5);
}

TEST(TaskServiceTest, ZeroShotScoresFollowCosineSimilarity) {
  const std::vector<std::string> labels = {"red circle", "blue square", "green",
                                           "grows"};
  RecognizeRequest request;
  request.mutable_video()->set_path(Clip(0));
  for (const std::string& label : labels) {
    request.mutable_zero_shot()->add_labels(label);
  }
  request.mutable_zero_shot()->set_prompt_template("a {label}");
  RecognizeResponse response;
  ASSERT_TRUE(TaskServer().Recognize(request, &response).ok());
  ASSERT_EQ(response.labels_size(), 4);  // top_k 0 = 5 > 4 labels

  std::vector<std::string> prompts;
  for (const std::string& label : labels) prompts.push_back("a " + label);
  const DirectClips clips =
      Cut(TestWorld().videos + "/" + Clip(0), {{4, 12, 20, 28}});
  ExpectScores(response.labels(), DirectMatch(clips, prompts), labels);
  double sum = 0;
  for (const auto& label : response.labels()) sum += label.score();
  EXPECT_NEAR(sum, 1.0, 1e-5);

  // The order is the cosine order (the scale and softmax are monotone).
  torch::NoGradGuard no_grad;
  model::LoadedInternVideo& direct = DirectModel();
  const torch::Tensor cosine =
      Normalized(direct.model->VideoEmbeds(clips.masked, clips.multimodal))
          .matmul(Normalized(direct.model->multimodal()->EncodeText(
                                 direct.tokenizer->Tokenize(prompts, 16)))
                      .t())[0];
  std::vector<int> order = {0, 1, 2, 3};
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return cosine[a].item<float>() > cosine[b].item<float>();
  });
  for (int i = 0; i < 4; ++i) EXPECT_EQ(response.labels(i).index(), order[i]);

  // The default prompt is "a video of {label}".
  request.mutable_zero_shot()->clear_prompt_template();
  request.mutable_zero_shot()->clear_labels();
  request.mutable_zero_shot()->add_labels("red");
  request.mutable_zero_shot()->add_labels("blue");
  ASSERT_TRUE(TaskServer().Recognize(request, &response).ok());
  ExpectScores(response.labels(),
               DirectMatch(clips, {"a video of red", "a video of blue"}),
               {"red", "blue"});
}

// The segments `iv eval` would compute for the untrimmed video, decoded
// with `options`.
std::vector<model::Segment> DirectSegments(
    const model::SegmentDecodingOptions& options) {
  model::LoadedInternVideo& direct = DirectModel();
  const model::InternVideoConfig& config = direct.model->config();
  // The evaluation's clips for this model: 4 frames of 32 px.
  video::ClipSpec clips;
  clips.num_frames = 4;
  clips.short_side = 32;
  clips.crop_size = 32;
  clips.normalization = model::ClipInputOf(config).normalization;
  auto windows = data::ComputeWindowFeatures(
      direct.model, TestWorld().videos + "/" + kUntrimmed, clips);
  EXPECT_TRUE(windows.ok()) << windows.status();
  torch::NoGradGuard no_grad;
  const model::LocalizationOutput out =
      direct.model->localization_head()->forward(
          windows->features.unsqueeze(0));
  return model::DecodeSegments(out.class_logits[0], out.offsets[0],
                               windows->centres_s, 0.25, windows->duration_s,
                               options);
}

void ExpectSegments(const LocalizeResponse& response,
                    const std::vector<model::Segment>& expected) {
  ASSERT_EQ(response.segments_size(), static_cast<int>(expected.size()));
  const std::vector<std::string> names = ClassNames();
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& segment = response.segments(i);
    EXPECT_NEAR(segment.segment().start_s(), expected[i].start_s, 1e-5);
    EXPECT_NEAR(segment.segment().end_s(), expected[i].end_s, 1e-5);
    EXPECT_EQ(segment.class_id(), expected[i].label);
    EXPECT_EQ(segment.label(), names[expected[i].label]);
    EXPECT_NEAR(segment.score(), expected[i].score, 1e-5);
  }
}

TEST(TaskServiceTest, LocalizationMatchesTheEvaluationAndCachesFeatures) {
  const TestServer& server = TaskServer();
  const FeatureCacheStats before = server.localizer().cache_stats();
  LocalizeRequest request;
  request.mutable_video()->set_path(kUntrimmed);
  request.set_score_threshold(0.05f);  // the evaluation's
  LocalizeResponse response;
  ASSERT_TRUE(server.Localize(request, &response).ok());
  ExpectSegments(response, DirectSegments({}));
  EXPECT_GT(response.segments_size(), 0);
  auto decoder =
      video::VideoDecoder::Open(TestWorld().videos + "/" + kUntrimmed);
  EXPECT_NEAR(response.duration_s(), (*decoder)->info().duration_s, 1e-9);
  EXPECT_EQ(response.model().model_id(), kTaskModel);
  FeatureCacheStats after = server.localizer().cache_stats();
  EXPECT_EQ(after.misses, before.misses + 1);
  EXPECT_EQ(after.hits, before.hits);

  // Other thresholds reuse the features: a hit, no new miss.
  request.set_score_threshold(0.3f);
  request.set_max_segments(3);
  request.set_soft_nms_sigma(0.2f);
  ASSERT_TRUE(server.Localize(request, &response).ok());
  model::SegmentDecodingOptions options;
  options.score_threshold = 0.3f;
  options.max_segments = 3;
  options.soft_nms_sigma = 0.2f;
  ExpectSegments(response, DirectSegments(options));
  after = server.localizer().cache_stats();
  EXPECT_EQ(after.misses, before.misses + 1);
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.entries, 1);

  // The same bytes inline: a new entry keyed by their digest, then a hit;
  // the same segments.
  std::ifstream in(TestWorld().videos + "/" + kUntrimmed, std::ios::binary);
  request.mutable_video()->set_content(
      std::string((std::istreambuf_iterator<char>(in)), {}));
  LocalizeResponse inline_response;
  ASSERT_TRUE(server.Localize(request, &inline_response).ok());
  ASSERT_TRUE(server.Localize(request, &inline_response).ok());
  ExpectSegments(inline_response, DirectSegments(options));
  after = server.localizer().cache_stats();
  EXPECT_EQ(after.misses, before.misses + 2);
  EXPECT_EQ(after.hits, before.hits + 2);

  // Defaults: threshold 0 keeps every segment, up to 100.
  request.clear_score_threshold();
  request.clear_max_segments();
  request.clear_soft_nms_sigma();
  ASSERT_TRUE(server.Localize(request, &response).ok());
  model::SegmentDecodingOptions defaults;
  defaults.score_threshold = 0;
  ExpectSegments(response, DirectSegments(defaults));
  EXPECT_EQ(response.segments_size(), 100);
}

TEST(TaskServiceTest, OpenVocabularyAnswersMatchTheVqaHead) {
  const std::string question = "what color";
  AnswerQuestionRequest request;
  request.mutable_video()->set_path(Clip(1));
  request.set_question(question);
  request.set_top_k(3);
  AnswerQuestionResponse response;
  ASSERT_TRUE(TaskServer().Answer(request, &response).ok());
  ASSERT_EQ(response.alternatives_size(), 3);

  model::LoadedInternVideo& direct = DirectModel();
  const DirectClips clips =
      Cut(TestWorld().videos + "/" + Clip(1), {{4, 12, 20, 28}});
  torch::NoGradGuard no_grad;
  const torch::Tensor expected =
      direct.model
          ->VqaLogits(clips.masked, clips.multimodal,
                      direct.tokenizer->Tokenize({question}, 16))
          .softmax(1)[0];
  const std::vector<std::string>& answers = direct.model->config().vqa->answers;
  ExpectScores(response.alternatives(), expected, answers);
  EXPECT_EQ(response.answer(), answers[expected.argmax().item<int64_t>()]);
  EXPECT_NEAR(response.score(), expected.max().item<float>(), 1e-5);
}

TEST(TaskServiceTest, MultipleChoiceScoresEachCandidateByVideoTextMatching) {
  const std::vector<std::string> candidates = {"red", "blue", "green"};
  AnswerQuestionRequest request;
  request.mutable_video()->set_path(Clip(1));
  request.set_question("what color");
  for (const std::string& candidate : candidates) {
    request.add_candidates(candidate);
  }
  AnswerQuestionResponse response;
  ASSERT_TRUE(TaskServer().Answer(request, &response).ok());
  ASSERT_EQ(response.alternatives_size(), 3);
  const torch::Tensor expected =
      DirectMatch(Cut(TestWorld().videos + "/" + Clip(1), {{4, 12, 20, 28}}),
                  {"what color red", "what color blue", "what color green"});
  ExpectScores(response.alternatives(), expected, candidates);
  EXPECT_EQ(response.answer(), response.alternatives(0).label());
  double sum = 0;
  for (const auto& alternative : response.alternatives()) {
    sum += alternative.score();
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
}

// `status` has `code` and a message starting with `prefix`.
void ExpectStatus(const grpc::Status& status, grpc::StatusCode code,
                  const std::string& prefix) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_TRUE(absl::StartsWith(status.error_message(), prefix))
      << "\"" << status.error_message() << "\" does not start with \"" << prefix
      << "\"";
}

TEST(TaskServiceTest, BadInputGetsPreciseStatusesAndTheServiceStaysUp) {
  const TestServer& server = TaskServer();
  RecognizeResponse recognized;
  auto recognize = [&](auto edit) {
    RecognizeRequest request;
    request.mutable_video()->set_path(Clip(0));
    edit(request);
    return server.Recognize(request, &recognized);
  };
  using Code = grpc::StatusCode;
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 r.mutable_zero_shot()->set_prompt_template("a {label}");
               }),
               Code::INVALID_ARGUMENT, "zero_shot.labels: empty");
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 for (const char* label : {"red", "blue", ""}) {
                   r.mutable_zero_shot()->add_labels(label);
                 }
               }),
               Code::INVALID_ARGUMENT, "zero_shot.labels[2]: empty");
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 r.mutable_zero_shot()->add_labels("red");
                 r.mutable_zero_shot()->set_prompt_template("a video of");
               }),
               Code::INVALID_ARGUMENT,
               "zero_shot.prompt_template: must contain");
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 r.mutable_zero_shot()->add_labels("red");
                 r.mutable_zero_shot()->add_labels(std::string(60, 'x'));
               }),
               Code::INVALID_ARGUMENT, "zero_shot.labels[1]: ");
  ExpectStatus(recognize([](RecognizeRequest& r) { r.set_top_k(-1); }),
               Code::INVALID_ARGUMENT, "top_k: must be >= 0, got -1");
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 r.mutable_sampling()->set_num_clips(1000);
               }),
               Code::INVALID_ARGUMENT, "sampling.num_clips");
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 r.mutable_video()->set_path("corrupt.mp4");
               }),
               Code::INVALID_ARGUMENT, "video: ");
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 r.mutable_video()->set_path("../outside/secret.mp4");
               }),
               Code::PERMISSION_DENIED, "video.path: ");
  ExpectStatus(recognize([](RecognizeRequest& r) {
                 r.mutable_video()->set_path("missing.mp4");
               }),
               Code::NOT_FOUND, "video.path: ");
  ExpectStatus(
      recognize([](RecognizeRequest& r) { r.set_model_id("another-model"); }),
      Code::NOT_FOUND, "model_id: ");

  LocalizeResponse localized;
  auto localize = [&](auto edit) {
    LocalizeRequest request;
    request.mutable_video()->set_path(kUntrimmed);
    edit(request);
    return server.Localize(request, &localized);
  };
  ExpectStatus(localize([](LocalizeRequest& r) {
                 r.mutable_video()->set_path("short.mp4");
               }),
               Code::INVALID_ARGUMENT,
               "video: 0.62 s is shorter than the 1.00 s window");
  ExpectStatus(localize([](LocalizeRequest& r) {
                 r.mutable_video()->set_path("corrupt.mp4");
               }),
               Code::INVALID_ARGUMENT, "video: ");
  ExpectStatus(
      localize([](LocalizeRequest& r) { r.set_score_threshold(1.5f); }),
      Code::INVALID_ARGUMENT, "score_threshold: must be in [0, 1], got 1.5");
  ExpectStatus(
      localize([](LocalizeRequest& r) { r.set_score_threshold(-0.1f); }),
      Code::INVALID_ARGUMENT, "score_threshold: ");
  ExpectStatus(localize([](LocalizeRequest& r) {
                 r.mutable_video()->mutable_segment()->set_end_s(2);
               }),
               Code::INVALID_ARGUMENT, "video.segment: ");
  ExpectStatus(localize([](LocalizeRequest& r) { r.set_max_segments(-1); }),
               Code::INVALID_ARGUMENT, "max_segments: must be >= 0, got -1");
  ExpectStatus(
      localize([](LocalizeRequest& r) { r.set_soft_nms_sigma(-0.5f); }),
      Code::INVALID_ARGUMENT, "soft_nms_sigma: must be >= 0, got -0.5");
  ExpectStatus(localize([](LocalizeRequest& r) {
                 r.mutable_video()->set_path("../outside/secret.mp4");
               }),
               Code::PERMISSION_DENIED, "video.path: ");

  AnswerQuestionResponse answered;
  auto answer = [&](auto edit) {
    AnswerQuestionRequest request;
    request.mutable_video()->set_path(Clip(0));
    request.set_question("what color");
    edit(request);
    return server.Answer(request, &answered);
  };
  ExpectStatus(answer([](AnswerQuestionRequest& r) { r.clear_question(); }),
               Code::INVALID_ARGUMENT, "question: empty");
  ExpectStatus(answer([](AnswerQuestionRequest& r) {
                 r.set_question(std::string(600, 'a'));
               }),
               Code::INVALID_ARGUMENT,
               "question: 600 bytes, the server's limit is 512");
  ExpectStatus(
      answer([](AnswerQuestionRequest& r) { r.add_candidates("red"); }),
      Code::INVALID_ARGUMENT, "candidates: 1 candidate");
  ExpectStatus(answer([](AnswerQuestionRequest& r) {
                 r.add_candidates("red");
                 r.add_candidates("");
               }),
               Code::INVALID_ARGUMENT, "candidates[1]: empty");
  ExpectStatus(answer([](AnswerQuestionRequest& r) { r.set_top_k(-2); }),
               Code::INVALID_ARGUMENT, "top_k: ");
  ExpectStatus(answer([](AnswerQuestionRequest& r) {
                 r.mutable_video()->set_path("corrupt.mp4");
               }),
               Code::INVALID_ARGUMENT, "video: ");

  // Still healthy: each RPC answers a good request.
  EXPECT_TRUE(recognize([](RecognizeRequest&) {}).ok());
  EXPECT_TRUE(localize([](LocalizeRequest&) {}).ok());
  EXPECT_TRUE(answer([](AnswerQuestionRequest&) {}).ok());
}

// Each task polls its caller's cancellation while decoding (the gRPC layer
// passes the client's): a call cancelled part way through its video stops
// with CANCELLED, Localize caches no features for it, and the same calls
// uncancelled answer.
TEST(TaskServiceTest, ACancelledCallStopsDecoding) {
  std::unique_ptr<serving::ModelRegistry> registry =
      test::NewTestRegistry(TestWorld().task_model);
  TaskOptions options;
  options.allowed_roots = {TestWorld().videos};
  const Recognizer recognizer(options, registry.get());
  Localizer localizer(options, registry.get());
  const QuestionAnswerer answerer(options, registry.get());
  int polls = 0;
  // Lets the decoder open and start, then cancels.
  const serving::Cancelled cancelled = [&polls] { return ++polls > 3; };

  RecognizeRequest recognize;
  recognize.mutable_video()->set_path(Clip(0));
  EXPECT_TRUE(
      absl::IsCancelled(recognizer.Recognize(recognize, cancelled).status()));
  EXPECT_GT(polls, 3);
  EXPECT_TRUE(recognizer.Recognize(recognize).ok());

  polls = 0;
  LocalizeRequest localize;
  localize.mutable_video()->set_path(kUntrimmed);
  EXPECT_TRUE(
      absl::IsCancelled(localizer.Localize(localize, cancelled).status()));
  EXPECT_GT(polls, 3);
  EXPECT_EQ(localizer.cache_stats().entries, 0);
  EXPECT_TRUE(localizer.Localize(localize).ok());
  EXPECT_EQ(localizer.cache_stats().entries, 1);

  polls = 0;
  AnswerQuestionRequest question;
  question.mutable_video()->set_path(Clip(1));
  question.set_question("what color");
  EXPECT_TRUE(
      absl::IsCancelled(answerer.AnswerQuestion(question, cancelled).status()));
  EXPECT_GT(polls, 3);
  EXPECT_TRUE(answerer.AnswerQuestion(question).ok());
}

TEST(TaskServiceTest, TooLongQuestionIsRefusedByTokenCount) {
  // Fits the byte limit but not the 16-token context.
  AnswerQuestionRequest request;
  request.mutable_video()->set_path(Clip(0));
  request.set_question("what color is the triangle that disappears");
  AnswerQuestionResponse response;
  const grpc::Status status = TaskServer().Answer(request, &response);
  ExpectStatus(status, grpc::StatusCode::INVALID_ARGUMENT, "question: ");
  EXPECT_TRUE(absl::StrContains(status.error_message(),
                                "more than the text encoder's context length "
                                "of 16"))
      << status.error_message();
}

TEST(TaskServiceTest, ModelWithoutAPartIsAFailedPrecondition) {
  TestServer server(TestWorld().plain_model, /*load=*/true);
  RecognizeRequest recognize;
  recognize.mutable_video()->set_path(Clip(0));
  RecognizeResponse recognized;
  ExpectStatus(server.Recognize(recognize, &recognized),
               grpc::StatusCode::FAILED_PRECONDITION, "model \"");
  // Zero-shot needs only the multimodal encoder.
  recognize.mutable_zero_shot()->add_labels("red");
  recognize.mutable_zero_shot()->add_labels("blue");
  EXPECT_TRUE(server.Recognize(recognize, &recognized).ok());

  LocalizeRequest localize;
  localize.mutable_video()->set_path(kUntrimmed);
  LocalizeResponse localized;
  const grpc::Status no_head = server.Localize(localize, &localized);
  ExpectStatus(no_head, grpc::StatusCode::FAILED_PRECONDITION, "model \"");
  EXPECT_TRUE(absl::StrContains(no_head.error_message(), "localization head"));

  AnswerQuestionRequest ask;
  ask.mutable_video()->set_path(Clip(0));
  ask.set_question("what color");
  AnswerQuestionResponse answered;
  const grpc::Status no_vqa = server.Answer(ask, &answered);
  ExpectStatus(no_vqa, grpc::StatusCode::FAILED_PRECONDITION, "model \"");
  EXPECT_TRUE(absl::StrContains(no_vqa.error_message(), "VQA head"));
  // Multiple choice needs only the multimodal encoder.
  ask.add_candidates("red");
  ask.add_candidates("blue");
  EXPECT_TRUE(server.Answer(ask, &answered).ok());
}

TEST(TaskServiceTest, UnavailableBeforeTheModelLoads) {
  TestServer server(TestWorld().root + "/models/not-yet", /*load=*/false);
  RecognizeRequest recognize;
  recognize.mutable_video()->set_path(Clip(0));
  RecognizeResponse recognized;
  EXPECT_EQ(server.Recognize(recognize, &recognized).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  LocalizeRequest localize;
  localize.mutable_video()->set_path(kUntrimmed);
  LocalizeResponse localized;
  EXPECT_EQ(server.Localize(localize, &localized).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  AnswerQuestionRequest ask;
  ask.mutable_video()->set_path(Clip(0));
  ask.set_question("what color");
  AnswerQuestionResponse answered;
  EXPECT_EQ(server.Answer(ask, &answered).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace iv::tasks
