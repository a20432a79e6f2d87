// Collectives that training code calls directly, beside DataParallel's
// gradient all-reduce: a differentiable all-gather (contrastive losses use
// every rank's embeddings as negatives) and all-reduce of metrics.
#ifndef TRAINER_DISTRIBUTED_COLLECTIVES_H_
#define TRAINER_DISTRIBUTED_COLLECTIVES_H_

#include <torch/types.h>

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "trainer/distributed/rendezvous.h"

namespace iv::trainer {

// Concatenates every rank's `local` along dim 0, in rank order; `local` must
// have the same shape on every rank. Differentiable: each rank usually
// computes its loss on the gathered tensor, so the gradient of `local` is the
// sum over ranks of the gradient at its slice, which backward all-reduces
// (summing) and slices, as torch.distributed.nn.all_gather does. Every rank
// must run backward through it (the backward is itself a collective).
// Backward failures are thrown by autograd, as LibTorch's own errors are.
absl::StatusOr<torch::Tensor> AllGather(const World& world,
                                        const torch::Tensor& local);

enum class Reduction { kSum, kMean, kMin, kMax };

// Reduces each value over all ranks (e.g. losses and counts for metrics).
// Every rank gets the result. Values travel as doubles.
absl::StatusOr<std::vector<double>> AllReduceScalars(
    const World& world, absl::Span<const double> values,
    Reduction reduction = Reduction::kSum);

}  // namespace iv::trainer

#endif  // TRAINER_DISTRIBUTED_COLLECTIVES_H_
