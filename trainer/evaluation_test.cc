// SynthWorld-Bench metrics against an independent Python reference
// (testdata/metrics_reference.py, run here on testdata/metrics_cases.json):
// localization mAP at tIoU 0.3/0.5/0.7 (the cases put a match between 0.3
// and 0.5, so an IoU that divides by anything but the union moves the
// numbers) and corpus BLEU-4 (the candidates are shorter than the
// references, so a missing brevity penalty moves it); plus hand-checked
// values and caption parsing with paraphrases.
#include "trainer/evaluation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/process/command.h"
#include "nlohmann/json.hpp"

namespace iv::trainer {
namespace {

constexpr char kCases[] = "trainer/testdata/metrics_cases.json";

nlohmann::json ReadCases() {
  std::ifstream in(kCases);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

std::vector<std::vector<model::Segment>> Segments(const nlohmann::json& json) {
  std::vector<std::vector<model::Segment>> videos;
  for (const auto& video : json) {
    videos.emplace_back();
    for (const auto& s : video) {
      videos.back().push_back({s["start_s"].get<double>(),
                               s["end_s"].get<double>(), s["label"].get<int>(),
                               s.value("score", 1.0)});
    }
  }
  return videos;
}

TEST(EvaluationTest, MatchesThePythonReference) {
  const process::CommandResult reference = process::RunCommand(
      std::string("/usr/bin/python3 trainer/testdata/metrics_reference.py ") +
      kCases);
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  const nlohmann::json expected = nlohmann::json::parse(reference.output);
  const nlohmann::json cases = ReadCases();

  const Metrics map =
      LocalizationMetrics(Segments(cases["localization"]["predictions"]),
                          Segments(cases["localization"]["ground_truth"]));
  for (const char* key : {"map_0.3", "map_0.4", "map_0.5", "map_0.6", "map_0.7",
                          "map_mean", "map_0.3:0.7"}) {
    EXPECT_NEAR(map.at(key), expected[key].get<double>(), 1e-12) << key;
  }
  EXPECT_EQ(map.at("n"), 3);
  // The thresholds matter in these cases: a constant IoU would not see it.
  EXPECT_GT(map.at("map_0.3"), map.at("map_0.5"));
  EXPECT_GT(map.at("map_0.5"), map.at("map_0.7"));

  const std::vector<std::string> candidates = cases["bleu"]["candidates"];
  const std::vector<std::string> references = cases["bleu"]["references"];
  EXPECT_NEAR(CorpusBleu4(candidates, references),
              expected["bleu4"].get<double>(), 1e-12);
}

TEST(EvaluationTest, HandCheckedValues) {
  EXPECT_DOUBLE_EQ(model::SegmentIou({1, 4, 0, 1}, {2, 6, 0, 1}), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(model::SegmentIou({1, 2, 0, 1}, {3, 4, 0, 1}), 0.0);
  // Every n-gram matches; only the brevity penalty exp(1 - 6/4) is left.
  EXPECT_NEAR(CorpusBleu4({"a b c d"}, {"a b c d e f"}), std::exp(-0.5), 1e-12);
  EXPECT_DOUBLE_EQ(CorpusBleu4({"a b c d e"}, {"a b c d e"}), 1.0);
  EXPECT_DOUBLE_EQ(CorpusBleu4({"a b c"}, {"a b c"}), 0.0);  // no 4-grams
  // A perfect prediction per class gives mAP 1 at every threshold.
  const Metrics perfect = LocalizationMetrics(
      {{{1, 3, 0, 0.9}, {5, 7, 1, 0.8}}}, {{{1, 3, 0, 1}, {5, 7, 1, 1}}});
  EXPECT_DOUBLE_EQ(perfect.at("map_mean"), 1.0);
}

TEST(EvaluationTest, CaptionTriplesCountOnlySynthWorldClips) {
  data::TrimmedClip clip;
  clip.actor = {"square", "green", "large"};
  clip.action = "shrink";
  clip.captions = {"a large green square shrinks"};
  const Metrics metrics =
      CaptionMetrics({"the green square gets smaller"}, {clip});
  EXPECT_EQ(metrics.at("triple_accuracy"), 1.0);
  EXPECT_EQ(metrics.at("n"), 1);
  // An MSR-VTT-style clip (captions only) has no event to state: BLEU only.
  data::TrimmedClip plain;
  plain.captions = {"a man sings on a stage"};
  const Metrics bleu_only = CaptionMetrics({"a man sings on a stage"}, {plain});
  EXPECT_EQ(bleu_only.count("triple_accuracy"), 0);
  EXPECT_DOUBLE_EQ(bleu_only.at("bleu4"), 1.0);
}

TEST(EvaluationTest, RetrievalKeysMatchSynthWorldEventsAndOtherClipsAlone) {
  data::TrimmedClip a, b;
  a.actor = b.actor = {"square", "green", "large"};
  a.action = b.action = "shrink";
  a.path = "/a.mp4";
  b.path = "/b.mp4";
  EXPECT_EQ(RetrievalKey(a), RetrievalKey(b));  // the same event
  EXPECT_EQ(FallbackCaption(a), "green square shrink");
  data::TrimmedClip x, y;  // Kinetics-style rows of one class
  x.action = y.action = "abseiling";
  x.path = "/x.mp4";
  y.path = "/y.mp4";
  EXPECT_NE(RetrievalKey(x), RetrievalKey(y));
  EXPECT_EQ(FallbackCaption(x), "abseiling");
}

}  // namespace
}  // namespace iv::trainer
