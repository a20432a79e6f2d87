// Real videos, end to end: files none of us made (public repositories'
// test data and demos, extracted by tools/real_videos.sh into
// $IV_REAL_VIDEOS; tools/test.sh does that when the repositories are
// fetched) and ffmpeg CLI transcodes made here (HEVC 10-bit, VP9, AV1,
// ProRes, rotation, variable frame rate, odd size in 4:4:4, 1080p, audio
// beside video), always, from the first real video or, without one, from
// ffmpeg's test pattern.
//
// Each video: `iv video probe` and `iv video sample` give what ffprobe and
// the ffmpeg CLI give; encoder_server embeds it by path, by inline bytes and by
// stream (the same embedding each way); task_server recognizes it and answers a
// question about it; captioner_server captions it; finally `iv ingest`
// indexes the folder through encoder_server and index_server.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/files/read_file.h"
#include "common/process/command.h"
#include "common/safetensors/safetensors.h"
#include "common/serving/connection.h"
#include "common/testing/ffmpeg_cli.h"
#include "common/testing/server_process.h"
#include "common/testing/temp_dir.h"
#include "common/video/decoder.h"
#include "gtest/gtest.h"
#include "protos/captioner_service.grpc.pb.h"
#include "protos/encoder_service.grpc.pb.h"
#include "protos/index_service.grpc.pb.h"
#include "protos/task_service.grpc.pb.h"

namespace iv {
namespace {

namespace fs = std::filesystem;
namespace v1 = internvideo::v1;

// The names tools/real_videos.sh gives the files it extracts.
constexpr const char* kRealVideos[] = {
    "mmaction2_demo.mp4",     "mmaction2_test.avi",
    "mmaction2_test.mp4",     "mmaction2_skeleton_1080p.avi",
    "internvid_example1.mp4",
};

// name, and the ffmpeg CLI's arguments between the source and the output.
struct Transcode {
  std::string name, args;
};

const std::vector<Transcode>& Transcodes() {
  static const auto* transcodes = new std::vector<Transcode>{
      {"hevc_10bit.mkv",
       "-t 2 -c:v libx265 -preset ultrafast -pix_fmt yuv420p10le "
       "-x265-params log-level=none -an"},
      {"vp9.webm",
       "-t 2 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 400k -an"},
      {"av1.mkv", "-t 2 -c:v libaom-av1 -cpu-used 8 -b:v 300k -an"},
      {"prores.mov", "-t 1 -c:v prores_ks -profile:v 0 -an"},
      // FFmpeg 5.1 writes `rotate=90` as a counterclockwise quarter turn.
      {"rotated_90.mp4",
       "-t 2 -c:v libx264 -preset ultrafast -metadata:s:v:0 rotate=90 -an"},
      {"vfr.mkv",
       "-t 3 -vf \"select='not(eq(mod(n\\,3)\\,1))'\" -fps_mode vfr "
       "-c:v libx264 -preset ultrafast -an"},
      {"odd_yuv444.mp4",
       "-t 2 -vf scale=171:97 -c:v libx264 -preset ultrafast -pix_fmt "
       "yuv444p -an"},
      {"hd_1080p.mp4",
       "-t 1 -vf scale=1920:1080 -c:v libx264 -preset ultrafast -an"},
      {"with_audio.mp4",
       "-t 2 -c:v libx264 -preset ultrafast -c:a aac -shortest"},
  };
  return *transcodes;
}

std::string Quote(const std::string& path) { return "'" + path + "'"; }

void RunOrFail(const std::string& command) {
  const process::CommandResult run = process::RunCommand(command + " 2>&1");
  EXPECT_EQ(run.exit_code, 0) << command << "\n" << run.output;
}

// ffprobe's count of decoded frames and the stream's duration in seconds.
std::pair<int64_t, double> Ffprobe(const std::string& path) {
  const process::CommandResult run = process::RunCommand(absl::StrCat(
      "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
      "stream=nb_read_frames:format=duration -of csv=p=0 ",
      Quote(path)));
  std::vector<std::string> values =
      absl::StrSplit(run.output, absl::ByAnyChar(",\n"), absl::SkipEmpty());
  int64_t frames = -1;
  double duration = -1;
  if (values.size() >= 2) {
    EXPECT_TRUE(absl::SimpleAtoi(values[0], &frames)) << run.output;
    EXPECT_TRUE(absl::SimpleAtod(values[1], &duration)) << run.output;
  }
  return {frames, duration};
}

struct Stack {
  std::string root, videos;
  std::vector<std::string> names;  // files under videos/
  std::optional<test::ServingServer> encoder, index, tasks, captioner;
};

Stack* stack = nullptr;

class RealVideosTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack;
    stack->root = test::FreshTempDir("real_videos");
    stack->videos = stack->root + "/videos";
    fs::create_directories(stack->videos);
    const char* real = std::getenv("IV_REAL_VIDEOS");
    std::string source;
    for (const char* name : kRealVideos) {
      const std::string path =
          real != nullptr ? absl::StrCat(real, "/", name) : "";
      if (path.empty() || !fs::exists(path)) continue;
      fs::copy_file(path, absl::StrCat(stack->videos, "/", name));
      stack->names.push_back(name);
      if (source.empty()) source = path;
    }
    if (stack->names.empty()) {
      std::fprintf(stderr,
                   "real_videos_test: no real videos (IV_REAL_VIDEOS=%s): "
                   "fetch open-mmlab/mmaction2 and OpenGVLab/InternVideo and "
                   "run tools/real_videos.sh; the transcodes are made from "
                   "ffmpeg's test pattern\n",
                   real != nullptr ? real : "unset");
      source = stack->root + "/pattern.mp4";
      RunOrFail(absl::StrCat(
          "ffmpeg -nostdin -v error -y -f lavfi -i "
          "testsrc2=size=320x240:rate=25:duration=4 -f lavfi -i "
          "sine=frequency=440:duration=4 -c:v libx264 -c:a aac -shortest ",
          Quote(source)));
    }
    for (const Transcode& transcode : Transcodes()) {
      RunOrFail(absl::StrCat("ffmpeg -nostdin -v error -y -i ", Quote(source),
                             " ", transcode.args, " ",
                             Quote(stack->videos + "/" + transcode.name)));
      stack->names.push_back(transcode.name);
    }

    const std::string common = absl::StrCat(
        " --address 127.0.0.1:0 --metrics-address '' --model-dir "
        "models/iv-tiny --threads 1 --allowed-roots ",
        stack->videos);
    auto start = [](const std::string& binary, const std::string& flags,
                    const std::string& log,
                    std::optional<test::ServingServer>* server) {
      absl::StatusOr<test::ServingServer> started = test::StartServing(
          binary + flags, absl::StrCat(stack->root, "/", log, ".log"));
      ASSERT_TRUE(started.ok()) << started.status();
      server->emplace(*std::move(started));
    };
    start("encoder_service/encoder_server", common, "encoder", &stack->encoder);
    start("task_service/task_server", common, "tasks", &stack->tasks);
    start("captioner/captioner_server", common, "captioner", &stack->captioner);
    start("index_service/index_server",
          absl::StrCat(" --address 127.0.0.1:0 --metrics-address '' "
                       "--data-dir ",
                       stack->root, "/index --encoder-address 127.0.0.1:",
                       stack->encoder->process.port),
          "index", &stack->index);
  }

  static void TearDownTestSuite() {
    if (stack == nullptr) return;
    for (std::optional<test::ServingServer>* server :
         {&stack->encoder, &stack->index, &stack->tasks, &stack->captioner}) {
      if (*server) test::StopServerProcess((*server)->process, SIGTERM);
    }
    delete stack;
    stack = nullptr;
  }
};

// Embedding values of a response.
std::vector<float> Values(const v1::EmbedVideoResponse& response) {
  return {response.video_embedding().values().begin(),
          response.video_embedding().values().end()};
}

// `iv video probe` and `iv video sample` (16 frames, uniform) against
// ffprobe and the ffmpeg CLI: frame count, duration, and every sampled
// frame's pixels.
void ExpectDecodedAsTheCli(const std::string& path) {
  const process::CommandResult probe = process::RunCommand(
      absl::StrCat("tools/iv/iv video probe ", Quote(path)));
  ASSERT_EQ(probe.exit_code, 0) << probe.output;
  const nlohmann::json info = nlohmann::json::parse(probe.output);
  const auto [frames, duration] = Ffprobe(path);
  EXPECT_EQ(info["num_frames"].get<int64_t>(), frames);
  EXPECT_NEAR(info["duration_s"].get<double>(), duration,
              1.5 / std::max(1.0, info["fps"].get<double>()));

  const std::string out = absl::StrCat(stack->root, "/sample.safetensors");
  const process::CommandResult sample = process::RunCommand(
      absl::StrCat("tools/iv/iv video sample ", Quote(path),
                   " --num-frames 16 --out ", Quote(out), " 2>&1"));
  ASSERT_EQ(sample.exit_code, 0) << sample.output;
  absl::StatusOr<TensorFile> sampled = ReadSafetensors(out);
  ASSERT_TRUE(sampled.ok()) << sampled.status();
  const torch::Tensor* decoded = sampled->Find("frames");
  const torch::Tensor* indices = sampled->Find("frame_indices");
  ASSERT_TRUE(decoded != nullptr && indices != nullptr);
  ASSERT_EQ(decoded->size(0), 16);
  // The CLI decodes each distinct frame once, in order.
  std::vector<int64_t> distinct;
  for (int64_t i = 0; i < indices->numel(); ++i) {
    const int64_t index = (*indices)[i].item<int64_t>();
    if (distinct.empty() || distinct.back() != index) distinct.push_back(index);
  }
  const std::vector<uint8_t> cli = test::DecodeWithFfmpeg(path, distinct);
  const int64_t frame_bytes = decoded->numel() / decoded->size(0);
  ASSERT_EQ(static_cast<int64_t>(cli.size()),
            frame_bytes * static_cast<int64_t>(distinct.size()));
  for (int64_t i = 0; i < indices->numel(); ++i) {
    const int64_t index = (*indices)[i].item<int64_t>();
    const int64_t row =
        std::lower_bound(distinct.begin(), distinct.end(), index) -
        distinct.begin();
    const torch::Tensor expected =
        torch::from_blob(const_cast<uint8_t*>(cli.data()) + row * frame_bytes,
                         {frame_bytes}, torch::kUInt8);
    EXPECT_TRUE(torch::equal((*decoded)[i].flatten(), expected))
        << "frame " << index;
  }
}

// By path, inline and streamed: the same embedding.
void ExpectEmbedded(const std::string& name, const std::string& path,
                    int64_t num_frames) {
  auto encoder =
      v1::EncoderService::NewStub(stack->encoder->connection.channel());
  v1::EmbedVideoRequest request;
  request.mutable_video()->set_path(name);
  v1::EmbedVideoResponse by_path, inline_bytes, streamed;
  grpc::Status status = encoder->EmbedVideo(
      stack->encoder->connection.NewContext(absl::Seconds(120)).get(), request,
      &by_path);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(by_path.video_info().num_frames(), num_frames);
  absl::StatusOr<std::string> bytes = files::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  request.mutable_video()->set_content(*bytes);
  status = encoder->EmbedVideo(
      stack->encoder->connection.NewContext(absl::Seconds(120)).get(), request,
      &inline_bytes);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Values(inline_bytes), Values(by_path));
  {
    auto context = stack->encoder->connection.NewContext(absl::Seconds(120));
    auto writer = encoder->EmbedVideoStream(context.get(), &streamed);
    v1::EmbedVideoStreamRequest message;
    *message.mutable_request() = request;
    message.mutable_request()
        ->mutable_video()
        ->mutable_chunked()
        ->set_total_bytes(bytes->size());
    ASSERT_TRUE(writer->Write(message));
    for (size_t start = 0; start < bytes->size(); start += 1 << 20) {
      message.mutable_chunk()->set_data(bytes->substr(start, 1 << 20));
      ASSERT_TRUE(writer->Write(message));
    }
    writer->WritesDone();
    status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(Values(streamed), Values(by_path));
  }
}

// Recognized, answered and captioned.
void ExpectTasksAnswer(const std::string& name) {
  v1::RecognizeRequest recognize;
  recognize.mutable_video()->set_path(name);
  v1::RecognizeResponse recognized;
  grpc::Status status =
      v1::RecognitionService::NewStub(stack->tasks->connection.channel())
          ->Recognize(
              stack->tasks->connection.NewContext(absl::Seconds(120)).get(),
              recognize, &recognized);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(recognized.labels_size(), 0);
  v1::AnswerQuestionRequest question;
  question.mutable_video()->set_path(name);
  question.set_question("what color is the shape");
  v1::AnswerQuestionResponse answered;
  status =
      v1::VQAService::NewStub(stack->tasks->connection.channel())
          ->AnswerQuestion(
              stack->tasks->connection.NewContext(absl::Seconds(120)).get(),
              question, &answered);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(answered.answer().empty());
  v1::CaptionVideoRequest caption;
  caption.mutable_video()->set_path(name);
  v1::CaptionVideoResponse captioned;
  status =
      v1::CaptionerService::NewStub(stack->captioner->connection.channel())
          ->CaptionVideo(
              stack->captioner->connection.NewContext(absl::Seconds(120)).get(),
              caption, &captioned);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(captioned.caption().text().empty());
}

TEST_F(RealVideosTest, EveryVideoMatchesTheCliAndEveryServiceAnswers) {
  for (const std::string& name : stack->names) {
    SCOPED_TRACE(name);
    const std::string path = stack->videos + "/" + name;
    ExpectDecodedAsTheCli(path);
    absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
        video::VideoDecoder::Open(path);
    ExpectEmbedded(name, path,
                   decoder.ok() ? (*decoder)->info().num_frames : -1);
    ExpectTasksAnswer(name);
  }
}

// `iv ingest` indexes the whole folder, each video with its moments.
TEST_F(RealVideosTest, IvIngestIndexesTheFolder) {
  const process::CommandResult ingest = process::RunCommand(absl::StrCat(
      "tools/iv/iv ingest ", Quote(stack->videos),
      " --collection real --encoder 127.0.0.1:", stack->encoder->process.port,
      " --index 127.0.0.1:", stack->index->process.port, " 2>&1"));
  ASSERT_EQ(ingest.exit_code, 0) << ingest.output;
  v1::GetStatsRequest stats_request;
  stats_request.set_collection("real");
  v1::CollectionStats stats;
  const grpc::Status status =
      v1::IndexService::NewStub(stack->index->connection.channel())
          ->GetStats(
              stack->index->connection.NewContext(absl::Seconds(30)).get(),
              stats_request, &stats);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stats.record_count() - stats.segment_record_count(),
            static_cast<int64_t>(stack->names.size()))
      << ingest.output;
  EXPECT_GT(stats.segment_record_count(), 0);
}

}  // namespace
}  // namespace iv
