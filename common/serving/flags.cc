#include "common/serving/flags.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace iv::serving {

void AddServerFlags(CLI::App& app, ServerOptions& options, int default_port) {
  // Loopback unless the operator opens the port on purpose: a service with no
  // --api-key is then never reachable from the network by accident.
  options.address = absl::StrCat("127.0.0.1:", default_port);
  options.metrics_address = absl::StrCat("127.0.0.1:", default_port + 1000);
  app.add_option("--address", options.address,
                 "host:port to serve gRPC on (0.0.0.0:PORT: every interface)")
      ->capture_default_str();
  app.add_option("--api-key", options.api_key,
                 "require 'authorization: Bearer KEY' on every call except "
                 "health (empty: no auth)")
      ->envname("IV_API_KEY");
  app.add_option("--tls-cert", options.tls_cert_path,
                 "PEM certificate chain; with --tls-key serves TLS")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", options.tls_key_path, "PEM private key")
      ->check(CLI::ExistingFile);
  app.add_option_function<int>(
         "--max-message-mb",
         [&options](const int& mib) { options.max_message_bytes = mib << 20; },
         "largest request or response, in MiB")
      ->default_str(std::to_string(options.max_message_bytes >> 20))
      ->check(CLI::Range(1, 2047));
  app.add_option("--max-in-flight", options.max_in_flight,
                 "calls served at once; more get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--metrics-address", options.metrics_address,
                 "host:port of the Prometheus /metrics endpoint, which has no "
                 "auth (empty: off)")
      ->capture_default_str();
  app.add_option_function<double>(
         "--drain-seconds",
         [&options](const double& seconds) {
           options.drain_timeout = absl::Seconds(seconds);
         },
         "on SIGTERM, how long calls in flight may finish")
      ->default_str(absl::StrCat(absl::ToDoubleSeconds(options.drain_timeout)))
      ->check(CLI::NonNegativeNumber);
}

void AddConnectionFlags(CLI::App& app, ConnectionOptions& options) {
  app.add_option("--api-key", options.api_key,
                 "API key the service requires, if any")
      ->envname("IV_API_KEY");
  app.add_flag("--tls", options.tls, "connect with TLS");
  app.add_option("--tls-ca", options.tls_ca_path,
                 "PEM file of the CA that signed the server's certificate "
                 "(implies --tls; default: the system's roots)")
      ->check(CLI::ExistingFile)
      ->each([&options](const std::string&) { options.tls = true; });
}

}  // namespace iv::serving
