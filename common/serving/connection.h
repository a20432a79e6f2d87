// The client side of the server base: a channel to a service with the same
// auth, TLS and message-size conventions, and call contexts that carry the
// API key and a deadline. Used by `iv`, by services calling each other and
// by tests.
#ifndef COMMON_SERVING_CONNECTION_H_
#define COMMON_SERVING_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iv::serving {

struct ConnectionOptions {
  // Sent as "authorization: Bearer <api_key>" when not empty.
  std::string api_key;
  // Use TLS; verify the server against tls_ca_path (PEM), or the system's
  // roots when that is empty.
  bool tls = false;
  std::string tls_ca_path;
  int max_message_bytes = 64 << 20;
};

class Connection {
 public:
  // Creates the channel; it connects lazily on the first call.
  static absl::StatusOr<Connection> Open(const std::string& address,
                                         const ConnectionOptions& options);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& address() const { return address_; }

  // A context for one call: API key attached, deadline `timeout` from now.
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;

 private:
  Connection(std::string address, std::string api_key,
             std::shared_ptr<grpc::Channel> channel)
      : address_(std::move(address)),
        api_key_(std::move(api_key)),
        channel_(std::move(channel)) {}

  std::string address_;
  std::string api_key_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace iv::serving

#endif  // COMMON_SERVING_CONNECTION_H_
