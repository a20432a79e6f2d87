// Command-line flags of the server base, shared by every service binary so
// they all read the same way: --address, --api-key (or IV_API_KEY), --tls-cert,
// --tls-key, --max-message-mb, --max-in-flight, --metrics-address,
// --drain-seconds.
#ifndef COMMON_SERVING_SERVER_FLAGS_H_
#define COMMON_SERVING_SERVER_FLAGS_H_

#include <CLI/CLI.hpp>

#include "common/serving/server.h"

namespace iv::serving {

// Adds the flags to `app`, writing into `options` when parsed. The defaults
// serve on 0.0.0.0:default_port and metrics on 0.0.0.0:default_port+1000.
void AddServerFlags(CLI::App& app, ServerOptions& options, int default_port);

}  // namespace iv::serving

#endif  // COMMON_SERVING_SERVER_FLAGS_H_
