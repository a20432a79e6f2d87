// In-process service tests: the model registry a service library reads, and
// the services under test on a gRPC server on loopback, reached through a
// real channel (the process-level tests use server_process.h instead).
#ifndef COMMON_TESTING_LOOPBACK_SERVER_H_
#define COMMON_TESTING_LOOPBACK_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/serving/model_registry.h"
#include "common/serving/server.h"
#include "grpcpp/grpcpp.h"

namespace iv::test {

struct TestRegistryOptions {
  std::string model_id;  // empty: the registry's default
  // Poll once now, expecting the model to load (a test of a service without
  // a model, or of the polling itself, says false).
  bool load = true;
  absl::Duration poll_interval = absl::Seconds(60);
};

// A registry over `model_dir`, without its polling thread.
std::unique_ptr<serving::ModelRegistry> NewTestRegistry(
    const std::string& model_dir, const TestRegistryOptions& options = {});

// `services` (not owned) served with the server base's defaults on a port
// of its choosing. Declare it after the services, so that it shuts down
// first.
class LoopbackServer {
 public:
  explicit LoopbackServer(const std::vector<grpc::Service*>& services);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  std::unique_ptr<serving::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace iv::test

#endif  // COMMON_TESTING_LOOPBACK_SERVER_H_
