#include "common/model/videomae/attention.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>

namespace iv::model {
namespace {

// Query rows per block of BlockedAttention: 128 rows of bf16 scores against
// a few thousand keys (1568 for a 16x224 clip) stay in a core's L2 cache
// between the three steps. Measured on one core (AVX512-BF16, no AMX) for
// ViT-B/16's 12 heads, one layer: 72 ms with 128 rows, 83 ms with 64, 100 ms
// with 256, 125-190 ms with whole [N, N] score matrices.
constexpr int64_t kQueryBlock = 128;

}  // namespace

VideoMaeAttentionImpl::VideoMaeAttentionImpl(int64_t dim, int64_t num_heads,
                                             bool qkv_bias)
    : num_heads_(num_heads) {
  TORCH_CHECK(dim % num_heads == 0, "dim ", dim, " is not divisible by ",
              num_heads, " heads");
  qkv_ = register_module(
      "qkv",
      torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * dim).bias(false)));
  if (qkv_bias) {
    q_bias_ = register_parameter("q_bias", torch::zeros({dim}));
    v_bias_ = register_parameter("v_bias", torch::zeros({dim}));
  }
  proj_ = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor VideoMaeAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0);
  const int64_t tokens = x.size(1);
  const int64_t dim = x.size(2);
  torch::Tensor bias;
  if (q_bias_.defined()) {
    bias = torch::cat({q_bias_, torch::zeros_like(v_bias_), v_bias_});
  }
  // [B, N, 3D] -> 3 x [B, heads, N, head_dim], views into one buffer.
  const std::vector<torch::Tensor> qkv =
      torch::linear(x, qkv_->weight, bias)
          .view({batch, tokens, 3, num_heads_, dim / num_heads_})
          .permute({2, 0, 3, 1, 4})
          .unbind(0);
  const torch::Tensor out = ScaledDotProductAttention(qkv[0], qkv[1], qkv[2]);
  return proj_(out.transpose(1, 2).reshape({batch, tokens, dim}));
}

torch::Tensor BlockedAttention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v) {
  const int64_t batch = q.size(0);
  const int64_t heads = q.size(1);
  const int64_t queries = q.size(2);
  const int64_t keys = k.size(2);
  const int64_t head_dim = q.size(3);
  // The official order: q is scaled, then multiplied.
  const torch::Tensor scaled_q =
      q * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  const torch::Tensor out =
      torch::empty({batch, queries, heads, head_dim}, q.options());
  // Worker threads start without this thread's grad and inference modes.
  const bool inference = c10::InferenceMode::is_enabled();
  at::parallel_for(0, batch * heads, 1, [&](int64_t begin, int64_t end) {
    c10::InferenceMode inference_mode(inference);
    torch::NoGradGuard no_grad;
    const torch::Tensor scores = torch::empty(
        {std::min(kQueryBlock, queries), keys}, scaled_q.options());
    const torch::Tensor probs = torch::empty_like(scores);
    const torch::Tensor rows_out =
        torch::empty({scores.size(0), head_dim}, scaled_q.options());
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / heads;
      const int64_t h = i % heads;
      const torch::Tensor qh = scaled_q[b][h];
      const torch::Tensor kh_t = k[b][h].t();
      const torch::Tensor vh = v[b][h];
      for (int64_t start = 0; start < queries; start += kQueryBlock) {
        const int64_t rows = std::min(kQueryBlock, queries - start);
        torch::Tensor s = scores.narrow(0, 0, rows);
        torch::Tensor p = probs.narrow(0, 0, rows);
        torch::Tensor o = rows_out.narrow(0, 0, rows);
        at::mm_out(s, qh.narrow(0, start, rows), kh_t);
        at::_softmax_out(p, s, -1, false);
        at::mm_out(o, p, vh);
        out[b].narrow(0, start, rows).select(1, h).copy_(o);
      }
    }
  });
  return out.transpose(1, 2);
}

torch::Tensor ScaledDotProductAttention(const torch::Tensor& q,
                                        const torch::Tensor& k,
                                        const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  // Its default scale is head_dim^-0.5, the official qk_scale default.
  return at::scaled_dot_product_attention(q, k, v);
#else
  // Blocks pay off in bf16. In fp32 they measured no faster here: the small
  // OpenBLAS matmuls of a block varied 3x from run to run.
  if (!torch::GradMode::is_enabled() && q.device().is_cpu() &&
      q.scalar_type() != torch::kFloat && q.scalar_type() != torch::kDouble) {
    return BlockedAttention(q, k, v);
  }
  // Scaling q (N x head_dim values) is cheaper than scaling the N x N
  // scores, and it is the official order of operations.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const torch::Tensor scores = torch::matmul(q * scale, k.transpose(-2, -1));
  return torch::matmul(scores.softmax(-1), v);
#endif
}

}  // namespace iv::model
