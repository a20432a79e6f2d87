#include "common/model/videomae/weight_init.h"

#include <cmath>

namespace iv::model {
namespace {

double NormalCdf(double x) {
  return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
}

void InitLinear(torch::nn::LinearImpl& linear, LinearInit init) {
  if (init == LinearInit::kTruncNormal) {
    TruncNormal_(linear.weight, 0.02, -2.0, 2.0);
  } else {
    torch::nn::init::xavier_uniform_(linear.weight);
  }
  if (linear.bias.defined()) torch::nn::init::zeros_(linear.bias);
}

}  // namespace

void TruncNormal_(torch::Tensor tensor, double std, double low, double high) {
  torch::NoGradGuard no_grad;
  // Uniform between the CDF values of the bounds, mapped back through the
  // inverse CDF: exact truncation without rejection loops.
  const double lo = NormalCdf(low / std);
  const double hi = NormalCdf(high / std);
  tensor.uniform_(2 * lo - 1, 2 * hi - 1)
      .erfinv_()
      .mul_(std * std::sqrt(2.0))
      .clamp_(low, high);
}

void InitLinearsAndNorms(torch::nn::Module& module, LinearInit init) {
  module.apply([init](torch::nn::Module& m) {
    if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
      InitLinear(*linear, init);
    } else if (auto* norm = dynamic_cast<torch::nn::LayerNormImpl*>(&m)) {
      torch::nn::init::ones_(norm->weight);
      torch::nn::init::zeros_(norm->bias);
    }
  });
}

}  // namespace iv::model
