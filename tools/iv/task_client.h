// What the task commands (`iv recognize`, `iv localize`, `iv ask`,
// `iv caption`) share: where the answer comes from (a running service, or
// with --local the service's own library in this process, so both answer
// alike), how a video file is sent, and how answers and errors are printed.
#ifndef TOOLS_IV_TASK_CLIENT_H_
#define TOOLS_IV_TASK_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/serving/connection.h"
#include "common/serving/model_registry.h"
#include "common/serving/status.h"
#include "google/protobuf/message.h"
#include "protos/common.pb.h"
#include "protos/task_service.pb.h"

namespace iv::cli {

struct TaskTarget {
  std::string server;     // host:port of the service
  bool local = false;     // answer in this process instead
  std::string model_dir;  // --local's checkpoint folder
  double timeout_s = 300;
  bool json = false;  // print the response as one line of JSON
  serving::ConnectionOptions connection;
};

// Adds --server (default `default_server`), --local, --model, --timeout,
// --json and the client flags (--api-key, --tls, --tls-ca) to `command`,
// and says in its description where answers come from and how VIDEO is
// sent to `server_binary` (the service's program, for --allowed-roots).
void AddTaskTargetFlags(CLI::App& command, TaskTarget& target,
                        const std::string& default_server,
                        const std::string& server_binary);

// Runs `run` when `command` is parsed; a nonzero result is the exit code.
void OnRun(CLI::App& command, std::function<int()> run);

// Videos up to this size are sent inline; larger ones by absolute path,
// which the service must be allowed to read (--allowed-roots).
inline constexpr int64_t kMaxInlineVideoBytes = int64_t{32} << 20;

// The VideoSource for the local file `path`: its bytes inline up to
// kMaxInlineVideoBytes, else its absolute path. NOT_FOUND naming `path`
// when it is not a readable file.
absl::StatusOr<internvideo::v1::VideoSource> VideoSourceFor(
    const std::string& path);

// What --local lets the libraries read: every path (the inline/path choice
// above is the same in both modes).
std::vector<std::string> LocalVideoRoots();

// `text` split at commas, each item stripped of spaces, empty ones
// dropped: "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(absl::string_view text);

// The model folder loaded as the services load it (a checkpoint folder or
// a folder of step-N/ versions, the newest served).
absl::StatusOr<std::unique_ptr<serving::ModelRegistry>> LoadLocalModel(
    const std::string& model_dir);

// The response, from the library (`local`, given the loaded model) with
// --local, else from the service (`remote`, given a channel and a context
// with the API key and deadline).
template <typename Response>
absl::StatusOr<Response> Answer(
    const TaskTarget& target,
    absl::FunctionRef<absl::StatusOr<Response>(const serving::ModelRegistry&)>
        local,
    absl::FunctionRef<grpc::Status(const std::shared_ptr<grpc::Channel>&,
                                   grpc::ClientContext*, Response*)>
        remote) {
  if (target.local) {
    absl::StatusOr<std::unique_ptr<serving::ModelRegistry>> model =
        LoadLocalModel(target.model_dir);
    if (!model.ok()) return model.status();
    return local(**model);
  }
  absl::StatusOr<serving::Connection> connection =
      serving::Connection::Open(target.server, target.connection);
  if (!connection.ok()) return connection.status();
  Response response;
  grpc::Status status = remote(
      connection->channel(),
      connection->NewContext(absl::Seconds(target.timeout_s)).get(), &response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat(
        target.server, ": ", status.error_message(),
        " (is the service running there? or answer in this process with "
        "--local)"));
  }
  if (!status.ok()) return serving::FromGrpcStatus(status);
  return response;
}

// `message` as one line of JSON with the proto's field names.
void PrintJson(const google::protobuf::Message& message);

// A table of ranked labels: "#", "score" and `label_header` columns.
void PrintLabelScores(
    absl::string_view label_header,
    const google::protobuf::RepeatedPtrField<internvideo::v1::LabelScore>&
        scores);

// "(model ID VERSION)" under a table; VERSION only when it is not the id,
// as a single checkpoint folder's version is its name.
void PrintModel(const internvideo::v1::ModelRef& model);

// Prints "iv COMMAND: CODE: message" on one line of stderr; returns the
// exit code: 2 for INVALID_ARGUMENT (a usage or request error), else 1.
int PrintError(absl::string_view command, const absl::Status& status);

}  // namespace iv::cli

#endif  // TOOLS_IV_TASK_CLIENT_H_
