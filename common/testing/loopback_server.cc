#include "common/testing/loopback_server.h"

#include "absl/strings/str_cat.h"
#include "common/serving/connection.h"
#include "gtest/gtest.h"

namespace iv::test {

std::unique_ptr<serving::ModelRegistry> NewTestRegistry(
    const std::string& model_dir, const TestRegistryOptions& options) {
  serving::ModelRegistryOptions registry_options;
  registry_options.model_dir = model_dir;
  registry_options.model_id = options.model_id;
  registry_options.poll_interval = options.poll_interval;
  auto registry =
      std::make_unique<serving::ModelRegistry>(registry_options, nullptr);
  if (options.load) {
    const absl::Status loaded = registry->Poll();
    EXPECT_TRUE(loaded.ok()) << loaded;
  }
  return registry;
}

LoopbackServer::LoopbackServer(const std::vector<grpc::Service*>& services) {
  absl::StatusOr<std::unique_ptr<serving::Server>> server =
      serving::Server::Start({}, services);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return;
  server_ = *std::move(server);
  absl::StatusOr<serving::Connection> connection = serving::Connection::Open(
      absl::StrCat("127.0.0.1:", server_->port()), {});
  EXPECT_TRUE(connection.ok()) << connection.status();
  if (connection.ok()) channel_ = connection->channel();
}

}  // namespace iv::test
