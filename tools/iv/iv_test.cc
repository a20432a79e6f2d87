// The `iv` binary as users run it, against a real server on loopback.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/process/command.h"
#include "common/safetensors/safetensors.h"
#include "common/serving/server.h"
#include "common/serving/testdata/echo.grpc.pb.h"
#include "common/text/testdata/shared_vocab.h"

namespace iv {
namespace {

using process::CommandResult;

// The output is stdout and stderr together.
CommandResult RunIv(const std::string& arguments) {
  return process::RunCommand(absl::StrCat("tools/iv/iv ", arguments, " 2>&1"));
}

class EchoImpl : public internvideo::testing::EchoService::Service {};

TEST(IvTest, HelpListsTheCommands) {
  CommandResult help = RunIv("--help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("health"), std::string::npos);
  EXPECT_NE(help.output.find("version"), std::string::npos);
  CommandResult bare = RunIv("");
  EXPECT_NE(bare.exit_code, 0);
  EXPECT_NE(bare.output.find("Subcommands"), std::string::npos);
  CommandResult unknown = RunIv("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("unknown command 'frobnicate'"),
            std::string::npos);
}

TEST(IvTest, VersionNamesTheLibraries) {
  CommandResult version = RunIv("version");
  EXPECT_EQ(version.exit_code, 0) << version.output;
  for (const char* library : {"iv 0.", "LibTorch  1.", "gRPC      1.", "FFmpeg",
                              "FAISS     1.", "RocksDB"}) {
    EXPECT_NE(version.output.find(library), std::string::npos) << library;
  }
}

TEST(IvTest, HealthFollowsTheServer) {
  EchoImpl echo;
  serving::ServerOptions options;
  options.api_key = "key";  // health must not need it
  auto server = serving::Server::Start(options, {&echo});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  CommandResult not_ready = RunIv("health " + address);
  EXPECT_EQ(not_ready.exit_code, 3) << not_ready.output;
  EXPECT_NE(not_ready.output.find("NOT_SERVING"), std::string::npos);

  (*server)->SetServing(true);
  CommandResult ready = RunIv("health " + address);
  EXPECT_EQ(ready.exit_code, 0) << ready.output;
  EXPECT_EQ(ready.output, "SERVING\n");
  CommandResult service =
      RunIv("health " + address + " --service internvideo.testing.EchoService");
  EXPECT_EQ(service.exit_code, 0) << service.output;

  CommandResult unknown = RunIv("health " + address + " --service no.Such");
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;
  EXPECT_NE(unknown.output.find("no service named 'no.Such'"),
            std::string::npos);

  CommandResult tls_mismatch =
      RunIv("health " + address + " --tls --timeout 2");
  EXPECT_EQ(tls_mismatch.exit_code, 2) << tls_mismatch.output;

  (*server)->Shutdown();
  CommandResult gone = RunIv("health " + address + " --timeout 2");
  EXPECT_EQ(gone.exit_code, 2) << gone.output;
  EXPECT_NE(gone.output.find("is it running?"), std::string::npos);
}

TEST(IvTest, HealthNeedsAnAddress) {
  CommandResult missing = RunIv("health");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("address is required"), std::string::npos)
      << missing.output;
}

TEST(IvTest, VideoProbeAndSample) {
  const std::string video = testing::TempDir() + "/probe.mp4";
  const std::string make = absl::StrCat(
      "ffmpeg -v error -y -f lavfi -i testsrc2=size=96x64:rate=20 "
      "-frames:v 60 -c:v libx264 -g 10 ",
      video);
  ASSERT_EQ(std::system(make.c_str()), 0);

  CommandResult probe = RunIv("video probe " + video);
  ASSERT_EQ(probe.exit_code, 0) << probe.output;
  nlohmann::json info = nlohmann::json::parse(probe.output);
  EXPECT_EQ(info["num_frames"], 60);
  EXPECT_EQ(info["width"], 96);
  EXPECT_EQ(info["height"], 64);
  EXPECT_DOUBLE_EQ(info["fps"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(info["duration_s"].get<double>(), 3.0);
  EXPECT_EQ(info["codec"], "h264");

  const std::string out = testing::TempDir() + "/sample.safetensors";
  CommandResult sample =
      RunIv("video sample " + video + " --num-frames 6 --out " + out);
  ASSERT_EQ(sample.exit_code, 0) << sample.output;
  auto file = ReadSafetensors(out);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->Find("frames")->sizes(),
            (std::vector<int64_t>{6, 64, 96, 3}));
  EXPECT_EQ(file->Find("frames")->scalar_type(), torch::kUInt8);
  // Centred uniform segments of 60 frames: 5, 15, ..., 55.
  EXPECT_TRUE(
      torch::equal(*file->Find("frame_indices"),
                   torch::tensor({5, 15, 25, 35, 45, 55}, torch::kInt64)));

  CommandResult dense = RunIv("video sample " + video +
                              " --num-frames 4 --sampler dense "
                              "--frame-interval 3 --out " +
                              out);
  ASSERT_EQ(dense.exit_code, 0) << dense.output;
  file = ReadSafetensors(out);
  ASSERT_TRUE(file.ok());
  // Span 12 centred in 60 frames: offset 24.
  EXPECT_TRUE(torch::equal(*file->Find("frame_indices"),
                           torch::tensor({24, 27, 30, 33}, torch::kInt64)));
}

TEST(IvTest, SynthRendersAWorldAndItsPreview) {
  const std::string out = testing::TempDir() + "/world";
  CommandResult synth = RunIv("synth --out " + out +
                              " --seed 3 --train 6 --val 2 --test 2 "
                              "--untrimmed-test 1 --preview");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  EXPECT_NE(synth.output.find("10 clips"), std::string::npos) << synth.output;
  std::ifstream manifest(out + "/train.jsonl");
  int lines = 0;
  for (std::string line; std::getline(manifest, line);) {
    nlohmann::json clip = nlohmann::json::parse(line);
    EXPECT_TRUE(clip.contains("action_id"));
    ++lines;
  }
  EXPECT_EQ(lines, 6);
  EXPECT_TRUE(std::ifstream(out + "/test_untrimmed.jsonl").good());
  EXPECT_TRUE(std::ifstream(out + "/preview.png").good());

  CommandResult probe = RunIv("video probe " + out + "/clips/train_00000.mp4");
  ASSERT_EQ(probe.exit_code, 0) << probe.output;
  nlohmann::json info = nlohmann::json::parse(probe.output);
  EXPECT_EQ(info["num_frames"], 32);
  EXPECT_EQ(info["width"], 128);
  EXPECT_DOUBLE_EQ(info["fps"].get<double>(), 16.0);

  CommandResult bad = RunIv("synth --out " + out + " --size 20");
  EXPECT_NE(bad.exit_code, 0);
}

TEST(IvTest, VideoCommandsRefuseBadInputInOneLine) {
  const std::string text = testing::TempDir() + "/text.mp4";
  ASSERT_EQ(std::system(("echo 'not a video' > " + text).c_str()), 0);
  for (const std::string& args :
       {"video probe " + text, std::string("video probe /nonexistent/x.mp4"),
        "video sample " + text + " --num-frames 4 --out /tmp/x.safetensors"}) {
    CommandResult run = RunIv(args);
    EXPECT_EQ(run.exit_code, 1) << args << ": " << run.output;
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1)
        << args << ": " << run.output;
  }
  CommandResult bad_sampler =
      RunIv("video sample x.mp4 --sampler random --out y");
  EXPECT_NE(bad_sampler.exit_code, 0);
}

TEST(IvTest, ModelTokenizePrintsIdsPerText) {
  CommandResult missing = RunIv("model tokenize --vocab /nonexistent.txt.gz a");
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("/nonexistent.txt.gz"), std::string::npos);
  EXPECT_EQ(std::count(missing.output.begin(), missing.output.end(), '\n'), 1);

  const std::string vocab = text::SharedVocabPath();
  if (vocab.empty()) GTEST_SKIP() << "no ../shared/data CLIP vocabulary";
  CommandResult run = RunIv("model tokenize --vocab " + vocab +
                            " 'a diagram' \"it's\" '' --context-length 3");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output,
            "[49406,320,49407]\n[49406,585,49407]\n[49406,49407]\n");
  run = RunIv("model tokenize --vocab " + vocab + " 'a diagram'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(nlohmann::json::parse(run.output),
            nlohmann::json({49406, 320, 22697, 49407}));
}

}  // namespace
}  // namespace iv
