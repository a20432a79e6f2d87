#include "common/model/videomae/vision_transformer.h"

#include "common/model/videomae/block.h"
#include "common/model/videomae/position_table.h"
#include "common/model/videomae/weight_init.h"

namespace iv::model {
namespace {

// run_class_finetuning.py's default: the new head starts near zero, so
// finetuning begins from the pretrained features rather than noise.
constexpr double kHeadInitScale = 0.001;

VideoMaeBlockOptions EncoderBlockOptions(const VideoMaeConfig& config) {
  VideoMaeBlockOptions options;
  options.dim = config.embed_dim;
  options.num_heads = config.num_heads;
  options.mlp_ratio = config.mlp_ratio;
  options.qkv_bias = config.qkv_bias;
  options.init_values = config.init_values;
  return options;
}

}  // namespace

torch::Tensor EmbedTokens(PatchEmbed& patch_embed, const torch::Tensor& video) {
  const torch::Tensor tokens = patch_embed(video);
  // The table goes first: the sum then takes its contiguous [N, D] layout
  // rather than the transposed one of the convolution's output, which every
  // later elementwise op would inherit.
  return PositionTable(patch_embed->trained_grid(), patch_embed->Grid(video),
                       tokens.size(2), tokens.options()) +
         tokens;
}

TokenGrid TrainedGrid(const VideoMaeConfig& config) {
  const int64_t side = config.img_size / config.patch_size;
  return {config.num_frames / config.tubelet_size, side, side};
}

VisionTransformerImpl::VisionTransformerImpl(const VideoMaeConfig& config)
    : config_(config) {
  const int64_t dim = config.embed_dim;
  patch_embed_ = register_module(
      "patch_embed",
      PatchEmbed(dim, config.patch_size, config.tubelet_size,
                 TrainedGrid(config), config.conv_stem_channels));
  blocks_ = register_module(
      "blocks", MakeVideoMaeBlocks(EncoderBlockOptions(config), config.depth,
                                   config.drop_path_rate));
  if (config.use_mean_pooling) {
    fc_norm_ = register_module("fc_norm", VideoMaeLayerNorm(dim));
  } else {
    norm_ = register_module("norm", VideoMaeLayerNorm(dim));
  }
  if (config.num_classes > 0) {
    head_ = register_module("head", torch::nn::Linear(dim, config.num_classes));
  }
  InitLinearsAndNorms(*this, LinearInit::kTruncNormal);
  if (head_) {
    torch::NoGradGuard no_grad;
    head_->weight.mul_(kHeadInitScale);
    head_->bias.mul_(kHeadInitScale);
  }
}

torch::Tensor VisionTransformerImpl::Tokens(const torch::Tensor& video) {
  torch::Tensor x =
      RunVideoMaeBlocks(blocks_, EmbedTokens(patch_embed_, video));
  return norm_ ? norm_(x) : x;
}

torch::Tensor VisionTransformerImpl::Pool(const torch::Tensor& tokens) {
  // Without mean pooling the official model takes token 0 (it has no class
  // token, so this is the first tubelet's token).
  return fc_norm_ ? fc_norm_(tokens.mean(1)) : tokens.select(1, 0);
}

VideoMaeOutput VisionTransformerImpl::forward(const torch::Tensor& video) {
  VideoMaeOutput out;
  out.features = Pool(Tokens(video));
  if (head_) out.logits = head_(out.features);
  return out;
}

}  // namespace iv::model
