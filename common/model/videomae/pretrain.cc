#include "common/model/videomae/pretrain.h"

#include "common/model/videomae/block.h"
#include "common/model/videomae/masking.h"
#include "common/model/videomae/position_table.h"
#include "common/model/videomae/reconstruction_loss.h"
#include "common/model/videomae/vision_transformer.h"
#include "common/model/videomae/weight_init.h"

namespace iv::model {
namespace {

VideoMaeBlockOptions BlocksOf(const VideoMaeConfig& config, int64_t dim,
                              int64_t num_heads) {
  VideoMaeBlockOptions options;
  options.dim = dim;
  options.num_heads = num_heads;
  options.mlp_ratio = config.mlp_ratio;
  options.qkv_bias = config.qkv_bias;
  options.init_values = config.init_values;
  return options;
}

const PretrainDecoderConfig& DecoderOf(const VideoMaeConfig& config) {
  TORCH_CHECK(config.decoder.has_value(),
              "a pretraining model needs masked_encoder.decoder");
  return *config.decoder;
}

// The rows of `tokens` [B, N, D] that `mask` [B, N] selects, which are the
// same number in every clip: [B, selected, D], in token order.
torch::Tensor Select(const torch::Tensor& tokens, const torch::Tensor& mask) {
  return tokens.index({mask}).view({tokens.size(0), -1, tokens.size(2)});
}

}  // namespace

PretrainEncoderImpl::PretrainEncoderImpl(const VideoMaeConfig& config) {
  patch_embed_ = register_module(
      "patch_embed",
      PatchEmbed(config.embed_dim, config.patch_size, config.tubelet_size,
                 TrainedGrid(config), config.conv_stem_channels));
  blocks_ = register_module(
      "blocks",
      MakeVideoMaeBlocks(BlocksOf(config, config.embed_dim, config.num_heads),
                         config.depth, config.drop_path_rate));
  norm_ = register_module("norm", VideoMaeLayerNorm(config.embed_dim));
}

torch::Tensor PretrainEncoderImpl::forward(const torch::Tensor& video,
                                           const torch::Tensor& mask) {
  torch::Tensor x = EmbedTokens(patch_embed_, video);
  if (mask.defined()) x = Select(x, mask.logical_not());
  return norm_(RunVideoMaeBlocks(blocks_, x));
}

PretrainDecoderImpl::PretrainDecoderImpl(const VideoMaeConfig& config) {
  const PretrainDecoderConfig& decoder = DecoderOf(config);
  blocks_ = register_module(
      "blocks",
      MakeVideoMaeBlocks(BlocksOf(config, decoder.embed_dim, decoder.num_heads),
                         decoder.depth, config.drop_path_rate));
  norm_ = register_module("norm", VideoMaeLayerNorm(decoder.embed_dim));
  const int64_t pixels =
      3 * config.tubelet_size * config.patch_size * config.patch_size;
  head_ = register_module("head", torch::nn::Linear(decoder.embed_dim, pixels));
}

torch::Tensor PretrainDecoderImpl::forward(const torch::Tensor& x,
                                           int64_t num_masked) {
  const torch::Tensor y = RunVideoMaeBlocks(blocks_, x);
  return head_(norm_(y.narrow(1, y.size(1) - num_masked, num_masked)));
}

PretrainVisionTransformerImpl::PretrainVisionTransformerImpl(
    const VideoMaeConfig& config)
    : config_(config) {
  const int64_t decoder_dim = DecoderOf(config).embed_dim;
  encoder_ = register_module("encoder", PretrainEncoder(config));
  // Its official initialization is PyTorch's default, which LibTorch's
  // Linear shares.
  encoder_to_decoder_ = register_module(
      "encoder_to_decoder",
      torch::nn::Linear(
          torch::nn::LinearOptions(config.embed_dim, decoder_dim).bias(false)));
  mask_token_ =
      register_parameter("mask_token", torch::zeros({1, 1, decoder_dim}));
  decoder_ = register_module("decoder", PretrainDecoder(config));
  InitLinearsAndNorms(*encoder_, LinearInit::kXavierUniform);
  InitLinearsAndNorms(*decoder_, LinearInit::kXavierUniform);
  TruncNormal_(mask_token_, 0.02, -0.02, 0.02);
}

torch::Tensor PretrainVisionTransformerImpl::forward(
    const torch::Tensor& video, const torch::Tensor& mask) {
  TORCH_CHECK(mask.scalar_type() == torch::kBool && mask.dim() == 2 &&
                  mask.size(0) == video.size(0),
              "mask must be bool [B, N] for a batch of ", video.size(0),
              ", got ", mask.scalar_type(), " ", mask.sizes());
  const torch::Tensor visible = encoder_to_decoder_(encoder_(video, mask));
  const int64_t dim = visible.size(2);
  // The encoder's positions, at the decoder's width.
  PatchEmbed& patch_embed = encoder_->patch_embed();
  const torch::Tensor table =
      PositionTable(patch_embed->trained_grid(), patch_embed->Grid(video), dim,
                    visible.options())
          .expand({visible.size(0), -1, -1});
  const torch::Tensor masked_positions = Select(table, mask);
  // Visible tokens first, then one mask token per hidden position. The
  // order is irrelevant to attention; each token's position rides with it.
  const torch::Tensor tokens =
      torch::cat({visible + Select(table, mask.logical_not()),
                  mask_token_ + masked_positions},
                 1);
  return decoder_(tokens, masked_positions.size(1));
}

torch::Tensor PretrainVisionTransformerImpl::SampleMask(
    const torch::Tensor& video, at::Generator generator) {
  const TokenGrid grid = encoder_->patch_embed()->Grid(video);
  return TubeMask(video.size(0), grid, config_.decoder->mask_ratio,
                  std::move(generator))
      .to(video.device());
}

torch::Tensor PretrainVisionTransformerImpl::Loss(const torch::Tensor& video,
                                                  const torch::Tensor& mask) {
  ReconstructionTarget target;
  target.tubelet_size = config_.tubelet_size;
  target.patch_size = config_.patch_size;
  target.normalize = config_.decoder->normalize_target;
  target.input_normalization = config_.normalization;
  return ReconstructionLoss(forward(video, mask), video, mask, target);
}

torch::Tensor PretrainVisionTransformerImpl::EncoderTokens(
    const torch::Tensor& video) {
  return encoder_(video);
}

}  // namespace iv::model
