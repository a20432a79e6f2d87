#include "common/data/manifest.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iv::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// SynthWorld's action names in id order, as a SynthWorld model's
// ModelConfig.class_names lists them.
const ManifestOptions kSynthWorldClasses = {
    {"move_left", "move_right", "move_up", "move_down", "rotate_clockwise",
     "rotate_counterclockwise", "grow", "shrink", "appear", "disappear"}};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TrimmedClip SampleClip() {
  TrimmedClip clip;
  clip.file = "clips/clip_0001.mp4";
  clip.actor = {"triangle", "red", "small"};
  clip.action = "disappear";
  clip.action_id = 9;
  clip.distractors = {{"triangle", "purple", "small"}};
  clip.num_objects = 2;
  clip.captions = {
      "a small red triangle disappears while a purple triangle stays still",
      "the red triangle fades out"};
  clip.questions = {{"what color is the triangle that disappears", "red"},
                    {"how many objects are there", "two"}};
  return clip;
}

TEST(ManifestTest, TrimmedRoundTrip) {
  const std::string dir = test::FreshTempDir("trimmed");
  const std::string path = dir + "/train.jsonl";
  TrimmedClip other = SampleClip();
  other.file = "clips/clip_0002.mp4";
  other.distractors.clear();
  other.num_objects = 1;
  other.questions.clear();
  ASSERT_TRUE(WriteTrimmedManifest(path, {SampleClip(), other}).ok());

  auto clips = ReadTrimmedManifest(path);
  ASSERT_TRUE(clips.ok()) << clips.status();
  ASSERT_EQ(clips->size(), 2);
  const TrimmedClip& clip = (*clips)[0];
  const TrimmedClip expected = SampleClip();
  EXPECT_EQ(clip.file, expected.file);
  EXPECT_EQ(clip.path,
            (fs::absolute(dir) / "clips/clip_0001.mp4").lexically_normal());
  EXPECT_EQ(clip.actor.shape, "triangle");
  EXPECT_EQ(clip.actor.color, "red");
  EXPECT_EQ(clip.actor.size, "small");
  EXPECT_EQ(clip.action, "disappear");
  EXPECT_EQ(clip.action_id, 9);
  ASSERT_EQ(clip.distractors.size(), 1);
  EXPECT_EQ(clip.distractors[0].color, "purple");
  EXPECT_EQ(clip.num_objects, 2);
  EXPECT_EQ(clip.captions, expected.captions);
  ASSERT_EQ(clip.questions.size(), 2);
  EXPECT_EQ(clip.questions[1].q, "how many objects are there");
  EXPECT_EQ(clip.questions[1].a, "two");
  EXPECT_EQ((*clips)[1].file, "clips/clip_0002.mp4");
  EXPECT_TRUE((*clips)[1].distractors.empty());
  // One object per line, fields in the spec's order.
  EXPECT_THAT(
      ReadText(path),
      HasSubstr("{\"file\":\"clips/clip_0001.mp4\",\"actor\":{"
                "\"shape\":\"triangle\",\"color\":\"red\",\"size\":"
                "\"small\"},\"action\":\"disappear\",\"action_id\":9,"));
  // Nothing but the manifest is left in the folder.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), {}), 1);
}

TEST(ManifestTest, UntrimmedRoundTrip) {
  const std::string dir = test::FreshTempDir("untrimmed");
  UntrimmedVideo video;
  video.file = "untrimmed/video_000.mp4";
  video.duration_s = 9.625;
  video.segments = {{0.9375, 2.5, "grow", 6}, {3.25, 4.0, "move_up", 2}};
  video.actor = {"circle", "blue", "large"};
  video.distractors = {{"cross", "white", "small"}};
  ASSERT_TRUE(
      WriteUntrimmedManifest(dir + "/test_untrimmed.jsonl", {video}).ok());
  auto videos = ReadUntrimmedManifest(dir + "/test_untrimmed.jsonl");
  ASSERT_TRUE(videos.ok()) << videos.status();
  ASSERT_EQ(videos->size(), 1);
  const UntrimmedVideo& v = (*videos)[0];
  EXPECT_EQ(v.file, video.file);
  EXPECT_EQ(v.path, (fs::absolute(dir) / video.file).lexically_normal());
  EXPECT_EQ(v.duration_s, 9.625);
  ASSERT_EQ(v.segments.size(), 2);
  EXPECT_EQ(v.segments[0].start_s, 0.9375);
  EXPECT_EQ(v.segments[0].end_s, 2.5);
  EXPECT_EQ(v.segments[1].action, "move_up");
  EXPECT_EQ(v.segments[1].action_id, 2);
  EXPECT_EQ(v.actor.color, "blue");
  ASSERT_EQ(v.distractors.size(), 1);
  EXPECT_EQ(v.distractors[0].shape, "cross");
}

TEST(ManifestTest, ReadsTheSpecExampleAndOtherRenderersLines) {
  const std::string dir = test::FreshTempDir("foreign");
  // The spec's example, spread over one line, plus a line with fields we do
  // not know, no action_id, no num_objects and an absolute path.
  WriteText(
      dir + "/m.jsonl",
      R"({"file": "clips/clip_0001.mp4", "actor": {"shape": "triangle", "color": "red", "size": "small"}, "action": "disappear", "action_id": 9, "distractors": [{"shape": "triangle", "color": "purple", "size": "small"}], "num_objects": 2, "captions": ["a small red triangle disappears while a purple triangle stays still", "the red triangle fades out"], "questions": [{"q": "what color is the triangle that disappears", "a": "red"}, {"q": "how many objects are there", "a": "two"}]}

{"file": "/data/x.mp4", "render": {"seed": 3, "angle": 0.5}, "actor": {"shape": "cross", "color": "white", "size": "large", "hue": 1}, "action": "move_up", "distractors": [{"shape": "circle", "color": "red", "size": "small"}]}
)");
  auto clips = ReadTrimmedManifest(dir + "/m.jsonl", kSynthWorldClasses);
  ASSERT_TRUE(clips.ok()) << clips.status();
  ASSERT_EQ(clips->size(), 2);
  EXPECT_EQ((*clips)[0].num_objects, 2);
  EXPECT_EQ((*clips)[1].path, "/data/x.mp4");
  EXPECT_EQ((*clips)[1].action_id, 2);    // from the action's name
  EXPECT_EQ((*clips)[1].num_objects, 2);  // 1 + the distractors
  EXPECT_TRUE((*clips)[1].captions.empty());
  // Without class names only a row's own action_id gives an id.
  clips = ReadTrimmedManifest(dir + "/m.jsonl");
  ASSERT_TRUE(clips.ok()) << clips.status();
  EXPECT_EQ((*clips)[0].action_id, 9);
  EXPECT_EQ((*clips)[1].action_id, -1);
}

TEST(ManifestTest, MalformedLinesNameFileLineAndField) {
  const std::string dir = test::FreshTempDir("malformed");
  const std::string good =
      R"({"file": "a.mp4", "actor": {"shape": "circle", "color": "red", "size": "small"}, "action": "grow"})";
  struct Case {
    std::string line;
    std::string message;  // expected after "<file>:2: "
  };
  const std::vector<Case> cases = {
      {"{not json", "line: not JSON"},
      {"[1, 2]", "line: not a JSON object"},
      {R"({"actor": {"shape": "circle", "color": "red", "size": "small"}, "action": "grow"})",
       "file: missing"},
      {R"({"file": 3, "actor": {}, "action": "grow"})",
       "file: must be a string"},
      {R"({"file": "a.mp4", "actor": {"shape": "circle", "size": "small"}, "action": "grow"})",
       "actor.color: missing"},
      {R"({"file": "a.mp4", "action": 7})", "action: must be a string"},
      {R"({"file": "a.mp4", "actor": {"shape": "circle", "color": "red", "size": "small"}, "action": "grow", "action_id": 3})",
       "action_id: 3 does not match action 'grow' (id 6)"},
      {R"({"file": "a.mp4", "actor": {"shape": "circle", "color": "red", "size": "small"}, "action": "grow", "action_id": 6.5})",
       "action_id: must be an integer"},
      {R"({"file": "a.mp4", "actor": {"shape": "circle", "color": "red", "size": "small"}, "action": "grow", "distractors": [{"shape": "square", "color": "red"}]})",
       "distractors[0].size: missing"},
      {R"({"file": "a.mp4", "actor": {"shape": "circle", "color": "red", "size": "small"}, "action": "grow", "questions": [{"q": "how many objects are there", "a": 1}]})",
       "questions[0].a: must be a string"},
  };
  for (const Case& c : cases) {
    const std::string path = dir + "/m.jsonl";
    WriteText(path, good + "\n" + c.line + "\n");
    auto clips = ReadTrimmedManifest(path, kSynthWorldClasses);
    EXPECT_EQ(clips.status().code(), absl::StatusCode::kInvalidArgument)
        << c.line;
    EXPECT_THAT(clips.status().message(),
                HasSubstr(absl::StrCat(path, ":2: ", c.message)))
        << c.line;
  }
  WriteText(
      dir + "/u.jsonl",
      R"({"file": "v.mp4", "duration_s": 9, "segments": [{"start_s": 1, "end_s": 0.5, "action": "grow"}]})"
      "\n");
  auto videos = ReadUntrimmedManifest(dir + "/u.jsonl");
  EXPECT_THAT(videos.status().message(),
              HasSubstr("u.jsonl:1: segments[0].end_s: before start_s"));
  EXPECT_EQ(ReadTrimmedManifest(dir + "/absent.jsonl").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ManifestTest, WriterRefusesEntriesWithoutFile) {
  const std::string dir = test::FreshTempDir("nofile");
  TrimmedClip clip = SampleClip();
  clip.file.clear();
  const absl::Status s = WriteTrimmedManifest(dir + "/m.jsonl", {clip});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("entries[0].file"));
  EXPECT_TRUE(fs::is_empty(dir));
}

// Rows of other datasets load: the schema is general, SynthWorld's scene
// fields optional, and class ids come from the caller's class list.
TEST(ManifestTest, KineticsMsrVttAndActivityNetRowsLoad) {
  const std::string dir = test::FreshTempDir("general");
  WriteText(dir + "/k400.jsonl",
            R"({"file": "abseiling/0001.mp4", "action": "abseiling"})"
            "\n"
            R"({"file": "air_drumming/0002.mp4", "action": "air drumming"})"
            "\n"
            R"({"file": "zumba/0003.mp4", "action": "zumba"})"
            "\n");
  ManifestOptions kinetics;
  kinetics.class_names = {"abseiling", "air drumming"};
  auto clips = ReadTrimmedManifest(dir + "/k400.jsonl", kinetics);
  ASSERT_TRUE(clips.ok()) << clips.status();
  ASSERT_EQ(clips->size(), 3);
  EXPECT_EQ((*clips)[0].action_id, 0);
  EXPECT_EQ((*clips)[1].action_id, 1);
  EXPECT_EQ((*clips)[2].action_id, -1);  // not in the class list
  EXPECT_EQ((*clips)[0].path,
            (std::filesystem::path(dir) / "abseiling/0001.mp4")
                .lexically_normal()
                .string());
  EXPECT_TRUE((*clips)[0].actor.shape.empty());
  EXPECT_EQ((*clips)[0].num_objects, 0);
  // Without a class list, names are looked up among SynthWorld's actions.
  clips = ReadTrimmedManifest(dir + "/k400.jsonl");
  ASSERT_TRUE(clips.ok()) << clips.status();
  EXPECT_EQ((*clips)[0].action_id, -1);

  WriteText(
      dir + "/msrvtt.jsonl",
      R"({"file": "video7010.mp4", "captions": ["a man sings on a stage", "someone is singing"], "category": 3})"
      "\n");
  clips = ReadTrimmedManifest(dir + "/msrvtt.jsonl");
  ASSERT_TRUE(clips.ok()) << clips.status();
  EXPECT_EQ((*clips)[0].action, "");
  EXPECT_EQ((*clips)[0].action_id, -1);
  EXPECT_EQ((*clips)[0].captions.size(), 2);
  // Written back without the scene fields it never had.
  ASSERT_TRUE(WriteTrimmedManifest(dir + "/copy.jsonl", *clips).ok());
  EXPECT_EQ(
      ReadText(dir + "/copy.jsonl"),
      R"({"file":"video7010.mp4","captions":["a man sings on a stage","someone is singing"],"questions":[]})"
      "\n");

  WriteText(
      dir + "/anet.jsonl",
      R"({"file": "v_x.mp4", "duration_s": 120.5, "segments": [{"start_s": 1.0, "end_s": 20.0, "action": "Long jump"}, {"start_s": 30.0, "end_s": 41.5, "action": "Triple jump", "action_id": 1}]})"
      "\n");
  ManifestOptions activitynet;
  activitynet.class_names = {"Long jump", "Triple jump"};
  auto videos = ReadUntrimmedManifest(dir + "/anet.jsonl", activitynet);
  ASSERT_TRUE(videos.ok()) << videos.status();
  ASSERT_EQ((*videos)[0].segments.size(), 2);
  EXPECT_EQ((*videos)[0].segments[0].action_id, 0);
  EXPECT_EQ((*videos)[0].segments[1].action_id, 1);
  EXPECT_DOUBLE_EQ((*videos)[0].duration_s, 120.5);

  // A given id must agree with the caller's class list.
  WriteText(dir + "/bad.jsonl",
            R"({"file": "a.mp4", "action": "air drumming", "action_id": 0})"
            "\n");
  EXPECT_THAT(
      ReadTrimmedManifest(dir + "/bad.jsonl", kinetics).status().message(),
      HasSubstr("bad.jsonl:1: action_id: 0 does not match action 'air "
                "drumming' (id 1)"));
}

}  // namespace
}  // namespace iv::data
