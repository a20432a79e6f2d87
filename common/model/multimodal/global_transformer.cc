#include "common/model/multimodal/global_transformer.h"

#include "common/model/multimodal/extractor.h"
#include "common/model/multimodal/residual_attention_block.h"

namespace iv::model {

GlobalTransformerImpl::GlobalTransformerImpl(const ClipVisionOptions& options)
    : return_list_(options.global_branch.return_list) {
  const int64_t width = options.width;
  const GlobalBranchOptions& branch = options.global_branch;
  resblocks_ = register_module("resblocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.layers; ++i) {
    resblocks_->push_back(ResidualAttentionBlock(width, options.heads));
  }
  temporal_cls_token_ =
      register_parameter("temporal_cls_token", torch::zeros({1, 1, width}));
  dpe_ = register_module("dpe", torch::nn::ModuleList());
  dec_ = register_module("dec", torch::nn::ModuleList());
  for (int64_t j = 0; j < branch.n_layers; ++j) {
    torch::nn::Conv3d dpe(
        torch::nn::Conv3dOptions(width, width, 3).padding(1).groups(width));
    // The official init of the bias (the weight keeps Conv3d's).
    torch::nn::init::zeros_(dpe->bias);
    dpe_->push_back(dpe);
    dec_->push_back(Extractor(width, branch.n_head, branch.mlp_factor));
  }
  balance_ =
      register_parameter("balance", torch::full({width}, branch.balance));
}

torch::Tensor GlobalTransformerImpl::PositionEncoded(const torch::Tensor& x,
                                                     const TokenGrid& grid,
                                                     int64_t j) {
  const int64_t tokens = x.size(1);
  const int64_t dim = x.size(2);
  const torch::Tensor frames =
      x.view({-1, grid.time, tokens, dim});  // [B, T, L, D]
  const torch::Tensor patches =
      frames.narrow(2, 1, tokens - 1)
          .permute({0, 3, 1, 2})
          .reshape({-1, dim, grid.time, grid.height, grid.width});
  const torch::Tensor encoded =
      dpe_[j]->as<torch::nn::Conv3d>()->forward(patches).flatten(3).permute(
          {0, 2, 3, 1});  // [B, T, H*W, D]
  return torch::cat({frames.narrow(2, 0, 1),
                     frames.narrow(2, 1, tokens - 1) + encoded},
                    2)
      .flatten(1, 2);
}

GlobalTransformerOutput GlobalTransformerImpl::forward(torch::Tensor x,
                                                       const TokenGrid& grid) {
  const int64_t batch = x.size(0) / grid.time;
  torch::Tensor cls = temporal_cls_token_.expand({batch, 1, -1});
  size_t j = 0;
  for (size_t i = 0; i < resblocks_->size(); ++i) {
    x = resblocks_[i]->as<ResidualAttentionBlock>()->forward(x);
    if (j < return_list_.size() && return_list_[j] == static_cast<int64_t>(i)) {
      cls = dec_[j]->as<Extractor>()->forward(cls, PositionEncoded(x, grid, j));
      ++j;
    }
  }
  GlobalTransformerOutput out;
  out.tokens = x.view({batch, grid.time, x.size(1), x.size(2)});
  const torch::Tensor weight = torch::sigmoid(balance_);
  const torch::Tensor frame_cls = out.tokens.select(2, 0).mean(1);
  out.feature = (1 - weight) * cls.select(1, 0) + weight * frame_cls;
  return out;
}

}  // namespace iv::model
