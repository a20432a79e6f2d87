// The project's status-code policy, written down once. Libraries return
// absl::Status; the gRPC layer of each service converts with ToGrpcStatus.
//
// clang-format off
//   INVALID_ARGUMENT     the request is malformed: the message names the field
//                        by its path and says what is wrong ("k: must be in
//                        [1, 1000], got 0", "texts[3]: empty").
//   NOT_FOUND            a named thing does not exist (collection, id, job,
//                        checkpoint, file under an allowed root).
//   ALREADY_EXISTS       create of a thing that exists.
//   FAILED_PRECONDITION  the request is fine but the state it acts on forbids
//                        it, and retrying will not help (cancelling a job that
//                        already finished).
//   OUT_OF_RANGE         a position past the end (a time after a video ends).
//   RESOURCE_EXHAUSTED   a queue, the in-flight limit or a size limit is full;
//                        retry later with backoff, or send less.
//   UNAUTHENTICATED      missing or wrong API key.
//   PERMISSION_DENIED    a path outside the server's allowed roots.
//   DEADLINE_EXCEEDED    the caller's deadline passed.
//   CANCELLED            the caller went away.
//   UNAVAILABLE          not ready yet (no model loaded), shutting down, or a
//                        dependency is down; retry with backoff, or on another
//                        replica.
//   UNIMPLEMENTED        the RPC or option is not supported by this build.
//   DATA_LOSS            stored data failed its checksum.
//   INTERNAL             a bug: never for anything the caller did.
// clang-format on
//
// A bad request never crashes a service nor changes its health.
#ifndef COMMON_SERVING_STATUS_H_
#define COMMON_SERVING_STATUS_H_

#include <grpcpp/support/status.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iv::serving {

// Same code, same message. absl and gRPC share the numeric codes.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// A unary handler's answer from a library's result: the value moved into
// `response` and OK, or the error converted.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

// INVALID_ARGUMENT with the field named first: "<field>: <problem>".
absl::Status InvalidField(absl::string_view field, absl::string_view problem);

}  // namespace iv::serving

#endif  // COMMON_SERVING_STATUS_H_
