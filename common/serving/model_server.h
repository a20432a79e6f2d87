// The wiring every model-serving binary shares: its flags (the server's,
// --model-dir, --model-id, --threads, --device, --poll-seconds), the
// ModelRegistry they describe, and serving until a signal with readiness
// that follows the registry (NOT_SERVING until the first version loads).
//
// A binary adds its own flags beside these, builds its services over
// registry() after Init, and hands them to Run:
//   ModelServer server(spec);
//   server.AddFlags(app);  ...its own flags...  CLI11_PARSE(app, argc, argv);
//   if (absl::Status s = server.Init(); !s.ok()) { ...print...; return 2; }
//   Service service(&server.registry());
//   return server.Run({&service});
#ifndef COMMON_SERVING_MODEL_SERVER_H_
#define COMMON_SERVING_MODEL_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/serving/model_registry.h"
#include "common/serving/server.h"

namespace iv::serving {

struct ModelServerSpec {
  // The binary's name; it starts every line the server prints on stderr.
  std::string name;
  int default_port = 0;
  // What --model-dir (or each of its step-N/ versions) must be.
  std::string checkpoint = "a checkpoint folder";
  // Whether the binary offers --device; without it the model runs on CPU.
  bool device_flag = true;
  // ModelRegistryOptions::needs_multimodal.
  bool needs_multimodal = true;
  // Words added to the "serving <model> version <v>" line (may be empty),
  // e.g. a warning about what the version lacks.
  std::function<std::string(const ModelSnapshot&)> load_note;
};

class ModelServer {
 public:
  explicit ModelServer(ModelServerSpec spec);
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  // Adds the shared flags to `app`; they write into this object when parsed.
  void AddFlags(CLI::App& app);

  // After parsing: resolves --device ("auto" = cuda when this build and
  // machine have it), sets the model's threads and builds the registry.
  // INVALID_ARGUMENT naming the flag when --device is not usable here.
  absl::Status Init();

  // Valid after Init succeeded; services read the model through it.
  ModelRegistry& registry() { return *registry_; }

  // Serves `services` (they must outlive the call), loads the model and
  // reports SERVING once a version is in, until SIGTERM/SIGINT. The exit
  // code: 0 after a clean shutdown, 1 when the server could not start.
  int Run(const std::vector<grpc::Service*>& services);

 private:
  const ModelServerSpec spec_;
  ServerOptions server_options_;
  ModelRegistryOptions registry_options_;
  std::string device_ = "auto";
  int threads_;
  double poll_seconds_ = 2;

  // The running server, for the registry's load callback (a version may
  // load on the registry's thread before, while and after it runs).
  std::mutex server_mutex_;
  Server* server_ = nullptr;
  // Last: destroyed first, so its thread stops before the mutex goes.
  std::unique_ptr<ModelRegistry> registry_;
};

}  // namespace iv::serving

#endif  // COMMON_SERVING_MODEL_SERVER_H_
