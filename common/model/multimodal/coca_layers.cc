#include "common/model/multimodal/coca_layers.h"

#include <vector>

namespace iv::model {

CocaLayerNormImpl::CocaLayerNormImpl(int64_t dim) {
  gamma_ = register_parameter("gamma", torch::ones({dim}));
  beta_ = register_buffer("beta", torch::zeros({dim}));
}

torch::Tensor CocaLayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {x.size(-1)}, gamma_, beta_);
}

torch::Tensor SwiGlu(const torch::Tensor& x) {
  const std::vector<torch::Tensor> halves = x.chunk(2, -1);
  return torch::silu(halves[1]) * halves[0];
}

RotaryEmbeddingImpl::RotaryEmbeddingImpl(int64_t head_dim) {
  inv_freq_ = register_buffer(
      "inv_freq",
      1.0 / torch::pow(10000.0, torch::arange(0, head_dim, 2, torch::kFloat32) /
                                    head_dim));
}

torch::Tensor RotaryEmbeddingImpl::forward(int64_t length) {
  const torch::Tensor positions = torch::arange(length, inv_freq_.options());
  const torch::Tensor angles = torch::outer(positions, inv_freq_);
  return torch::cat({angles, angles}, -1);
}

torch::Tensor ApplyRotary(const torch::Tensor& angles, const torch::Tensor& t) {
  const std::vector<torch::Tensor> halves = t.chunk(2, -1);
  const torch::Tensor rotated = torch::cat({-halves[1], halves[0]}, -1);
  return t * angles.cos() + rotated * angles.sin();
}

}  // namespace iv::model
