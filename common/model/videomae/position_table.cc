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

}  // namespace iv::model
