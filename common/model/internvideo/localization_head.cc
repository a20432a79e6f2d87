#include "common/model/internvideo/localization_head.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/model/config_fields.h"

namespace iv::model {
namespace {

constexpr absl::string_view kSection = "localization_head";

}  // namespace

absl::StatusOr<LocalizationConfig> ResolveLocalizationConfig(
    const internvideo::v1::LocalizationHeadConfig& proto,
    internvideo::v1::FeatureSource source, int64_t feature_dim,
    int num_class_names) {
  LocalizationConfig config;
  config.feature_source = source;
  config.feature_dim = feature_dim;
  const auto& window = proto.feature_window();
  if (window.window_s() < 0 || window.stride_s() < 0) {
    return InvalidField(kSection, "feature_window", "must not be negative");
  }
  if (window.window_s() > 0) config.window_s = window.window_s();
  config.stride_s =
      window.stride_s() > 0 ? window.stride_s() : config.window_s / 2;
  if (config.stride_s > config.window_s) {
    return InvalidField(
        kSection, "feature_window.stride_s",
        absl::StrCat(config.stride_s, " > window_s ", config.window_s));
  }
  if (absl::Status s = ResolveDimensions(
          kSection, {{"width", proto.width(), &config.width},
                     {"layers", proto.layers(), &config.layers},
                     {"heads", proto.heads(), &config.heads},
                     {"max_sequence_length", proto.max_sequence_length(),
                      &config.max_sequence_length}});
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckDivisible(kSection, "heads", config.width, config.heads,
                         std::to_string(config.heads));
      !s.ok()) {
    return s;
  }
  // Chunks overlap by half and keep their middle half: shorter ones would
  // keep nothing.
  if (config.max_sequence_length < 4) {
    return InvalidField(kSection, "max_sequence_length", "must be >= 4");
  }
  absl::StatusOr<int64_t> num_classes =
      ResolveNumClasses(kSection, proto.num_classes(), num_class_names);
  if (!num_classes.ok()) return num_classes.status();
  if (*num_classes == 0) {
    return InvalidField(kSection, "num_classes",
                        "required when class_names is empty");
  }
  config.num_classes = *num_classes;
  return config;
}

LocalizationHeadImpl::LocalizationHeadImpl(const LocalizationConfig& config)
    : max_sequence_length_(config.max_sequence_length) {
  // The conv stem gives each window its neighbours' features, which the
  // blocks (no position embedding) need to place boundaries.
  stem_ = register_module(
      "stem", torch::nn::Linear(3 * config.feature_dim, config.width));
  VideoMaeBlockOptions block;
  block.dim = config.width;
  block.num_heads = config.heads;
  blocks_ =
      register_module("blocks", MakeVideoMaeBlocks(block, config.layers, 0.0));
  norm_ = register_module("norm", VideoMaeLayerNorm(config.width));
  cls_head_ = register_module(
      "cls_head", torch::nn::Linear(config.width, config.num_classes));
  reg_head_ = register_module("reg_head", torch::nn::Linear(config.width, 2));
  // ActionFormer's prior: every class starts at a score of 0.01, so the
  // focal loss's first steps are not swamped by the background windows.
  torch::NoGradGuard no_grad;
  cls_head_->bias.fill_(-std::log((1 - 0.01) / 0.01));
}

LocalizationOutput LocalizationHeadImpl::Run(const torch::Tensor& features) {
  // The temporal convolution (kernel 3, zero padding) as one matmul over
  // each window's neighbourhood: LibTorch 1.13's CPU Conv1d backward gave
  // garbage gradients for this layout.
  const int64_t length = features.size(1);
  const torch::Tensor padded = torch::constant_pad_nd(features, {0, 0, 1, 1});
  torch::Tensor x = torch::gelu(stem_(
      torch::cat({padded.narrow(1, 0, length), padded.narrow(1, 1, length),
                  padded.narrow(1, 2, length)},
                 2)));
  x = norm_(RunVideoMaeBlocks(blocks_, x));
  return {cls_head_(x), torch::relu(reg_head_(x))};
}

LocalizationOutput LocalizationHeadImpl::forward(
    const torch::Tensor& features) {
  const int64_t length = features.size(1);
  const int64_t max = max_sequence_length_;
  if (length <= max) return Run(features);
  std::vector<torch::Tensor> logits, offsets;
  int64_t covered = 0;
  for (int64_t start = 0; covered < length; start += max / 2) {
    const int64_t begin = std::min(start, length - max);
    const bool last = begin + max >= length;
    const int64_t end = last ? length : begin + max * 3 / 4;
    const LocalizationOutput out = Run(features.narrow(1, begin, max));
    logits.push_back(
        out.class_logits.narrow(1, covered - begin, end - covered));
    offsets.push_back(out.offsets.narrow(1, covered - begin, end - covered));
    covered = end;
  }
  return {torch::cat(logits, 1), torch::cat(offsets, 1)};
}

double SegmentIou(const Segment& a, const Segment& b) {
  const double intersection = std::max(
      0.0, std::min(a.end_s, b.end_s) - std::max(a.start_s, b.start_s));
  const double union_s =
      (a.end_s - a.start_s) + (b.end_s - b.start_s) - intersection;
  return union_s > 0 ? intersection / union_s : 0.0;
}

std::vector<Segment> DecodeSegments(const torch::Tensor& class_logits,
                                    const torch::Tensor& offsets,
                                    const std::vector<double>& centres_s,
                                    double stride_s, double duration_s,
                                    const SegmentDecodingOptions& options) {
  const torch::Tensor scores =
      torch::sigmoid(class_logits.detach().to(torch::kFloat32)).contiguous();
  const torch::Tensor distances =
      offsets.detach().to(torch::kFloat32).contiguous();
  auto s = scores.accessor<float, 2>();
  auto d = distances.accessor<float, 2>();
  std::vector<Segment> candidates;
  for (int64_t i = 0; i < scores.size(0); ++i) {
    for (int64_t c = 0; c < scores.size(1); ++c) {
      if (s[i][c] < options.score_threshold) continue;
      Segment segment;
      segment.start_s = std::max(0.0, centres_s[i] - d[i][0] * stride_s);
      segment.end_s = std::min(duration_s, centres_s[i] + d[i][1] * stride_s);
      segment.label = static_cast<int>(c);
      segment.score = s[i][c];
      if (segment.end_s > segment.start_s) candidates.push_back(segment);
    }
  }
  auto by_score = [](const Segment& a, const Segment& b) {
    return a.score > b.score;
  };
  std::sort(candidates.begin(), candidates.end(), by_score);
  if (static_cast<int64_t>(candidates.size()) > options.pre_nms_top_k) {
    candidates.resize(options.pre_nms_top_k);
  }
  // Gaussian soft-NMS (Bodla et al. 2017) within each class: take the best,
  // decay the rest by their overlap with it, repeat.
  std::vector<Segment> kept;
  while (!candidates.empty() &&
         static_cast<int64_t>(kept.size()) < options.max_segments) {
    auto best = std::max_element(
        candidates.begin(), candidates.end(),
        [](const Segment& a, const Segment& b) { return a.score < b.score; });
    const Segment top = *best;
    candidates.erase(best);
    if (top.score < options.score_threshold) break;
    kept.push_back(top);
    for (Segment& other : candidates) {
      if (other.label != top.label) continue;
      const double iou = SegmentIou(top, other);
      other.score *= std::exp(-iou * iou / options.soft_nms_sigma);
    }
  }
  return kept;
}

}  // namespace iv::model
