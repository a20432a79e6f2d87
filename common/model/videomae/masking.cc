#include "common/model/videomae/masking.h"

namespace iv::model {

int64_t MaskedTokensPerSlice(double mask_ratio, int64_t tokens_per_slice) {
  // The ratio usually arrives as a proto float (0.9f is 0.89999998...):
  // truncating that would mask one token fewer than the official int() of
  // the decimal ratio, so the float's rounding error is absorbed first.
  return static_cast<int64_t>(mask_ratio * tokens_per_slice + 1e-4);
}

torch::Tensor TubeMask(int64_t batch, const TokenGrid& grid, double mask_ratio,
                       at::Generator generator) {
  const int64_t per_slice = grid.per_slice();
  const int64_t masked = MaskedTokensPerSlice(mask_ratio, per_slice);
  TORCH_CHECK(masked >= 1 && masked < per_slice, "mask ratio ", mask_ratio,
              " masks ", masked, " of ", per_slice,
              " tokens per slice; at least one must be masked and one visible");
  // The `masked` positions with the smallest noise form a uniformly random
  // subset of exactly that size.
  const torch::Tensor noise = torch::rand({batch, per_slice}, generator);
  const torch::Tensor hidden =
      noise.argsort(/*dim=*/int64_t{1}).narrow(1, 0, masked);
  const torch::Tensor slice_mask =
      torch::zeros({batch, per_slice}, torch::kBool).scatter_(1, hidden, true);
  return slice_mask.unsqueeze(1)
      .expand({batch, grid.time, per_slice})
      .reshape({batch, grid.size()});
}

}  // namespace iv::model
