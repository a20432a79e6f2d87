// Joining a data-parallel job: every process learns its rank and the world
// size (from torchrun's environment variables or explicit options), meets the
// others through a c10d::TCPStore that rank 0 serves, and gets a process group
// for collectives (Gloo on CPU; NCCL for CUDA tensors where LibTorch has it).
#ifndef TRAINER_DISTRIBUTED_RENDEZVOUS_H_
#define TRAINER_DISTRIBUTED_RENDEZVOUS_H_

#include <torch/version.h>

#include <cstdint>
#include <exception>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace iv::trainer {

// What runs collectives. LibTorch 2.x split process groups into a dispatching
// ProcessGroup and per-device Backends (ProcessGroupGloo is a Backend there);
// 1.13's ProcessGroupGloo is itself a ProcessGroup. Both spell allreduce,
// broadcast, allgather and barrier the same way, so callers see one type.
#if TORCH_VERSION_MAJOR >= 2
using CollectiveGroup = c10d::Backend;
#else
using CollectiveGroup = c10d::ProcessGroup;
#endif

enum class CommBackend {
  kGloo,  // CPU tensors; always available.
  kNccl,  // CUDA tensors; only in builds with USE_C10D_NCCL.
};

struct RendezvousOptions {
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  CommBackend backend = CommBackend::kGloo;
  // The network interface Gloo binds to. Empty: "lo" when master_addr is a
  // loopback address (all ranks on this host), else the address this host's
  // name resolves to (as torch.distributed does without GLOO_SOCKET_IFNAME).
  std::string gloo_interface;
  // How long to wait for the master and for every rank to arrive, and for
  // any one collective later.
  absl::Duration timeout = absl::Minutes(5);
};

// Options from torchrun's variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT (and GLOO_SOCKET_IFNAME). With none of them set this is a
// single process (world size 1); MASTER_ADDR and MASTER_PORT are required
// only when WORLD_SIZE > 1. InvalidArgument names the variable that is wrong.
absl::StatusOr<RendezvousOptions> RendezvousOptionsFromEnv();

// One process's place in a job, and the process group it shares with the
// others. Movable; collectives go through group().
class World {
 public:
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }
  const c10::intrusive_ptr<CollectiveGroup>& group() const { return group_; }
  const c10::intrusive_ptr<c10d::Store>& store() const { return store_; }

  // Returns when every rank has called it (or the timeout passed).
  absl::Status Barrier() const;

 private:
  friend absl::StatusOr<World> Rendezvous(const RendezvousOptions& options);
  World() = default;

  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<CollectiveGroup> group_;
};

// Meets the other ranks. Rank 0 serves the TCPStore at master_port; the others
// connect to it. A world of size 1 needs no network: it gets an in-memory
// store and a one-rank Gloo group, so the same code runs with and without
// peers. Errors: InvalidArgument for inconsistent options (rank outside
// [0, world_size), bad port), Unimplemented for NCCL without NCCL,
// DeadlineExceeded/Unavailable when the master or a peer is not reached in
// time (the message says which address and port).
absl::StatusOr<World> Rendezvous(const RendezvousOptions& options);

// The status for an exception thrown by c10d (c10::Error carries a C++
// backtrace in what(); this keeps only its message).
// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's
// pick), for a local job's MASTER_PORT; -1 if no socket could be bound.
int FreeLoopbackPort();

absl::Status StatusFromException(const std::exception& error,
                                 absl::string_view context);

}  // namespace iv::trainer

#endif  // TRAINER_DISTRIBUTED_RENDEZVOUS_H_
