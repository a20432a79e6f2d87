#include "trainer/distributed/data_parallel.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace iv::trainer {
namespace {

// A parameter's place in the buckets and what its hook reported this step.
struct ParamSlot {
  torch::Tensor param;
  int bucket = 0;
  int64_t offset = 0;  // Element offset in the bucket's flat buffer.
  bool ready = false;  // Its gradient is in the bucket for this step.
  bool used = false;   // It had a gradient on this rank this step.
  // Kept alive here: a parameter holds its accumulator only weakly, and the
  // hook must stay on the same accumulator across iterations.
  std::shared_ptr<torch::autograd::Node> accumulator;
  uintptr_t hook_key = 0;
};

// Gradients of one dtype and device, all-reduced as one flat tensor.
struct Bucket {
  torch::Tensor flat;
  std::vector<int> params;  // Indices into State::params.
  int pending = 0;          // Parameters still to report this step.
  c10::intrusive_ptr<c10d::Work> work;
};

}  // namespace

struct DataParallel::State {
  void OnGradientReady(int index);
  // Starts the all-reduce of every complete bucket from next_bucket on.
  void LaunchReadyBuckets(bool during_backward);
  void AddToBucket(int index, const torch::Tensor& grad);
  void ResetStep();

  std::mutex mu;  // Hooks may run on autograd's device threads.
  c10::intrusive_ptr<CollectiveGroup> group;
  int world_size = 1;
  DataParallelOptions options;
  std::vector<ParamSlot> params;
  std::vector<Bucket> buckets;
  // Buckets are launched strictly in index order, so every rank issues the
  // same sequence of collectives even when its gradients arrive in another
  // order (Gloo matches collectives by their order, not by name).
  int next_bucket = 0;
  int params_pending = 0;
  bool sync_enabled = true;
  absl::Status error;  // The first failure inside a hook, for Finish.
  GradientSyncStats step_stats;
  GradientSyncStats last_stats;
};

namespace {

// Runs after AccumulateGrad has written a parameter's .grad, so the value it
// reads already includes gradients accumulated under NoSync.
class GradientReadyHook : public torch::autograd::FunctionPostHook {
 public:
  GradientReadyHook(std::weak_ptr<DataParallel::State> state, int index)
      : state_(std::move(state)), index_(index) {}

  torch::autograd::variable_list operator()(
      const torch::autograd::variable_list& outputs,
      const torch::autograd::variable_list& /*inputs*/) override {
    if (std::shared_ptr<DataParallel::State> state = state_.lock()) {
      state->OnGradientReady(index_);
    }
    return outputs;
  }

 private:
  std::weak_ptr<DataParallel::State> state_;
  int index_;
};

// A cheap fingerprint of the parameter list, to catch ranks that built
// different models before any gradient is mixed.
std::vector<int64_t> ParameterSignature(
    const std::vector<torch::Tensor>& params) {
  int64_t elements = 0;
  int64_t shape_hash = 17;
  for (const torch::Tensor& param : params) {
    elements += param.numel();
    for (int64_t size : param.sizes()) {
      shape_hash = shape_hash * 31 + size;
    }
    shape_hash = shape_hash * 31 + static_cast<int64_t>(param.scalar_type());
  }
  return {static_cast<int64_t>(params.size()), elements, shape_hash};
}

absl::Status CheckSameModelEverywhere(
    const World& world, const std::vector<torch::Tensor>& params) {
  const std::vector<int64_t> signature = ParameterSignature(params);
  std::vector<torch::Tensor> input = {torch::tensor(signature, torch::kInt64)};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < world.world_size(); ++r) {
    output[0].push_back(torch::empty_like(input[0]));
  }
  try {
    world.group()->allgather(output, input)->wait();
  } catch (const std::exception& error) {
    return StatusFromException(error, "comparing parameters across ranks");
  }
  for (int r = 1; r < world.world_size(); ++r) {
    if (!torch::equal(output[0][r], output[0][0])) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rank ", r, " has ", output[0][r][0].item<int64_t>(),
          " trainable parameters with ", output[0][r][1].item<int64_t>(),
          " elements, rank 0 has ", output[0][0][0].item<int64_t>(), " with ",
          output[0][0][1].item<int64_t>(),
          " (or their shapes differ): every rank must build the same model"));
    }
  }
  return absl::OkStatus();
}

// Copies rank 0's values into `tensors` on every rank, one collective per
// dtype and device rather than one per tensor.
absl::Status BroadcastFromRankZero(const World& world,
                                   const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  std::map<std::pair<std::string, int>, std::vector<torch::Tensor>> groups;
  for (const torch::Tensor& tensor : tensors) {
    groups[{tensor.device().str(), static_cast<int>(tensor.scalar_type())}]
        .push_back(tensor);
  }
  for (auto& [key, group] : groups) {
    std::vector<torch::Tensor> flat_views;
    for (const torch::Tensor& tensor : group) {
      flat_views.push_back(tensor.reshape(-1));
    }
    std::vector<torch::Tensor> flat = {torch::cat(flat_views)};
    try {
      world.group()->broadcast(flat)->wait();
    } catch (const std::exception& error) {
      return StatusFromException(error, "broadcasting rank 0's parameters");
    }
    int64_t offset = 0;
    for (torch::Tensor tensor : group) {
      tensor.copy_(flat[0].narrow(0, offset, tensor.numel()).view_as(tensor));
      offset += tensor.numel();
    }
  }
  return absl::OkStatus();
}

}  // namespace

void DataParallel::State::AddToBucket(int index, const torch::Tensor& grad) {
  ParamSlot& slot = params[index];
  torch::Tensor target =
      buckets[slot.bucket].flat.narrow(0, slot.offset, slot.param.numel());
  torch::NoGradGuard no_grad;
  if (grad.defined()) {
    target.view_as(slot.param).copy_(grad);
  } else {
    target.zero_();
  }
  slot.ready = true;
  --params_pending;
  --buckets[slot.bucket].pending;
}

void DataParallel::State::OnGradientReady(int index) {
  std::lock_guard<std::mutex> lock(mu);
  if (!sync_enabled || !error.ok()) return;
  ParamSlot& slot = params[index];
  if (slot.ready) {
    error = absl::FailedPreconditionError(
        "a parameter got a second gradient before FinishGradientSync: call it "
        "after every synchronized backward, or accumulate under NoSync()");
    return;
  }
  const torch::Tensor& grad = slot.param.grad();
  if (grad.defined() && grad.is_sparse()) {
    error = absl::UnimplementedError(
        "sparse gradients are not supported by DataParallel");
    return;
  }
  slot.used = grad.defined();
  AddToBucket(index, grad);
  if (buckets[slot.bucket].pending == 0) {
    LaunchReadyBuckets(/*during_backward=*/true);
  }
}

void DataParallel::State::LaunchReadyBuckets(bool during_backward) {
  while (next_bucket < static_cast<int>(buckets.size()) &&
         buckets[next_bucket].pending == 0) {
    Bucket& bucket = buckets[next_bucket++];
    std::vector<torch::Tensor> tensors = {bucket.flat};
    try {
      bucket.work = group->allreduce(tensors);
    } catch (const std::exception& exception) {
      if (error.ok()) {
        error = StatusFromException(exception, "all-reducing gradients");
      }
      return;
    }
    ++step_stats.buckets;
    if (during_backward && params_pending > 0) {
      ++step_stats.launched_during_backward;
    }
  }
}

void DataParallel::State::ResetStep() {
  for (ParamSlot& slot : params) {
    slot.ready = false;
    slot.used = false;
  }
  for (Bucket& bucket : buckets) {
    bucket.pending = static_cast<int>(bucket.params.size());
    bucket.work.reset();
  }
  next_bucket = 0;
  params_pending = static_cast<int>(params.size());
  step_stats = GradientSyncStats();
  error = absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Create(
    torch::nn::Module& module, const World& world,
    DataParallelOptions options) {
  if (options.bucket_cap_bytes <= 0) {
    return absl::InvalidArgumentError("bucket_cap_bytes must be positive");
  }
  // Shared parameters (tied weights) appear once.
  std::vector<torch::Tensor> params;
  std::unordered_set<const void*> seen;
  for (const torch::Tensor& param : module.parameters()) {
    if (param.requires_grad() &&
        seen.insert(param.unsafeGetTensorImpl()).second) {
      params.push_back(param);
    }
  }
  if (absl::Status status = CheckSameModelEverywhere(world, params);
      !status.ok()) {
    return status;
  }
  std::vector<torch::Tensor> to_broadcast;
  for (const torch::Tensor& param : module.parameters()) {
    to_broadcast.push_back(param);
  }
  if (options.broadcast_buffers) {
    for (const torch::Tensor& buffer : module.buffers()) {
      to_broadcast.push_back(buffer);
    }
  }
  if (absl::Status status = BroadcastFromRankZero(world, to_broadcast);
      !status.ok()) {
    return status;
  }

  auto state = std::make_shared<State>();
  state->group = world.group();
  state->world_size = world.world_size();
  state->options = options;
  // Buckets in reverse parameter order, as DDP: backward produces the last
  // layers' gradients first, so the first bucket fills (and is sent) while
  // earlier layers are still being differentiated.
  int64_t bucket_bytes = 0;
  std::vector<int64_t> bucket_elements;
  for (int i = static_cast<int>(params.size()) - 1; i >= 0; --i) {
    const torch::Tensor& param = params[i];
    const int64_t bytes = param.numel() * param.element_size();
    bool fits = false;
    if (!state->buckets.empty()) {
      const torch::Tensor& first =
          state->params[state->buckets.back().params[0]].param;
      fits = first.scalar_type() == param.scalar_type() &&
             first.device() == param.device() &&
             bucket_bytes + bytes <= options.bucket_cap_bytes;
    }
    if (!fits) {
      state->buckets.emplace_back();
      bucket_elements.push_back(0);
      bucket_bytes = 0;
    }
    ParamSlot slot;
    slot.param = param;
    slot.bucket = static_cast<int>(state->buckets.size()) - 1;
    slot.offset = bucket_elements.back();
    bucket_elements.back() += param.numel();
    bucket_bytes += bytes;
    state->buckets.back().params.push_back(
        static_cast<int>(state->params.size()));
    state->params.push_back(std::move(slot));
  }
  for (size_t b = 0; b < state->buckets.size(); ++b) {
    Bucket& bucket = state->buckets[b];
    bucket.flat = torch::zeros(
        {bucket_elements[b]},
        state->params[bucket.params[0]].param.options().requires_grad(false));
  }
  for (size_t i = 0; i < state->params.size(); ++i) {
    ParamSlot& slot = state->params[i];
    slot.accumulator = torch::autograd::impl::grad_accumulator(slot.param);
    slot.hook_key = slot.accumulator->add_post_hook(
        std::make_unique<GradientReadyHook>(state, static_cast<int>(i)));
  }
  state->ResetStep();
  return std::unique_ptr<DataParallel>(new DataParallel(std::move(state)));
}

DataParallel::DataParallel(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

DataParallel::~DataParallel() {
  for (ParamSlot& slot : state_->params) {
    slot.accumulator->del_post_hook(slot.hook_key);
  }
}

DataParallel::NoSyncGuard::NoSyncGuard(DataParallel& owner) : owner_(owner) {
  std::lock_guard<std::mutex> lock(owner_.state_->mu);
  previous_ = owner_.state_->sync_enabled;
  owner_.state_->sync_enabled = false;
}

DataParallel::NoSyncGuard::~NoSyncGuard() {
  std::lock_guard<std::mutex> lock(owner_.state_->mu);
  owner_.state_->sync_enabled = previous_;
}

void DataParallel::PrepareForBackward(const torch::Tensor& loss) {
  State& state = *state_;
  std::unordered_set<const torch::autograd::Node*> reached;
  std::vector<torch::autograd::Node*> stack;
  if (loss.grad_fn()) stack.push_back(loss.grad_fn().get());
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (!reached.insert(node).second) continue;
    for (const torch::autograd::Edge& edge : node->next_edges()) {
      if (edge.function) stack.push_back(edge.function.get());
    }
  }
  std::lock_guard<std::mutex> lock(state.mu);
  if (!state.sync_enabled || !state.error.ok()) return;
  for (size_t i = 0; i < state.params.size(); ++i) {
    ParamSlot& slot = state.params[i];
    if (slot.ready || reached.count(slot.accumulator.get()) > 0) continue;
    const torch::Tensor& grad = slot.param.grad();
    slot.used = grad.defined();
    if (!slot.used) ++state.step_stats.locally_unused_parameters;
    state.AddToBucket(static_cast<int>(i), grad);
  }
  state.LaunchReadyBuckets(/*during_backward=*/false);
}

absl::Status DataParallel::FinishGradientSync() {
  State& state = *state_;
  std::lock_guard<std::mutex> lock(state.mu);
  if (!state.sync_enabled) return absl::OkStatus();  // Nothing to sync yet.
  if (!state.error.ok()) {
    absl::Status error = state.error;
    // Other ranks may be blocked in this step's collectives; the caller is
    // expected to stop training (the collectives time out on the others).
    state.ResetStep();
    return error;
  }
  // Parameters without a gradient this step contribute what they have
  // (accumulated under NoSync) or zeros, so their buckets still launch and
  // no rank waits on a collective this one never issues.
  for (size_t i = 0; i < state.params.size(); ++i) {
    ParamSlot& slot = state.params[i];
    if (slot.ready) continue;
    const torch::Tensor& grad = slot.param.grad();
    slot.used = grad.defined();
    if (!slot.used) ++state.step_stats.locally_unused_parameters;
    state.AddToBucket(static_cast<int>(i), grad);
  }
  state.LaunchReadyBuckets(/*during_backward=*/false);

  std::vector<int32_t> used_anywhere;
  try {
    if (state.options.find_unused_parameters) {
      std::vector<torch::Tensor> used = {torch::zeros(
          {static_cast<int64_t>(state.params.size())}, torch::kInt32)};
      for (size_t i = 0; i < state.params.size(); ++i) {
        if (state.params[i].used) used[0][i] = 1;
      }
      state.group->allreduce(used)->wait();
      used_anywhere.assign(used[0].data_ptr<int32_t>(),
                           used[0].data_ptr<int32_t>() + used[0].numel());
    }
    for (Bucket& bucket : state.buckets) {
      if (bucket.work) bucket.work->wait();
    }
  } catch (const std::exception& exception) {
    state.ResetStep();
    return StatusFromException(exception, "all-reducing gradients");
  }
  if (!state.error.ok()) {
    absl::Status error = state.error;
    state.ResetStep();
    return error;
  }

  torch::NoGradGuard no_grad;
  for (Bucket& bucket : state.buckets) {
    bucket.flat.div_(state.world_size);
    for (int index : bucket.params) {
      ParamSlot& slot = state.params[index];
      if (!used_anywhere.empty() && used_anywhere[index] == 0) {
        ++state.step_stats.globally_unused_parameters;
        continue;
      }
      torch::Tensor average =
          bucket.flat.narrow(0, slot.offset, slot.param.numel())
              .view_as(slot.param);
      torch::Tensor& grad = slot.param.mutable_grad();
      if (grad.defined()) {
        grad.copy_(average);
      } else {
        grad = average.clone();
      }
    }
  }
  state.last_stats = state.step_stats;
  state.ResetStep();
  return absl::OkStatus();
}

GradientSyncStats DataParallel::last_sync_stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->last_stats;
}

int DataParallel::num_buckets() const {
  return static_cast<int>(state_->buckets.size());
}

int64_t DataParallel::num_parameters() const {
  return static_cast<int64_t>(state_->params.size());
}

}  // namespace iv::trainer
