#include "trainer/optimizer.h"

#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace iv::trainer {
namespace {

// Parameters that are embeddings, tokens or temperatures, which weight decay
// would pull toward zero for no benefit (timm's no_weight_decay lists).
constexpr const char* kNoDecayNames[] = {"pos_embed",
                                         "cls_token",
                                         "mask_token",
                                         "class_embedding",
                                         "positional_embedding",
                                         "logit_scale",
                                         "visual_queries",
                                         "temporal_cls_token",
                                         "text_mask_embedding"};

// The block index after `marker` in `name` ("...blocks.3.attn" -> 3).
bool BlockIndex(const std::string& name, const std::string& marker,
                int64_t* index) {
  const size_t at = name.find(marker);
  if (at == std::string::npos) return false;
  const size_t start = at + marker.size();
  const size_t end = name.find('.', start);
  return absl::SimpleAtoi(name.substr(start, end - start), index);
}

}  // namespace

int64_t LayerId(const std::string& name, int64_t num_layers) {
  if (!absl::StartsWith(name, "masked_encoder.")) return num_layers + 1;
  if (absl::StrContains(name, "decoder")) return num_layers + 1;
  int64_t block = 0;
  if (BlockIndex(name, "blocks.", &block)) return block + 1;
  if (absl::StrContains(name, "patch_embed") ||
      absl::StrContains(name, "pos_embed") ||
      absl::StrContains(name, "cls_token")) {
    return 0;
  }
  return num_layers + 1;
}

bool ExcludedFromWeightDecay(const std::string& name,
                             const torch::Tensor& parameter,
                             const std::vector<std::string>& extra) {
  if (parameter.dim() < 2) return true;
  for (const char* excluded : kNoDecayNames) {
    if (absl::StrContains(name, excluded)) return true;
  }
  for (const std::string& excluded : extra) {
    if (absl::StrContains(name, excluded)) return true;
  }
  return false;
}

std::vector<ParameterGroup> GroupParameters(
    const model::NamedTensors& trainable,
    const internvideo::v1::OptimizerConfig& config, int64_t num_layers) {
  const double decay = config.layer_decay() == 0 ? 1.0 : config.layer_decay();
  const std::vector<std::string> extra(config.no_weight_decay().begin(),
                                       config.no_weight_decay().end());
  std::vector<ParameterGroup> groups;
  std::map<std::pair<double, double>, size_t> index;
  for (const auto& [name, parameter] : trainable) {
    const double scale = std::pow(
        decay, static_cast<double>(num_layers + 1 - LayerId(name, num_layers)));
    const double weight_decay = ExcludedFromWeightDecay(name, parameter, extra)
                                    ? 0.0
                                    : config.weight_decay();
    auto [it, inserted] =
        index.emplace(std::make_pair(scale, weight_decay), groups.size());
    if (inserted) groups.push_back({{}, {}, scale, weight_decay});
    groups[it->second].names.push_back(name);
    groups[it->second].parameters.push_back(parameter);
  }
  return groups;
}

TrainingOptimizer::TrainingOptimizer(
    std::vector<ParameterGroup> groups,
    const internvideo::v1::OptimizerConfig& config)
    : groups_(std::move(groups)), grad_clip_norm_(config.grad_clip_norm()) {
  torch::optim::AdamWOptions defaults(config.learning_rate());
  defaults.betas({config.beta1() == 0 ? 0.9 : config.beta1(),
                  config.beta2() == 0 ? 0.999 : config.beta2()});
  defaults.eps(config.eps() == 0 ? 1e-8 : config.eps());
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (const ParameterGroup& group : groups_) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(defaults);
    options->weight_decay(group.weight_decay);
    param_groups.emplace_back(group.parameters, std::move(options));
  }
  adamw_ = std::make_unique<torch::optim::AdamW>(param_groups, defaults);
}

void TrainingOptimizer::SetLearningRate(double lr) {
  auto& param_groups = adamw_->param_groups();
  for (size_t i = 0; i < param_groups.size(); ++i) {
    static_cast<torch::optim::AdamWOptions&>(param_groups[i].options())
        .lr(lr * groups_[i].lr_scale);
  }
}

double TrainingOptimizer::Step() {
  std::vector<torch::Tensor> all;
  for (const ParameterGroup& group : groups_) {
    all.insert(all.end(), group.parameters.begin(), group.parameters.end());
  }
  const double max_norm = grad_clip_norm_ > 0
                              ? grad_clip_norm_
                              : std::numeric_limits<double>::infinity();
  const double norm = torch::nn::utils::clip_grad_norm_(all, max_norm);
  adamw_->step();
  return norm;
}

void TrainingOptimizer::ZeroGrad() { adamw_->zero_grad(); }

void TrainingOptimizer::Save(torch::serialize::OutputArchive& archive) const {
  adamw_->save(archive);
}

absl::Status TrainingOptimizer::Load(torch::serialize::InputArchive& archive) {
  try {
    adamw_->load(archive);
  } catch (const c10::Error& error) {
    return absl::DataLossError(
        absl::StrCat("optimizer state: ", error.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace iv::trainer
