#include "common/model/videomae/position_table.h"

namespace iv::model {

torch::Tensor SinusoidTable(int64_t num_positions, int64_t dim,
                            const torch::TensorOptions& options) {
  const auto f64 =
      torch::TensorOptions().dtype(torch::kFloat64).device(options.device());
  const torch::Tensor position = torch::arange(num_positions, f64).unsqueeze(1);
  const torch::Tensor channel = torch::arange(dim, f64);
  const torch::Tensor pair = torch::floor(channel / 2);
  const torch::Tensor angle =
      position / torch::pow(10000.0, 2 * pair / static_cast<double>(dim));
  const torch::Tensor even = torch::fmod(channel, 2) == 0;
  return torch::where(even, torch::sin(angle), torch::cos(angle))
      .to(options.dtype());
}

torch::Tensor PositionTable(const TokenGrid& trained, const TokenGrid& input,
                            int64_t dim, const torch::TensorOptions& options) {
  if (trained.size() == 0) return SinusoidTable(input.size(), dim, options);
  namespace F = torch::nn::functional;
  const auto f64 =
      torch::TensorOptions().dtype(torch::kFloat64).device(options.device());
  torch::Tensor table = SinusoidTable(trained.size(), dim, f64);
  if (input.height != trained.height || input.width != trained.width) {
    // [T, H, W, D] -> [T, D, H, W], resized per time slice.
    const torch::Tensor slices =
        table.reshape({trained.time, trained.height, trained.width, dim})
            .permute({0, 3, 1, 2});
    table =
        F::interpolate(
            slices, F::InterpolateFuncOptions()
                        .size(std::vector<int64_t>{input.height, input.width})
                        .mode(torch::kBicubic)
                        .align_corners(false))
            .permute({0, 2, 3, 1})
            .reshape({-1, dim});
  }
  if (input.time != trained.time) {
    // [T, H'W', D] -> [H'W', D, T], resized along time.
    const torch::Tensor series =
        table.reshape({trained.time, input.per_slice(), dim})
            .permute({1, 2, 0});
    table = F::interpolate(series, F::InterpolateFuncOptions()
                                       .size(std::vector<int64_t>{input.time})
                                       .mode(torch::kLinear)
                                       .align_corners(false))
                .permute({2, 0, 1})
                .reshape({-1, dim});
  }
  return table.to(options.dtype()).contiguous();
}

}  // namespace iv::model
