// The command-line flags of servers and clients, so every service binary and
// every `iv` command that calls a service reads the same way.
//   servers: --address, --api-key (or IV_API_KEY), --tls-cert, --tls-key,
//            --max-message-mb, --max-in-flight, --metrics-address,
//            --drain-seconds
//   clients: --api-key (or IV_API_KEY), --tls, --tls-ca
#ifndef COMMON_SERVING_FLAGS_H_
#define COMMON_SERVING_FLAGS_H_

#include <CLI/CLI.hpp>

#include "common/serving/connection.h"
#include "common/serving/server.h"

namespace iv::serving {

// Adds the flags to `app`, writing into `options` when parsed. The defaults
// serve on 127.0.0.1:default_port and metrics on 127.0.0.1:default_port+1000:
// loopback only, until the operator names another address.
void AddServerFlags(CLI::App& app, ServerOptions& options, int default_port);

// Adds the client flags to `app`, writing into `options` when parsed.
void AddConnectionFlags(CLI::App& app, ConnectionOptions& options);

}  // namespace iv::serving

#endif  // COMMON_SERVING_FLAGS_H_
