#include "common/model/conv_stem.h"

namespace iv::model {

ConvStemImpl::ConvStemImpl(const std::vector<int64_t>& channels,
                           int64_t width) {
  int64_t in = 3;
  for (const int64_t out : channels) {
    // No bias: the GroupNorm after each convolution has one.
    convs_->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in, out, 3).stride(2).padding(1).bias(false)));
    norms_->push_back(
        torch::nn::GroupNorm(torch::nn::GroupNormOptions(4, out)));
    in = out;
  }
  register_module("convs", convs_);
  register_module("norms", norms_);
  proj_ = register_module(
      "proj",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in, width, 1).bias(false)));
}

torch::Tensor ConvStemImpl::forward(const torch::Tensor& video) {
  const int64_t batch = video.size(0), frames = video.size(2);
  // Every frame on its own: [B * T, 3, H, W].
  torch::Tensor x = video.transpose(1, 2).flatten(0, 1);
  for (size_t i = 0; i < convs_->size(); ++i) {
    x = torch::gelu(norms_[i]->as<torch::nn::GroupNorm>()->forward(
        convs_[i]->as<torch::nn::Conv2d>()->forward(x)));
  }
  x = proj_(x);  // [B * T, width, h, w]
  return x.view({batch, frames, x.size(1), x.size(2), x.size(3)})
      .transpose(1, 2);
}

}  // namespace iv::model
