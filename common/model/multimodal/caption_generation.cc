#include "common/model/multimodal/caption_generation.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

namespace iv::model {
namespace {

// A caption being decoded: its generated tokens (no SOT, no EOT) and their
// summed log-probability.
struct Hypothesis {
  std::vector<int64_t> tokens;
  double log_prob = 0;
};

// One clip's decoding state.
struct Search {
  std::vector<Hypothesis> live;
  std::vector<GeneratedCaption> done;
};

GeneratedCaption Finish(const Hypothesis& hypothesis, bool ended,
                        const CaptionGenerationOptions& options) {
  GeneratedCaption caption;
  caption.tokens = hypothesis.tokens;
  caption.finished = ended;
  caption.log_prob = hypothesis.log_prob;
  const int64_t length =
      static_cast<int64_t>(hypothesis.tokens.size()) + (ended ? 1 : 0);
  caption.score = CaptionScore(hypothesis.log_prob, length, options);
  return caption;
}

// Runs `model` on the live hypotheses of every clip still searching:
// returns their next-token log-probabilities [R, V] as float64 on the CPU,
// rows in clip order then hypothesis order.
torch::Tensor StepAll(const NextTokenLogProbs& model,
                      const std::vector<Search>& searches,
                      const std::vector<int64_t>& searching,
                      const CaptionGenerationOptions& options) {
  std::vector<int64_t> ids;
  std::vector<int64_t> clips;
  int64_t length = 0;
  for (int64_t b : searching) {
    for (const Hypothesis& h : searches[b].live) {
      ids.push_back(options.sot_token);
      ids.insert(ids.end(), h.tokens.begin(), h.tokens.end());
      clips.push_back(b);
      length = 1 + static_cast<int64_t>(h.tokens.size());
    }
  }
  const int64_t rows = static_cast<int64_t>(clips.size());
  const torch::Tensor prefixes = torch::tensor(ids).reshape({rows, length});
  const torch::Tensor log_probs = model(prefixes, torch::tensor(clips));
  TORCH_CHECK(log_probs.dim() == 2 && log_probs.size(0) == rows,
              "the model gave ", log_probs.sizes(), " for ", rows, " prefixes");
  return log_probs.to(torch::kCPU, torch::kFloat64).contiguous();
}

// One beam search step of one clip, from its rows of `log_probs`.
void BeamStep(Search& search, const double* log_probs, int64_t vocab,
              const CaptionGenerationOptions& options) {
  const int64_t beam = options.beam_size;
  struct Candidate {
    double log_prob;
    int64_t hypothesis;
    int64_t token;
  };
  std::vector<Candidate> candidates;
  candidates.reserve(search.live.size() * vocab);
  for (size_t h = 0; h < search.live.size(); ++h) {
    for (int64_t v = 0; v < vocab; ++v) {
      candidates.push_back({search.live[h].log_prob + log_probs[h * vocab + v],
                            static_cast<int64_t>(h), v});
    }
  }
  // At most `beam` EOT pairs precede the beam-th other pair.
  const size_t keep =
      std::min(candidates.size(), static_cast<size_t>(2 * beam));
  std::partial_sort(candidates.begin(), candidates.begin() + keep,
                    candidates.end(),
                    [](const Candidate& a, const Candidate& b) {
                      if (a.log_prob != b.log_prob) {
                        return a.log_prob > b.log_prob;
                      }
                      if (a.hypothesis != b.hypothesis) {
                        return a.hypothesis < b.hypothesis;
                      }
                      return a.token < b.token;
                    });
  std::vector<Hypothesis> next;
  for (size_t rank = 0; rank < keep; ++rank) {
    const Candidate& c = candidates[rank];
    const Hypothesis& parent = search.live[c.hypothesis];
    if (c.token == options.eot_token) {
      if (rank < static_cast<size_t>(beam)) {
        search.done.push_back(
            Finish({parent.tokens, c.log_prob}, /*ended=*/true, options));
      }
      continue;
    }
    Hypothesis child{parent.tokens, c.log_prob};
    child.tokens.push_back(c.token);
    next.push_back(std::move(child));
    if (static_cast<int64_t>(next.size()) == beam) break;
  }
  search.live = std::move(next);
}

// One sampling step of one clip (a single live hypothesis): draws the next
// token from softmax(log_probs / temperature) by inverting its CDF with a
// uniform draw built from 53 bits of `rng` (std::uniform_real_distribution
// is not specified exactly, so it could differ between standard libraries).
void SampleStep(Search& search, const double* log_probs, int64_t vocab,
                std::mt19937_64& rng, const CaptionGenerationOptions& options) {
  const double max = *std::max_element(log_probs, log_probs + vocab);
  std::vector<double> weights(vocab);
  double total = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    weights[v] = std::exp((log_probs[v] - max) / options.temperature);
    total += weights[v];
  }
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * total;
  // The first token whose cumulative weight passes u; the last one of
  // positive weight when rounding leaves u past the sum, so a token of
  // probability 0 is never drawn.
  int64_t token = 0;
  double cumulative = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    if (weights[v] == 0) continue;
    token = v;
    cumulative += weights[v];
    if (u < cumulative) break;
  }
  Hypothesis& h = search.live.front();
  h.log_prob += log_probs[token];
  if (token == options.eot_token) {
    search.done.push_back(Finish(h, /*ended=*/true, options));
    search.live.clear();
  } else {
    h.tokens.push_back(token);
  }
}

}  // namespace

double CaptionScore(double log_prob, int64_t length,
                    const CaptionGenerationOptions& options) {
  switch (options.length_penalty) {
    case LengthPenalty::kNone:
      return log_prob;
    case LengthPenalty::kAverage:
      return log_prob / static_cast<double>(std::max<int64_t>(length, 1));
    case LengthPenalty::kGnmt:
      return log_prob / std::pow((5.0 + static_cast<double>(length)) / 6.0,
                                 options.gnmt_alpha);
  }
  return log_prob;
}

std::vector<GeneratedCaption> GenerateCaptions(
    const NextTokenLogProbs& model, int64_t batch,
    const CaptionGenerationOptions& options) {
  TORCH_CHECK(options.max_length >= 2,
              "max_length counts SOT and EOT, so it must be at least 2, got ",
              options.max_length);
  // Greedy decoding is beam search with one beam; sampling keeps one
  // hypothesis too.
  CaptionGenerationOptions search_options = options;
  if (options.method != DecodingMethod::kBeam) search_options.beam_size = 1;
  TORCH_CHECK(
      options.method != DecodingMethod::kSampling ||
          (options.temperature > 0 && std::isfinite(options.temperature)),
      "temperature must be positive, got ", options.temperature);
  TORCH_CHECK(search_options.beam_size >= 1, "beam_size must be positive, got ",
              options.beam_size);
  const int64_t beam = search_options.beam_size;
  std::vector<Search> searches(batch);
  for (Search& search : searches) search.live.push_back({});
  std::vector<std::mt19937_64> generators;
  if (options.method == DecodingMethod::kSampling) {
    generators.assign(batch, std::mt19937_64(options.seed));
  }
  for (int64_t step = 0; step < options.max_length - 1; ++step) {
    std::vector<int64_t> searching;
    for (int64_t b = 0; b < batch; ++b) {
      if (!searches[b].live.empty()) searching.push_back(b);
    }
    if (searching.empty()) break;
    const torch::Tensor log_probs =
        StepAll(model, searches, searching, search_options);
    const int64_t vocab = log_probs.size(1);
    TORCH_CHECK(options.eot_token >= 0 && options.eot_token < vocab,
                "eot_token ", options.eot_token, " is outside the vocabulary ",
                vocab);
    const double* row = log_probs.data_ptr<double>();
    for (int64_t b : searching) {
      Search& search = searches[b];
      const int64_t rows = static_cast<int64_t>(search.live.size());
      if (options.method == DecodingMethod::kSampling) {
        SampleStep(search, row, vocab, generators[b], search_options);
      } else {
        BeamStep(search, row, vocab, search_options);
      }
      row += rows * vocab;
      if (static_cast<int64_t>(search.done.size()) >= beam) {
        search.live.clear();
      } else if (step == options.max_length - 2) {
        for (const Hypothesis& h : search.live) {
          search.done.push_back(Finish(h, /*ended=*/false, search_options));
        }
        search.live.clear();
      }
    }
  }
  std::vector<GeneratedCaption> captions;
  captions.reserve(batch);
  for (Search& search : searches) {
    size_t best = 0;
    for (size_t i = 1; i < search.done.size(); ++i) {
      if (search.done[i].score > search.done[best].score) best = i;
    }
    captions.push_back(std::move(search.done[best]));
  }
  return captions;
}

std::vector<GeneratedCaption> GenerateCaptions(
    InternVideoClip& clip, CaptionDecoder& decoder,
    const torch::Tensor& video_tokens,
    const CaptionGenerationOptions& options) {
  TORCH_CHECK(options.max_length <= decoder->max_length(), "max_length ",
              options.max_length, " exceeds the decoder's ",
              decoder->max_length());
  torch::NoGradGuard no_grad;
  const torch::Tensor visual = decoder->PoolVideo(video_tokens);
  const NextTokenLogProbs model = [&](const torch::Tensor& prefixes,
                                      const torch::Tensor& clips) {
    const torch::Tensor text = clip->TextTokens(prefixes.to(visual.device()));
    const torch::Tensor logits = decoder->Decode(
        visual.index_select(0, clips.to(visual.device())), text);
    return torch::log_softmax(logits.select(1, -1).to(torch::kFloat32), -1);
  };
  return GenerateCaptions(model, video_tokens.size(0), options);
}

}  // namespace iv::model
