// SynthWorld-Bench quality of the task services, measured through them:
// task_server and captioner_server serving the committed iv-tiny run as
// processes on loopback, and every clip of iv-tiny's test split (seeds it
// never trained on) is sent as a user would send it. The metrics are the
// trainer's (`iv eval`'s) functions over what the services answered:
// recognition with the trained head and zero-shot from label texts, VQA
// exact match, caption (color, shape, action) triples and BLEU-4 of greedy
// captions, and localization mAP on untrimmed videos. It prints the table
// the task services' issue asks for and holds each number to a floor a
// broken service path (wrong crops, a head reading the wrong tokens, label
// indices shifted) would fall far below.
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/data/manifest.h"
#include "common/serving/connection.h"
#include "common/synthworld/benchmark.h"
#include "common/synthworld/renderer.h"
#include "common/synthworld/vocabulary.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "protos/captioner_service.grpc.pb.h"
#include "protos/task_service.grpc.pb.h"
#include "tools/iv/task_servers_testing.h"
#include "trainer/evaluation.h"

namespace iv::cli {
namespace {

namespace v1 = internvideo::v1;
namespace sw = synthworld;

constexpr int kClips = 300;     // iv-tiny's test split (world seed 7)
constexpr int kUntrimmed = 30;  // its untrimmed test videos (seed 8)
constexpr int kCaptionBatch = 16;

v1::VideoSource PathSource(const std::string& path) {
  v1::VideoSource source;
  source.set_path(path);
  return source;
}

// The scores of `labels` (a response's top-k over every class) as one row
// of logits in class order.
torch::Tensor ScoreRow(
    const google::protobuf::RepeatedPtrField<v1::LabelScore>& labels,
    int classes) {
  torch::Tensor row = torch::full({classes}, -1e9);
  for (const v1::LabelScore& label : labels) row[label.index()] = label.score();
  return row;
}

class TasksQualityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::FreshTempDir("tasks_quality"));
    sw::SynthOptions world;
    world.out_dir = *root_ + "/world";
    world.seed = 7;
    world.rendering.size = 64;
    world.train_clips = world.val_clips = 0;
    world.test_clips = kClips;
    world.test_untrimmed = 0;
    ASSERT_TRUE(sw::RenderWorld(world, {}).ok());
    world.out_dir = *root_ + "/untrimmed";
    world.seed = 8;
    world.test_clips = 0;
    world.test_untrimmed = kUntrimmed;
    ASSERT_TRUE(sw::RenderWorld(world, {}).ok());

    absl::StatusOr<TaskServers> servers = StartTaskServers(
        absl::StrCat("--model-dir models/iv-tiny --allowed-roots ", *root_),
        *root_);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = new TaskServers(*servers);
  }

  static void TearDownTestSuite() {
    if (servers_) StopTaskServers(*servers_);
  }

  static serving::Connection Connect(const test::ServerProcess& server) {
    absl::StatusOr<serving::Connection> connection =
        serving::Connection::Open(absl::StrCat("127.0.0.1:", server.port), {});
    EXPECT_TRUE(connection.ok()) << connection.status();
    return *std::move(connection);
  }

  static std::vector<data::TrimmedClip> Clips() {
    absl::StatusOr<std::vector<data::TrimmedClip>> clips =
        data::ReadTrimmedManifest(*root_ + "/world/test.jsonl");
    EXPECT_TRUE(clips.ok()) << clips.status();
    EXPECT_EQ(clips->size(), kClips);
    return *std::move(clips);
  }

  static std::string* root_;
  static TaskServers* servers_;
};

std::string* TasksQualityTest::root_ = nullptr;
TaskServers* TasksQualityTest::servers_ = nullptr;

// "what color is the square that grows" -> "what color".
std::string QuestionKind(const std::string& question) {
  const std::vector<std::string> words = absl::StrSplit(question, ' ');
  return words.size() < 2 ? question : words[0] + " " + words[1];
}

void Report(const std::string& name, double value, const std::string& note) {
  std::cout << std::left << std::setw(40) << name << std::fixed
            << std::setprecision(3) << value << "  " << note << "\n";
}

TEST_F(TasksQualityTest, RecognitionWithTheTrainedHeadAndZeroShot) {
  serving::Connection connection = Connect(servers_->tasks);
  auto stub = v1::RecognitionService::NewStub(connection.channel());
  const std::vector<data::TrimmedClip> clips = Clips();
  const int classes = static_cast<int>(sw::Actions().size());
  std::vector<torch::Tensor> trained, zero_shot;
  std::vector<int64_t> labels;
  for (const data::TrimmedClip& clip : clips) {
    v1::RecognizeRequest request;
    *request.mutable_video() = PathSource(clip.path);
    request.set_top_k(classes);
    v1::RecognizeResponse response;
    grpc::Status status = stub->Recognize(
        connection.NewContext(absl::Seconds(60)).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    trained.push_back(ScoreRow(response.labels(), classes));

    // Zero-shot: the actions' caption phrases, in class order.
    for (const sw::ActionInfo& action : sw::Actions())
      request.mutable_zero_shot()->add_labels(std::string(action.phrase));
    status = stub->Recognize(connection.NewContext(absl::Seconds(60)).get(),
                             request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    zero_shot.push_back(ScoreRow(response.labels(), classes));
    labels.push_back(clip.action_id);
  }
  const torch::Tensor truth = torch::tensor(labels);
  trainer::Metrics head =
      trainer::RecognitionMetrics(torch::stack(trained), truth);
  trainer::Metrics zero =
      trainer::RecognitionMetrics(torch::stack(zero_shot), truth);
  Report("recognition top-1 (trained head)", head["top1"], "");
  Report("recognition twin top-1 (trained)", head["twin_top1"], "");
  Report("recognition top-1 (zero-shot)", zero["top1"],
         "labels: the actions' caption phrases");
  Report("recognition twin top-1 (zero-shot)", zero["twin_top1"], "");
  // Measured (= `iv eval` on the same clips): 0.967 / twin 0.967;
  // zero-shot 0.873 / twin 0.960.
  EXPECT_GE(head["top1"], 0.93);
  EXPECT_GE(head["twin_top1"], 0.93);
  EXPECT_GE(zero["top1"], 0.5);  // chance 0.1
}

TEST_F(TasksQualityTest, QuestionAnswering) {
  serving::Connection connection = Connect(servers_->tasks);
  auto stub = v1::VQAService::NewStub(connection.channel());
  // Per question template, by its first two words ("what color", "what
  // shape", "what does", "how many").
  std::map<std::string, std::pair<int, int>> by_kind;  // right, asked
  for (const data::TrimmedClip& clip : Clips()) {
    for (const data::QuestionAnswer& qa : clip.questions) {
      v1::AnswerQuestionRequest request;
      *request.mutable_video() = PathSource(clip.path);
      request.set_question(qa.q);
      v1::AnswerQuestionResponse response;
      grpc::Status status = stub->AnswerQuestion(
          connection.NewContext(absl::Seconds(60)).get(), request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::pair<int, int>& kind = by_kind[QuestionKind(qa.q)];
      kind.first += response.answer() == qa.a;
      ++kind.second;
    }
  }
  int asked = 0, right = 0;
  for (const auto& [kind, counts] : by_kind) {
    right += counts.first;
    asked += counts.second;
  }
  const double accuracy = static_cast<double>(right) / asked;
  Report("VQA accuracy", accuracy,
         absl::StrCat(asked, " questions; target 0.90"));
  for (const auto& [kind, counts] : by_kind) {
    Report("  \"" + kind + " ...\"",
           static_cast<double>(counts.first) / counts.second,
           absl::StrCat(counts.second, " questions"));
  }
  // Measured 0.970 (the issue's target 0.90): "what shape" 0.930, the
  // other templates 0.97-0.99.
  EXPECT_GE(accuracy, 0.90);
}

TEST_F(TasksQualityTest, Captions) {
  serving::Connection connection = Connect(servers_->captioner);
  auto stub = v1::CaptionerService::NewStub(connection.channel());
  const std::vector<data::TrimmedClip> clips = Clips();
  std::vector<std::string> generated;
  for (size_t begin = 0; begin < clips.size(); begin += kCaptionBatch) {
    v1::BatchCaptionVideosRequest request;
    for (size_t i = begin; i < std::min(clips.size(), begin + kCaptionBatch);
         ++i)
      *request.add_videos() = PathSource(clips[i].path);
    request.mutable_decoding()->set_method(v1::DecodingOptions::METHOD_GREEDY);
    v1::BatchCaptionVideosResponse response;
    grpc::Status status = stub->BatchCaptionVideos(
        connection.NewContext(absl::Seconds(120)).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const auto& result : response.results()) {
      ASSERT_TRUE(result.has_caption()) << result.error().message();
      generated.push_back(result.caption().text());
    }
  }
  trainer::Metrics metrics = trainer::CaptionMetrics(generated, clips);
  Report("caption triple accuracy", metrics["triple_accuracy"],
         "greedy; target 0.85");
  // Which part of the triple the captions get right.
  int slot_right[3] = {0, 0, 0};
  for (size_t i = 0; i < clips.size(); ++i) {
    const std::vector<std::string> said =
        absl::StrSplit(synthworld::CaptionTriple(generated[i]), ' ');
    const std::vector<std::string> truth =
        absl::StrSplit(synthworld::ClipKey(clips[i]), ' ');
    for (int slot = 0; slot < 3; ++slot)
      slot_right[slot] += said.size() == 3 && said[slot] == truth[slot];
  }
  const char* slot_names[3] = {"color", "shape", "action"};
  for (int slot = 0; slot < 3; ++slot) {
    Report(absl::StrCat("  caption ", slot_names[slot], " right"),
           static_cast<double>(slot_right[slot]) / clips.size(), "");
  }
  Report("caption BLEU-4", metrics["bleu4"], "against the canonical captions");
  // Measured triples 0.873 (the issue's target 0.85; shape right 0.923,
  // color 0.977, action 0.963), BLEU-4 0.771.
  EXPECT_GE(metrics["triple_accuracy"], 0.85);
  EXPECT_GE(metrics["bleu4"], 0.70);
}

TEST_F(TasksQualityTest, Localization) {
  serving::Connection connection = Connect(servers_->tasks);
  auto stub = v1::LocalizationService::NewStub(connection.channel());
  absl::StatusOr<std::vector<data::UntrimmedVideo>> videos =
      data::ReadUntrimmedManifest(*root_ + "/untrimmed/test_untrimmed.jsonl");
  ASSERT_TRUE(videos.ok()) << videos.status();
  ASSERT_EQ(videos->size(), kUntrimmed);
  std::vector<std::vector<model::Segment>> predictions, truth;
  for (const data::UntrimmedVideo& video : *videos) {
    v1::LocalizeRequest request;
    *request.mutable_video() = PathSource(video.path);
    request.set_score_threshold(0.05f);  // `iv eval`'s decoding
    request.set_max_segments(100);
    v1::LocalizeResponse response;
    grpc::Status status = stub->Localize(
        connection.NewContext(absl::Seconds(120)).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    predictions.emplace_back();
    for (const v1::ActionSegment& segment : response.segments()) {
      predictions.back().push_back({segment.segment().start_s(),
                                    segment.segment().end_s(),
                                    segment.class_id(), segment.score()});
    }
    truth.emplace_back();
    for (const data::ActionSegment& segment : video.segments) {
      truth.back().push_back(
          {segment.start_s, segment.end_s, segment.action_id, 1.0});
    }
  }
  trainer::Metrics metrics = trainer::LocalizationMetrics(predictions, truth);
  Report("localization mAP@0.5", metrics["map_0.5"], "target 0.70");
  for (const char* tiou : {"0.3", "0.4", "0.6", "0.7"})
    Report(absl::StrCat("localization mAP@", tiou),
           metrics[absl::StrCat("map_", tiou)], "");
  Report("localization mAP mean (0.3:0.1:0.7)", metrics["map_0.3:0.7"], "");
  // Measured 0.840 (the issue's target 0.70), mean over 0.3:0.1:0.7 0.800.
  EXPECT_GE(metrics["map_0.5"], 0.75);
  EXPECT_GE(metrics["map_0.3:0.7"], 0.70);
}

}  // namespace
}  // namespace iv::cli
