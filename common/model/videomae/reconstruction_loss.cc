#include "common/model/videomae/reconstruction_loss.h"

namespace iv::model {
namespace {

// [3] -> [1, 3, 1, 1, 1], to broadcast over [B, 3, T, H, W].
torch::Tensor PerChannel(const std::array<float, 3>& values,
                         const torch::TensorOptions& options) {
  return torch::tensor({values[0], values[1], values[2]}, options)
      .view({1, 3, 1, 1, 1});
}

}  // namespace

torch::Tensor TubeletTargets(const torch::Tensor& video,
                             const ReconstructionTarget& target) {
  torch::NoGradGuard no_grad;
  const auto& norm = target.input_normalization;
  const torch::Tensor pixels = video * PerChannel(norm.std, video.options()) +
                               PerChannel(norm.mean, video.options());
  const int64_t batch = video.size(0);
  const int64_t t = target.tubelet_size;
  const int64_t p = target.patch_size;
  // b c (T t) (H p) (W p) -> b (T H W) (t p p) c
  const torch::Tensor tubelets =
      pixels
          .reshape({batch, 3, video.size(2) / t, t, video.size(3) / p, p,
                    video.size(4) / p, p})
          .permute({0, 2, 4, 6, 3, 5, 7, 1})
          .reshape({batch, -1, t * p * p, 3});
  if (!target.normalize) return tubelets.flatten(2);
  const torch::Tensor mean = tubelets.mean(2, /*keepdim=*/true);
  const torch::Tensor std =
      tubelets.var(2, /*unbiased=*/true, /*keepdim=*/true).sqrt();
  return ((tubelets - mean) / (std + 1e-6)).flatten(2);
}

torch::Tensor ReconstructionLoss(const torch::Tensor& predictions,
                                 const torch::Tensor& video,
                                 const torch::Tensor& mask,
                                 const ReconstructionTarget& target) {
  const torch::Tensor targets = TubeletTargets(video, target);
  const torch::Tensor masked =
      targets.index({mask}).view({targets.size(0), -1, targets.size(2)});
  return torch::mse_loss(predictions, masked.to(predictions.scalar_type()));
}

}  // namespace iv::model
