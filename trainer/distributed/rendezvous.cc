#include "trainer/distributed/rendezvous.h"

#include <arpa/inet.h>
#include <c10/util/Exception.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace iv::trainer {
namespace {

std::optional<std::string> GetEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// Reads an integer variable into `out` if it is set.
absl::Status ReadIntEnv(const char* name, int& out) {
  std::optional<std::string> value = GetEnv(name);
  if (!value.has_value()) return absl::OkStatus();
  if (!absl::SimpleAtoi(*value, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "='", *value, "' is not an integer"));
  }
  return absl::OkStatus();
}

std::chrono::milliseconds ToMillis(absl::Duration duration) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(duration));
}

bool IsLoopback(absl::string_view address) {
  return address == "localhost" || address == "::1" ||
         absl::StartsWith(address, "127.");
}

absl::Status Validate(const RendezvousOptions& options) {
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("WORLD_SIZE=", options.world_size, " must be at least 1"));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RANK=", options.rank, " is out of range for WORLD_SIZE=",
        options.world_size, " (ranks are 0..", options.world_size - 1, ")"));
  }
  if (options.local_rank < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LOCAL_RANK=", options.local_rank, " is negative"));
  }
  if (options.world_size > 1) {
    if (options.master_addr.empty()) {
      return absl::InvalidArgumentError(
          "MASTER_ADDR is empty: ranks need the address of rank 0");
    }
    if (options.master_port < 1 || options.master_port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("MASTER_PORT=", options.master_port,
                       " is not a TCP port (1..65535)"));
    }
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "the rendezvous timeout must be positive");
  }
  return absl::OkStatus();
}

c10::intrusive_ptr<CollectiveGroup> MakeGlooGroup(
    const c10::intrusive_ptr<c10d::Store>& store,
    const RendezvousOptions& options) {
  auto gloo_options =
      c10d::ProcessGroupGloo::Options::create(ToMillis(options.timeout));
  std::string interface = options.gloo_interface;
  if (interface.empty() &&
      (options.world_size == 1 || IsLoopback(options.master_addr))) {
    interface = "lo";
  }
  gloo_options->devices.push_back(
      interface.empty()
          ? c10d::ProcessGroupGloo::createDefaultDevice()
          : c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(
      store, options.rank, options.world_size, gloo_options);
}

}  // namespace

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

absl::Status StatusFromException(const std::exception& error,
                                 absl::string_view context) {
  std::string message;
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) {
    message = c10_error->what_without_backtrace();
  } else {
    message = error.what();
  }
  // c10d reports timeouts in words, not by type, in LibTorch 1.13.
  const bool timed_out = message.find("imeout") != std::string::npos ||
                         message.find("imed out") != std::string::npos;
  std::string text = absl::StrCat(context, ": ", message);
  return timed_out ? absl::DeadlineExceededError(text)
                   : absl::UnavailableError(text);
}

absl::StatusOr<RendezvousOptions> RendezvousOptionsFromEnv() {
  RendezvousOptions options;
  if (absl::Status status = ReadIntEnv("RANK", options.rank); !status.ok()) {
    return status;
  }
  if (absl::Status status = ReadIntEnv("WORLD_SIZE", options.world_size);
      !status.ok()) {
    return status;
  }
  options.local_rank = options.rank;  // One host unless told otherwise.
  if (absl::Status status = ReadIntEnv("LOCAL_RANK", options.local_rank);
      !status.ok()) {
    return status;
  }
  std::optional<std::string> addr = GetEnv("MASTER_ADDR");
  std::optional<std::string> port = GetEnv("MASTER_PORT");
  if (options.world_size > 1 && !addr.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("WORLD_SIZE=", options.world_size,
                     " but MASTER_ADDR is not set (torchrun sets it)"));
  }
  if (options.world_size > 1 && !port.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("WORLD_SIZE=", options.world_size,
                     " but MASTER_PORT is not set (torchrun sets it)"));
  }
  if (addr.has_value()) options.master_addr = *addr;
  if (absl::Status status = ReadIntEnv("MASTER_PORT", options.master_port);
      !status.ok()) {
    return status;
  }
  options.gloo_interface = GetEnv("GLOO_SOCKET_IFNAME").value_or("");
  if (absl::Status status = Validate(options); !status.ok()) return status;
  return options;
}

absl::Status World::Barrier() const {
  try {
    group_->barrier()->wait();
  } catch (const std::exception& error) {
    return StatusFromException(error, "barrier");
  }
  return absl::OkStatus();
}

absl::StatusOr<World> Rendezvous(const RendezvousOptions& options) {
  if (absl::Status status = Validate(options); !status.ok()) return status;
#ifndef USE_C10D_NCCL
  if (options.backend == CommBackend::kNccl) {
    return absl::UnimplementedError(
        "the NCCL backend needs a CUDA LibTorch built with NCCL "
        "(USE_C10D_NCCL); this build has only Gloo");
  }
#endif
  World world;
  world.rank_ = options.rank;
  world.world_size_ = options.world_size;
  world.local_rank_ = options.local_rank;
  const std::string master =
      absl::StrCat(options.master_addr, ":", options.master_port);
  try {
    if (options.world_size == 1) {
      world.store_ = c10::make_intrusive<c10d::HashStore>();
    } else {
      c10d::TCPStoreOptions store_options;
      store_options.port = static_cast<std::uint16_t>(options.master_port);
      store_options.isServer = options.rank == 0;
      store_options.numWorkers = options.world_size;
      store_options.waitWorkers = true;
      store_options.timeout = ToMillis(options.timeout);
      world.store_ = c10::make_intrusive<c10d::TCPStore>(options.master_addr,
                                                         store_options);
    }
  } catch (const std::exception& error) {
    return StatusFromException(
        error, absl::StrCat("rank ", options.rank, " could not ",
                            options.rank == 0 ? "serve" : "reach",
                            " the rendezvous store at ", master, " within ",
                            absl::FormatDuration(options.timeout)));
  }
  world.store_->setTimeout(ToMillis(options.timeout));
  try {
#ifdef USE_C10D_NCCL
    if (options.backend == CommBackend::kNccl) {
      world.group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          world.store_, options.rank, options.world_size,
          c10d::ProcessGroupNCCL::Options::create());
      return world;
    }
#endif
    world.group_ = MakeGlooGroup(world.store_, options);
  } catch (const std::exception& error) {
    return StatusFromException(
        error,
        absl::StrCat("rank ", options.rank,
                     " could not connect to its peers (master ", master, ")"));
  }
  return world;
}

}  // namespace iv::trainer
