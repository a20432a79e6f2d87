// The building blocks InternVideo-MM's caption decoder takes from CoCa
// (its modules/coca.py): a LayerNorm with a learned `gamma` and a fixed zero
// `beta` buffer (no learned bias), the SwiGLU gate, and rotary position
// embeddings (`rotary_emb.inv_freq`), which encode each caption token's
// position inside attention instead of adding a position table.
#ifndef COMMON_MODEL_MULTIMODAL_COCA_LAYERS_H_
#define COMMON_MODEL_MULTIMODAL_COCA_LAYERS_H_

#include <torch/torch.h>

#include <cstdint>

namespace iv::model {

class CocaLayerNormImpl : public torch::nn::Module {
 public:
  explicit CocaLayerNormImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::Tensor gamma_;
  torch::Tensor beta_;
};
TORCH_MODULE(CocaLayerNorm);

// x * silu(gate), where x and gate are the two halves of the last dim.
torch::Tensor SwiGlu(const torch::Tensor& x);

class RotaryEmbeddingImpl : public torch::nn::Module {
 public:
  explicit RotaryEmbeddingImpl(int64_t head_dim);

  // The angles of positions 0..length-1: [length, head_dim], each
  // frequency's angles repeated over both halves.
  torch::Tensor forward(int64_t length);

 private:
  torch::Tensor inv_freq_;
};
TORCH_MODULE(RotaryEmbedding);

// Rotates each (t[i], t[i + d/2]) pair of the last dim by `angles`.
torch::Tensor ApplyRotary(const torch::Tensor& angles, const torch::Tensor& t);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_COCA_LAYERS_H_
