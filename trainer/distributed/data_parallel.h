// Data-parallel training over a c10d process group: LibTorch's C++ API has
// process groups but no DistributedDataParallel, so this is its counterpart.
//
// Each rank runs the same model on its own slice of the global batch. At
// construction rank 0's parameters and buffers are broadcast so every replica
// starts equal. During backward, a post-hook on each parameter's gradient
// accumulator copies the freshly accumulated .grad into a flat bucket; when a
// bucket is complete it is all-reduced asynchronously (Gloo's threads do the
// work), overlapping communication with the rest of backward, as PyTorch's
// DDP does. FinishGradientSync() waits for the buckets, averages and writes
// the result back to .grad, so every replica takes the same optimizer step.
//
//   DataParallel::Create(model, world)  // once, after the model is built
//   loss.backward();
//   ddp->FinishGradientSync();          // before optimizer.step()
#ifndef TRAINER_DISTRIBUTED_DATA_PARALLEL_H_
#define TRAINER_DISTRIBUTED_DATA_PARALLEL_H_

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/distributed/rendezvous.h"

namespace iv::trainer {

struct DataParallelOptions {
  // A bucket is all-reduced as one message once all of its gradients are in:
  // larger buckets mean fewer, more efficient collectives, smaller ones start
  // communicating earlier in backward. 25 MB is PyTorch DDP's default.
  int64_t bucket_cap_bytes = 25 * 1024 * 1024;
  // Also broadcast rank 0's buffers (batch-norm statistics) at construction.
  bool broadcast_buffers = true;
  // Parameters that got no gradient in a step are always handled (their
  // bucket gets zeros, so no rank waits forever). With this set, one extra
  // small all-reduce per step finds the parameters that no rank used, and
  // their .grad is left untouched instead of being set to zeros, so an
  // optimizer skips them as it would in a single process.
  bool find_unused_parameters = false;
};

// What the last synchronized step did; for logs and tests.
struct GradientSyncStats {
  int buckets = 0;
  // Buckets whose all-reduce started inside backward while some parameter
  // gradient was still to come: the overlap of communication and compute.
  int launched_during_backward = 0;
  // Parameters that had no gradient on this rank (zero-filled).
  int locally_unused_parameters = 0;
  // With find_unused_parameters: parameters no rank used (left untouched).
  int globally_unused_parameters = 0;
};

class DataParallel {
 public:
  // Wraps the trainable parameters of `module` (those with requires_grad).
  // The module must outlive this object, and be the same architecture on
  // every rank: FailedPrecondition otherwise. Broadcasts rank 0's state.
  static absl::StatusOr<std::unique_ptr<DataParallel>> Create(
      torch::nn::Module& module, const World& world,
      DataParallelOptions options = {});

  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;
  ~DataParallel();

  // While a NoSync guard lives, backward only accumulates into .grad locally
  // (gradient accumulation over micro-batches); the backward after it
  // synchronizes the accumulated sum.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DataParallel& owner);
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;
    ~NoSyncGuard();

   private:
    DataParallel& owner_;
    bool previous_;
  };
  NoSyncGuard NoSync() { return NoSyncGuard(*this); }

  // Optional, before loss.backward() in a synchronized step: walks the
  // autograd graph of `loss` and marks the parameters it cannot reach as
  // ready now, as DDP's find_unused_parameters does after forward. Without
  // it they are found only in FinishGradientSync, and every bucket behind
  // theirs waits until then instead of overlapping with backward.
  void PrepareForBackward(const torch::Tensor& loss);

  // Waits for every bucket of the last backward (launching those still
  // waiting on parameters that got no gradient), averages over the world and
  // writes the result into each parameter's .grad. Call once after each
  // synchronized backward, before the optimizer step, on every rank.
  // FailedPrecondition when backward ran twice without it; the collective's
  // error when a peer failed.
  absl::Status FinishGradientSync();

  GradientSyncStats last_sync_stats() const;
  int num_buckets() const;
  int64_t num_parameters() const;

  struct State;  // Shared with the autograd hooks, which may outlive us.

 private:
  explicit DataParallel(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace iv::trainer

#endif  // TRAINER_DISTRIBUTED_DATA_PARALLEL_H_
