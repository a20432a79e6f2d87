// `iv recognize`, `iv localize`, `iv ask` and `iv caption` as users run
// them: against task_server and captioner_server processes serving a tiny
// task model (random weights) on loopback, and with --local on the same
// model folder. Both ways must give the same answers, the flags must reach
// the request (views, labels, segment counts), and bad input must end in
// one line naming the field and a nonzero exit, the services staying up.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "common/process/command.h"
#include "common/synthworld/renderer.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/iv/task_servers_testing.h"

namespace iv::cli {
namespace {

using nlohmann::json;

struct IvRun {
  int exit_code;
  std::string out, err;
};

class TasksCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::FreshTempDir("tasks_cli"));
    synthworld::SynthOptions world;
    world.out_dir = *root_ + "/world";
    world.seed = 11;
    world.rendering.size = 64;
    world.train_clips = world.val_clips = 0;
    world.test_clips = 2;
    world.test_untrimmed = 1;
    world.threads = 2;
    ASSERT_TRUE(synthworld::RenderWorld(world, {}).ok());
    ASSERT_TRUE(model::testing::WriteTinyCheckpoint(
                    *root_ + "/model", 1, model::testing::TinyTaskModelConfig())
                    .ok());
    // No --allowed-roots: the small test videos must travel inline.
    absl::StatusOr<TaskServers> servers = StartTaskServers(
        absl::StrCat("--threads 1 --model-dir ", *root_, "/model"), *root_);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = new TaskServers(*servers);
  }

  static void TearDownTestSuite() {
    if (servers_) StopTaskServers(*servers_);
  }

  static std::string Clip(int i) {
    return absl::StrCat(*root_, "/world/clips/test_0000", i, ".mp4");
  }
  static std::string Untrimmed() {
    return *root_ + "/world/untrimmed/test_000.mp4";
  }

  // `iv ARGS`, its stdout and stderr apart.
  static IvRun Iv(const std::string& args) {
    const std::string err = *root_ + "/stderr.txt";
    process::CommandResult result =
        process::RunCommand(absl::StrCat("tools/iv/iv ", args, " 2>", err));
    return {result.exit_code, result.output, test::ReadTextFile(err)};
  }

  // The JSON on the last line of `iv ARGS --json` against the service
  // (`port`) and with --local; both must succeed.
  static std::pair<json, json> RemoteAndLocal(const std::string& args,
                                              int port) {
    std::pair<json, json> answers;
    for (bool local : {false, true}) {
      const IvRun run = Iv(absl::StrCat(
          args, " --json ",
          local ? absl::StrCat("--local --model ", *root_, "/model")
                : absl::StrCat("--server 127.0.0.1:", port)));
      EXPECT_EQ(run.exit_code, 0)
          << args << (local ? " --local" : "") << ": " << run.err;
      std::vector<std::string> lines =
          absl::StrSplit(run.out, '\n', absl::SkipEmpty());
      if (lines.empty()) continue;
      (local ? answers.second : answers.first) =
          json::parse(lines.back(), nullptr, /*allow_exceptions=*/false);
    }
    return answers;
  }

  static void ExpectSameScores(const json& remote, const json& local,
                               const std::string& list) {
    ASSERT_EQ(remote[list].size(), local[list].size()) << list;
    for (size_t i = 0; i < remote[list].size(); ++i) {
      const json &a = remote[list][i], &b = local[list][i];
      EXPECT_EQ(a.value("label", ""), b.value("label", "")) << list << i;
      EXPECT_NEAR(a["score"].get<double>(), b["score"].get<double>(), 1e-5)
          << list << i;
    }
  }

  // A bad request: nonzero exit, one line naming `field`, nothing printed
  // on stdout, and the service still answering a good one.
  static void ExpectRejected(const std::string& args, const std::string& field,
                             int port) {
    const IvRun run = Iv(absl::StrCat(args, " --server 127.0.0.1:", port));
    EXPECT_NE(run.exit_code, 0) << args;
    EXPECT_NE(run.err.find(field), std::string::npos)
        << args << ": " << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_EQ(run.out, "") << args;
  }

  static std::string* root_;
  static TaskServers* servers_;
};

std::string* TasksCliTest::root_ = nullptr;
TaskServers* TasksCliTest::servers_ = nullptr;

TEST_F(TasksCliTest, RecognizeRemoteEqualsLocal) {
  // The trained head: the tiny task model's 10 SynthWorld actions.
  auto [remote, local] = RemoteAndLocal("recognize " + Clip(0) + " --top-k 3",
                                        servers_->tasks.port);
  ASSERT_EQ(remote["labels"].size(), 3u) << remote.dump();
  ExpectSameScores(remote, local, "labels");
  EXPECT_EQ(remote["num_views"], 1);
  EXPECT_EQ(remote["model"], local["model"]);

  // Zero-shot over three labels, 2 clips x 3 crops: every label comes
  // back (top-k 5 > 3) and their probabilities add up to 1.
  std::tie(remote, local) = RemoteAndLocal(
      "recognize " + Clip(1) +
          " --zero-shot 'move left, grows,rotates' --prompt 'the shape "
          "{label}' --clips 2 --three-crop",
      servers_->tasks.port);
  ASSERT_EQ(remote["labels"].size(), 3u) << remote.dump();
  ExpectSameScores(remote, local, "labels");
  EXPECT_EQ(remote["num_views"], 6);
  std::set<std::string> labels;
  double total = 0;
  for (const json& label : remote["labels"]) {
    labels.insert(label["label"].get<std::string>());
    total += label["score"].get<double>();
  }
  EXPECT_EQ(labels, (std::set<std::string>{"move left", "grows", "rotates"}));
  EXPECT_NEAR(total, 1.0, 1e-4);

  // The table: a header, one row per label, the model.
  const IvRun table =
      Iv(absl::StrCat("recognize ", Clip(0),
                      " --top-k 2 --server 127.0.0.1:", servers_->tasks.port));
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("\n  1  "), std::string::npos) << table.out;
  EXPECT_EQ(std::count(table.out.begin(), table.out.end(), '\n'), 4)
      << table.out;
}

TEST_F(TasksCliTest, LocalizeRemoteEqualsLocal) {
  auto [remote, local] = RemoteAndLocal(
      "localize " + Untrimmed() + " --threshold 0 --max-segments 4",
      servers_->tasks.port);
  // Threshold 0 keeps every segment, so the cap decides the count.
  ASSERT_EQ(remote["segments"].size(), 4u) << remote.dump();
  ASSERT_EQ(local["segments"].size(), 4u) << local.dump();
  for (size_t i = 0; i < 4; ++i) {
    const json &a = remote["segments"][i], &b = local["segments"][i];
    EXPECT_EQ(a["label"], b["label"]);
    EXPECT_NEAR(a["score"].get<double>(), b["score"].get<double>(), 1e-5);
    EXPECT_NEAR(a["segment"]["start_s"].get<double>(),
                b["segment"]["start_s"].get<double>(), 1e-6);
    EXPECT_NEAR(a["segment"]["end_s"].get<double>(),
                b["segment"]["end_s"].get<double>(), 1e-6);
    if (i > 0) {
      EXPECT_LE(a["score"].get<double>(),
                remote["segments"][i - 1]["score"].get<double>());
    }
  }
  EXPECT_NEAR(remote["duration_s"].get<double>(),
              local["duration_s"].get<double>(), 1e-9);
}

TEST_F(TasksCliTest, AskRemoteEqualsLocal) {
  auto [remote, local] = RemoteAndLocal(
      "ask " + Clip(0) + " 'what color' --top-k 4", servers_->tasks.port);
  EXPECT_EQ(remote["answer"], local["answer"]);
  EXPECT_NEAR(remote["score"].get<double>(), local["score"].get<double>(),
              1e-5);
  ASSERT_EQ(remote["alternatives"].size(), 4u) << remote.dump();
  ExpectSameScores(remote, local, "alternatives");

  // Multiple choice: the answer is one of the choices.
  std::tie(remote, local) =
      RemoteAndLocal("ask " + Clip(1) + " 'what color' --choices 'red,blue'",
                     servers_->tasks.port);
  ExpectSameScores(remote, local, "alternatives");
  EXPECT_TRUE(remote["answer"] == "red" || remote["answer"] == "blue")
      << remote.dump();
  EXPECT_EQ(remote["answer"], local["answer"]);
}

TEST_F(TasksCliTest, CaptionRemoteEqualsLocal) {
  // Two videos: one BatchCaptionVideos call, results in order.
  auto [remote, local] = RemoteAndLocal(
      absl::StrCat("caption ", Clip(0), " ", Clip(1), " --beam 2"),
      servers_->captioner.port);
  ASSERT_EQ(remote["results"].size(), 2u) << remote.dump();
  ASSERT_EQ(local["results"].size(), 2u) << local.dump();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(remote["results"][i]["caption"]["text"],
              local["results"][i]["caption"]["text"]);
    EXPECT_NEAR(remote["results"][i]["caption"]["score"].get<double>(),
                local["results"][i]["caption"]["score"].get<double>(), 1e-5);
  }
  // One video, sampled with a seed: the same caption both ways.
  std::tie(remote, local) =
      RemoteAndLocal("caption " + Clip(0) +
                         " --sample --temperature 1.5 --seed 7 "
                         "--max-length 6",
                     servers_->captioner.port);
  ASSERT_TRUE(remote.contains("caption")) << remote.dump();
  EXPECT_EQ(remote["caption"]["text"], local["caption"]["text"]);
  EXPECT_NEAR(remote["caption"]["score"].get<double>(),
              local["caption"]["score"].get<double>(), 1e-5);
  // At most 6 tokens with SOT and EOT: at most 4 words.
  const std::vector<std::string> words = absl::StrSplit(
      remote["caption"]["text"].get<std::string>(), ' ', absl::SkipEmpty());
  EXPECT_LE(words.size(), 4u);
}

TEST_F(TasksCliTest, BadInputIsOneLineNamingTheField) {
  ExpectRejected("ask " + Clip(0) + " ''", "question", servers_->tasks.port);
  ExpectRejected("recognize " + Clip(0) + " --zero-shot ' , '",
                 "zero_shot.labels", servers_->tasks.port);
  ExpectRejected("localize " + Untrimmed() + " --max-segments=-1",
                 "max_segments", servers_->tasks.port);
  ExpectRejected("caption " + Clip(0) + " --beam 0", "decoding.beam_width",
                 servers_->captioner.port);
  ExpectRejected("caption " + Clip(0) + " --beam 10000", "decoding.beam_width",
                 servers_->captioner.port);
  ExpectRejected("recognize " + *root_ + "/missing.mp4", "missing.mp4",
                 servers_->tasks.port);
  // The same check in-process.
  const IvRun local = Iv(
      absl::StrCat("ask ", Clip(0), " '' --local --model ", *root_, "/model"));
  EXPECT_EQ(local.exit_code, 2);
  EXPECT_NE(local.err.find("INVALID_ARGUMENT: question"), std::string::npos)
      << local.err;
  // Both services still answer.
  EXPECT_EQ(Iv(absl::StrCat("ask ", Clip(0),
                            " 'what shape?' --server "
                            "127.0.0.1:",
                            servers_->tasks.port))
                .exit_code,
            0);
  EXPECT_EQ(Iv(absl::StrCat("caption ", Clip(0),
                            " --server 127.0.0.1:", servers_->captioner.port))
                .exit_code,
            0);
}

}  // namespace
}  // namespace iv::cli
