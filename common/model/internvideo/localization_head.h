// Temporal action localization head (ActionFormer, Zhang et al. 2022, in its
// smallest form): over the sequence of clip features of a video's sliding
// windows, a temporal conv stem and self-attention blocks predict, for every
// window, a sigmoid score per action class and the distances from the
// window's centre to the start and end of the action it lies in (in units
// of the window stride, >= 0). Decoding turns them into scored segments and
// Gaussian soft-NMS per class removes duplicates.
//
// Parameter names (the project's own; there is no official checkpoint):
//   stem.{weight,bias}           Linear(3 x feature_dim, width) over each
//                                window with its two neighbours (a
//                                temporal convolution of kernel 3)
//   blocks.N.*                   VideoMAE blocks (norm1, attn.qkv, ...)
//   norm.{weight,bias}
//   cls_head.*, reg_head.*       Linear(width, num_classes), Linear(width, 2)
#ifndef COMMON_MODEL_INTERNVIDEO_LOCALIZATION_HEAD_H_
#define COMMON_MODEL_INTERNVIDEO_LOCALIZATION_HEAD_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/videomae/block.h"
#include "protos/model_config.pb.h"

namespace iv::model {

struct LocalizationConfig {
  internvideo::v1::FeatureSource feature_source;  // resolved, never UNSPECIFIED
  double window_s = 2.0;
  double stride_s = 1.0;
  int64_t feature_dim = 0;  // of the feature source
  int64_t width = 256;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t max_sequence_length = 256;
  int64_t num_classes = 0;
};

// Fills the proto's defaults; `source` and `feature_dim` are resolved by the
// caller (they depend on the model's other parts). INVALID_ARGUMENT naming
// the field, e.g. "localization_head.heads: 256 is not divisible by 3".
absl::StatusOr<LocalizationConfig> ResolveLocalizationConfig(
    const internvideo::v1::LocalizationHeadConfig& proto,
    internvideo::v1::FeatureSource source, int64_t feature_dim,
    int num_class_names);

struct LocalizationOutput {
  torch::Tensor class_logits;  // [B, S, num_classes]
  torch::Tensor offsets;       // [B, S, 2]: (to start, to end) in strides
};

class LocalizationHeadImpl : public torch::nn::Module {
 public:
  explicit LocalizationHeadImpl(const LocalizationConfig& config);

  // features [B, S, feature_dim]. Sequences longer than
  // max_sequence_length run in chunks overlapping by half, each window's
  // output taken from the chunk where it is nearest the middle.
  LocalizationOutput forward(const torch::Tensor& features);

 private:
  LocalizationOutput Run(const torch::Tensor& features);

  int64_t max_sequence_length_;
  torch::nn::Linear stem_{nullptr};
  torch::nn::ModuleList blocks_;
  VideoMaeLayerNorm norm_{nullptr};
  torch::nn::Linear cls_head_{nullptr};
  torch::nn::Linear reg_head_{nullptr};
};
TORCH_MODULE(LocalizationHead);

struct Segment {
  double start_s = 0, end_s = 0;
  int label = -1;
  double score = 0;
};

// Temporal IoU of [a.start_s, a.end_s] and [b.start_s, b.end_s]; 0 when
// the union is empty.
double SegmentIou(const Segment& a, const Segment& b);

struct SegmentDecodingOptions {
  double score_threshold = 0.05;  // (window, class) pairs below are dropped
  int64_t pre_nms_top_k = 1000;
  double soft_nms_sigma = 0.5;  // score *= exp(-iou^2 / sigma) per suppressor
  int64_t max_segments = 100;   // per video, after NMS
};

// One video's output (class_logits [S, C], offsets [S, 2]) -> segments,
// best first. Window i's segment is [centre_i - start offset x stride_s,
// centre_i + end offset x stride_s], clamped to [0, duration_s].
std::vector<Segment> DecodeSegments(const torch::Tensor& class_logits,
                                    const torch::Tensor& offsets,
                                    const std::vector<double>& centres_s,
                                    double stride_s, double duration_s,
                                    const SegmentDecodingOptions& options = {});

}  // namespace iv::model

#endif  // COMMON_MODEL_INTERNVIDEO_LOCALIZATION_HEAD_H_
