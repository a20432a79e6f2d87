// Checks GenerateCaptions against testdata/caption_generation_reference.py,
// an independent float64 Python decoder run on the same random weights:
// greedy and beam-search tokens identical, scores within 1e-4 relative L2;
// and its properties: greedy equals argmax teacher forcing, beam search with
// one beam equals greedy, three beams score at least as well as greedy here
// (and better on a toy model built for it), and EOT or max_length ends a
// caption. Sampling: near temperature 0 it is greedy decoding, a seed
// reproduces its captions whatever the batch, other seeds give others, and
// its token frequencies over many seeds follow softmax(log p / temperature).

#include "common/model/multimodal/caption_generation.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/model/multimodal/caption_decoder.h"
#include "common/model/multimodal/clip_model.h"
#include "common/model/multimodal/config.h"
#include "common/model/reference_testing.h"
#include "common/model/state_dict.h"
#include "common/safetensors/safetensors.h"

namespace iv::model {
namespace {

constexpr double kTolerance = 1e-4;

class CaptionGenerationTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    RunPythonReference(
        "common/model/multimodal/testdata/caption_generation_reference.py");
  }

  void SetUp() override {
    io_ = ReadReferenceOutput("gen.io.safetensors");
    internvideo::v1::MultimodalEncoderConfig proto;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
        io_.metadata.at("config"), &proto));
    absl::StatusOr<MultimodalConfig> config = ResolveMultimodalConfig(proto);
    ASSERT_TRUE(config.ok()) << config.status();
    ASSERT_TRUE(config->caption_decoder.has_value());
    clip_ = InternVideoClip(*config);
    decoder_ = CaptionDecoder(*config->caption_decoder, config->vision.width,
                              config->text.vocab_size);
    Load(*clip_, "gen.weights.safetensors");
    Load(*decoder_, "gen.caption_decoder.weights.safetensors");
    clip_->eval();
    decoder_->eval();
    video_tokens_ = ExpectedTensor(io_, "video_tokens");
    base_.max_length = std::stoll(io_.metadata.at("max_length"));
    base_.sot_token = std::stoll(io_.metadata.at("sot"));
    base_.eot_token = std::stoll(io_.metadata.at("eot"));
    base_.gnmt_alpha = std::stod(io_.metadata.at("gnmt_alpha"));
  }

  static void Load(torch::nn::Module& module, const std::string& file) {
    absl::StatusOr<LoadReport> loaded =
        LoadStateDict(module, ReadReferenceOutput(file).tensors);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
  }

  CaptionGenerationOptions Options(DecodingMethod method, int64_t beam,
                                   LengthPenalty penalty) const {
    CaptionGenerationOptions options = base_;
    options.method = method;
    options.beam_size = beam;
    options.length_penalty = penalty;
    return options;
  }

  std::vector<GeneratedCaption> Generate(
      const CaptionGenerationOptions& options) {
    return GenerateCaptions(clip_, decoder_, video_tokens_, options);
  }

  // Tokens, EOT flags and scores against the reference's decoding `mode`.
  void ExpectMatches(const std::string& mode,
                     const std::vector<GeneratedCaption>& captions) {
    const torch::Tensor& tokens = ExpectedTensor(io_, mode + ".tokens");
    const torch::Tensor& finished = ExpectedTensor(io_, mode + ".finished");
    ASSERT_EQ(static_cast<int64_t>(captions.size()), tokens.size(0));
    std::vector<double> scores;
    std::vector<double> log_probs;
    for (size_t b = 0; b < captions.size(); ++b) {
      const torch::Tensor row = tokens[b];
      const torch::Tensor expected = row.masked_select(row >= 0);
      EXPECT_TRUE(torch::equal(torch::tensor(captions[b].tokens), expected))
          << mode << " clip " << b << ": got "
          << torch::tensor(captions[b].tokens) << " want " << expected;
      EXPECT_EQ(captions[b].finished, finished[b].item<int64_t>() == 1)
          << mode << " clip " << b;
      scores.push_back(captions[b].score);
      log_probs.push_back(captions[b].log_prob);
    }
    const torch::Tensor got = torch::tensor(scores, torch::kFloat64);
    EXPECT_LE(ReferenceError(io_, mode + ".score", got, mode), kTolerance);
    EXPECT_LE(ReferenceError(io_, mode + ".log_prob",
                             torch::tensor(log_probs, torch::kFloat64), mode),
              kTolerance);
    std::cout << mode << ": max |score error| "
              << (got - ExpectedTensor(io_, mode + ".score"))
                     .abs()
                     .max()
                     .item<double>()
              << std::endl;
  }

  TensorFile io_;
  InternVideoClip clip_{nullptr};
  CaptionDecoder decoder_{nullptr};
  torch::Tensor video_tokens_;
  CaptionGenerationOptions base_;
};

TEST_F(CaptionGenerationTest, GreedyMatchesReference) {
  ExpectMatches("greedy", Generate(Options(DecodingMethod::kGreedy, 1,
                                           LengthPenalty::kNone)));
  ExpectMatches("greedy_gnmt", Generate(Options(DecodingMethod::kGreedy, 1,
                                                LengthPenalty::kGnmt)));
}

TEST_F(CaptionGenerationTest, BeamSearchMatchesReference) {
  ExpectMatches("beam3", Generate(Options(DecodingMethod::kBeam, 3,
                                          LengthPenalty::kNone)));
  ExpectMatches("beam3_average", Generate(Options(DecodingMethod::kBeam, 3,
                                                  LengthPenalty::kAverage)));
  ExpectMatches("beam3_gnmt", Generate(Options(DecodingMethod::kBeam, 3,
                                               LengthPenalty::kGnmt)));
  CaptionGenerationOptions short_captions =
      Options(DecodingMethod::kBeam, 2, LengthPenalty::kNone);
  short_captions.max_length = 5;
  ExpectMatches("beam2_short", Generate(short_captions));
}

TEST_F(CaptionGenerationTest, GreedyIsArgmaxOfTeacherForcing) {
  const std::vector<GeneratedCaption> captions =
      Generate(Options(DecodingMethod::kGreedy, 1, LengthPenalty::kNone));
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < captions.size(); ++b) {
    std::vector<int64_t> ids = {base_.sot_token};
    ids.insert(ids.end(), captions[b].tokens.begin(), captions[b].tokens.end());
    if (captions[b].finished) ids.push_back(base_.eot_token);
    const torch::Tensor sequence = torch::tensor(ids).unsqueeze(0);
    const int64_t n = sequence.size(1) - 1;
    const torch::Tensor log_probs = torch::log_softmax(
        decoder_(video_tokens_.narrow(0, b, 1),
                 clip_->TextTokens(sequence.narrow(1, 0, n)))[0],
        -1);
    const torch::Tensor next = sequence[0].narrow(0, 1, n);
    EXPECT_TRUE(torch::equal(log_probs.argmax(-1), next)) << "clip " << b;
    EXPECT_NEAR(log_probs.gather(1, next.unsqueeze(1)).sum().item<double>(),
                captions[b].log_prob, kTolerance)
        << "clip " << b;
  }
}

TEST_F(CaptionGenerationTest, OneBeamIsGreedyAndThreeScoreAtLeastAsWell) {
  for (LengthPenalty penalty :
       {LengthPenalty::kNone, LengthPenalty::kAverage, LengthPenalty::kGnmt}) {
    const std::vector<GeneratedCaption> greedy =
        Generate(Options(DecodingMethod::kGreedy, 1, penalty));
    const std::vector<GeneratedCaption> one =
        Generate(Options(DecodingMethod::kBeam, 1, penalty));
    const std::vector<GeneratedCaption> three =
        Generate(Options(DecodingMethod::kBeam, 3, penalty));
    for (size_t b = 0; b < greedy.size(); ++b) {
      EXPECT_EQ(one[b].tokens, greedy[b].tokens);
      EXPECT_EQ(one[b].finished, greedy[b].finished);
      EXPECT_NEAR(one[b].score, greedy[b].score, 1e-9);
      // Equal captions may differ by float32 noise: beam search batches its
      // prefixes differently.
      EXPECT_GE(three[b].score, greedy[b].score - 1e-5) << "clip " << b;
    }
  }
}

TEST_F(CaptionGenerationTest, SamplingNearTemperatureZeroIsGreedy) {
  const std::vector<GeneratedCaption> greedy =
      Generate(Options(DecodingMethod::kGreedy, 1, LengthPenalty::kNone));
  CaptionGenerationOptions options =
      Options(DecodingMethod::kSampling, 1, LengthPenalty::kNone);
  options.temperature = 1e-6;
  for (uint64_t seed : {1, 2, 3}) {
    options.seed = seed;
    const std::vector<GeneratedCaption> sampled = Generate(options);
    for (size_t b = 0; b < greedy.size(); ++b) {
      EXPECT_EQ(sampled[b].tokens, greedy[b].tokens) << "clip " << b;
      EXPECT_EQ(sampled[b].finished, greedy[b].finished) << "clip " << b;
      EXPECT_NEAR(sampled[b].log_prob, greedy[b].log_prob, 1e-5);
    }
  }
}

TEST_F(CaptionGenerationTest, SamplingSeedReproducesWhateverTheBatch) {
  CaptionGenerationOptions options =
      Options(DecodingMethod::kSampling, 1, LengthPenalty::kNone);
  options.temperature = 1.5;  // flatter: captions vary more between seeds
  options.seed = 42;
  const std::vector<GeneratedCaption> batch = Generate(options);
  const std::vector<GeneratedCaption> again = Generate(options);
  for (size_t b = 0; b < batch.size(); ++b) {
    EXPECT_EQ(again[b].tokens, batch[b].tokens);
    EXPECT_DOUBLE_EQ(again[b].log_prob, batch[b].log_prob);
    // The clip alone draws what it drew inside the batch.
    const std::vector<GeneratedCaption> alone = GenerateCaptions(
        clip_, decoder_, video_tokens_.narrow(0, b, 1), options);
    EXPECT_EQ(alone[0].tokens, batch[b].tokens) << "clip " << b;
  }
  // A random model's distributions are broad: ten seeds give several
  // different captions of clip 0.
  std::set<std::vector<int64_t>> distinct;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    options.seed = seed;
    distinct.insert(GenerateCaptions(clip_, decoder_,
                                     video_tokens_.narrow(0, 0, 1), options)[0]
                        .tokens);
  }
  EXPECT_GE(distinct.size(), 5u);
}

TEST_F(CaptionGenerationTest, RejectsCaptionsLongerThanTheDecoders) {
  CaptionGenerationOptions options =
      Options(DecodingMethod::kGreedy, 1, LengthPenalty::kNone);
  options.max_length = decoder_->max_length() + 1;
  EXPECT_THROW(Generate(options), c10::Error);
}

// A toy model over tokens A=0, B=1, C=2, EOT=3, SOT=4 whose next-token
// distribution depends on the prefix only (the same for every clip).
NextTokenLogProbs TableModel(
    const std::map<std::vector<int64_t>, std::vector<double>>& table) {
  return [table](const torch::Tensor& prefixes, const torch::Tensor& clips) {
    std::vector<torch::Tensor> rows;
    for (int64_t r = 0; r < prefixes.size(0); ++r) {
      const torch::Tensor row = prefixes[r].contiguous();
      const std::vector<int64_t> prefix(row.data_ptr<int64_t>(),
                                        row.data_ptr<int64_t>() + row.numel());
      auto it = table.find(prefix);
      std::vector<double> probs = it != table.end()
                                      ? it->second
                                      : std::vector<double>{0.4, 0.3, 0.2, 0.1};
      probs.push_back(1e-9);  // SOT
      rows.push_back(torch::tensor(probs, torch::kFloat64).log());
    }
    return torch::stack(rows);
  };
}

CaptionGenerationOptions ToyOptions(DecodingMethod method, int64_t beam) {
  CaptionGenerationOptions options;
  options.max_length = 6;
  options.method = method;
  options.beam_size = beam;
  options.sot_token = 4;
  options.eot_token = 3;
  return options;
}

TEST(CaptionGenerationToyTest, EotEndsACaptionAndMaxLengthCutsIt) {
  // Greedy takes A, then EOT.
  const NextTokenLogProbs ends = TableModel({{{4, 0}, {0.1, 0.1, 0.1, 0.7}}});
  std::vector<GeneratedCaption> captions =
      GenerateCaptions(ends, 2, ToyOptions(DecodingMethod::kGreedy, 1));
  ASSERT_EQ(captions.size(), 2u);
  EXPECT_EQ(captions[0].tokens, (std::vector<int64_t>{0}));
  EXPECT_TRUE(captions[0].finished);
  EXPECT_EQ(captions[1].tokens, captions[0].tokens);
  EXPECT_NEAR(captions[0].log_prob, std::log(0.4 * 0.7), 1e-12);
  // The default row prefers A and never EOT: max_length cuts the caption.
  const NextTokenLogProbs never = TableModel({});
  captions = GenerateCaptions(never, 1, ToyOptions(DecodingMethod::kGreedy, 1));
  EXPECT_EQ(captions[0].tokens, (std::vector<int64_t>{0, 0, 0, 0, 0}));
  EXPECT_FALSE(captions[0].finished);
  EXPECT_NEAR(captions[0].log_prob, 5 * std::log(0.4), 1e-12);
}

TEST(CaptionGenerationToyTest, BeamSearchFindsWhatGreedyMisses) {
  // Greedy: A (0.5), then C (0.3), then EOT (1): 0.15. Beam search with two
  // beams also keeps B (0.4), whose EOT (0.9) gives 0.36.
  const NextTokenLogProbs model = TableModel({{{4}, {0.5, 0.4, 0.05, 0.05}},
                                              {{4, 0}, {0.21, 0.21, 0.3, 0.28}},
                                              {{4, 1}, {0.03, 0.03, 0.04, 0.9}},
                                              {{4, 0, 2}, {0, 0, 0, 1}}});
  const GeneratedCaption greedy =
      GenerateCaptions(model, 1, ToyOptions(DecodingMethod::kGreedy, 1))[0];
  EXPECT_EQ(greedy.tokens, (std::vector<int64_t>{0, 2}));
  EXPECT_NEAR(greedy.log_prob, std::log(0.15), 1e-9);
  const GeneratedCaption beam =
      GenerateCaptions(model, 1, ToyOptions(DecodingMethod::kBeam, 2))[0];
  EXPECT_EQ(beam.tokens, (std::vector<int64_t>{1}));
  EXPECT_TRUE(beam.finished);
  EXPECT_NEAR(beam.log_prob, std::log(0.36), 1e-9);
}

TEST(CaptionGenerationToyTest, SampledTokensFollowTheTemperedSoftmax) {
  // One generated token (max_length 2) from the default row {A 0.4, B 0.3,
  // C 0.2, EOT 0.1, SOT 1e-9}, drawn with 4000 seeds at two temperatures.
  const NextTokenLogProbs model = TableModel({});
  const std::vector<double> p = {0.4, 0.3, 0.2, 0.1, 1e-9};
  constexpr int kDraws = 4000;
  for (double temperature : {0.5, 2.0}) {
    CaptionGenerationOptions options = ToyOptions(DecodingMethod::kSampling, 1);
    options.max_length = 2;
    options.temperature = temperature;
    std::vector<double> counts(p.size(), 0);
    for (int seed = 0; seed < kDraws; ++seed) {
      options.seed = seed;
      const GeneratedCaption caption = GenerateCaptions(model, 1, options)[0];
      const int64_t token = caption.finished ? 3 : caption.tokens.at(0);
      ASSERT_EQ(caption.finished, caption.tokens.empty());
      // The model's log-probability, not the tempered one.
      EXPECT_NEAR(caption.log_prob, std::log(p[token]), 1e-9);
      ++counts[token];
    }
    // p^(1/T) normalized; 0.03 is over 4 standard deviations of a
    // frequency from 4000 draws.
    double total = 0;
    for (double q : p) total += std::pow(q, 1 / temperature);
    for (size_t v = 0; v < p.size(); ++v) {
      EXPECT_NEAR(counts[v] / kDraws, std::pow(p[v], 1 / temperature) / total,
                  0.03)
          << "token " << v << " at temperature " << temperature;
    }
  }
}

TEST(CaptionGenerationToyTest, SamplingNeedsAPositiveTemperature) {
  CaptionGenerationOptions options = ToyOptions(DecodingMethod::kSampling, 1);
  for (double temperature : {0.0, -1.0}) {
    options.temperature = temperature;
    EXPECT_THROW(GenerateCaptions(TableModel({}), 1, options), c10::Error);
  }
}

TEST(CaptionScoreTest, LengthPenalties) {
  CaptionGenerationOptions options;
  EXPECT_DOUBLE_EQ(CaptionScore(-6, 3, options), -6);
  options.length_penalty = LengthPenalty::kAverage;
  EXPECT_DOUBLE_EQ(CaptionScore(-6, 3, options), -2);
  options.length_penalty = LengthPenalty::kGnmt;
  options.gnmt_alpha = 1;
  EXPECT_DOUBLE_EQ(CaptionScore(-6, 1, options), -6);  // (5 + 1) / 6 = 1
  EXPECT_DOUBLE_EQ(CaptionScore(-6, 7, options), -3);
}

}  // namespace
}  // namespace iv::model
