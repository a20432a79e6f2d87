#include "trainer/distributed/collectives.h"

#include <torch/torch.h>

#include <exception>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace iv::trainer {
namespace {

torch::Tensor GatherAndConcat(CollectiveGroup& group, int world_size,
                              const torch::Tensor& local) {
  std::vector<torch::Tensor> input = {local.contiguous()};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < world_size; ++r) {
    output[0].push_back(torch::empty_like(input[0]));
  }
  group.allgather(output, input)->wait();
  return torch::cat(output[0], 0);
}

// The group travels to backward in a capsule: saved_data holds IValues, and
// process groups are CustomClassHolders.
class AllGatherFunction : public torch::autograd::Function<AllGatherFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               torch::Tensor local,
                               c10::intrusive_ptr<CollectiveGroup> group,
                               int64_t rank, int64_t world_size) {
    ctx->saved_data["group"] = c10::IValue::make_capsule(group);
    ctx->saved_data["rank"] = rank;
    ctx->saved_data["rows"] = local.size(0);
    return GatherAndConcat(*group, static_cast<int>(world_size), local);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    auto group = c10::static_intrusive_pointer_cast<CollectiveGroup>(
        ctx->saved_data["group"].toCapsule());
    const int64_t rank = ctx->saved_data["rank"].toInt();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    std::vector<torch::Tensor> summed = {grads[0].contiguous().clone()};
    group->allreduce(summed)->wait();
    return {summed[0].narrow(0, rank * rows, rows), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

c10d::ReduceOp ToReduceOp(Reduction reduction) {
  switch (reduction) {
    case Reduction::kMin:
      return c10d::ReduceOp::MIN;
    case Reduction::kMax:
      return c10d::ReduceOp::MAX;
    case Reduction::kSum:
    case Reduction::kMean:
      return c10d::ReduceOp::SUM;
  }
  return c10d::ReduceOp::SUM;
}

}  // namespace

absl::StatusOr<torch::Tensor> AllGather(const World& world,
                                        const torch::Tensor& local) {
  if (local.dim() == 0) {
    return absl::InvalidArgumentError("AllGather needs a tensor with a dim 0");
  }
  try {
    return AllGatherFunction::apply(local, world.group(),
                                    static_cast<int64_t>(world.rank()),
                                    static_cast<int64_t>(world.world_size()));
  } catch (const std::exception& error) {
    return StatusFromException(error, "all-gather");
  }
}

absl::StatusOr<std::vector<double>> AllReduceScalars(
    const World& world, absl::Span<const double> values, Reduction reduction) {
  if (values.empty()) return std::vector<double>();
  std::vector<torch::Tensor> tensors = {torch::tensor(
      std::vector<double>(values.begin(), values.end()), torch::kFloat64)};
  c10d::AllreduceOptions options;
  options.reduceOp = ToReduceOp(reduction);
  try {
    world.group()->allreduce(tensors, options)->wait();
  } catch (const std::exception& error) {
    return StatusFromException(error, "all-reducing metrics");
  }
  if (reduction == Reduction::kMean) tensors[0].div_(world.world_size());
  const double* data = tensors[0].data_ptr<double>();
  return std::vector<double>(data, data + values.size());
}

}  // namespace iv::trainer
