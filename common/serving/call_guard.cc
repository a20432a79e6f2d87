#include "common/serving/call_guard.h"

#include <grpc/byte_buffer.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/support/method_handler.h>

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace iv::serving {
namespace {

using grpc::internal::MethodHandler;
using grpc::internal::RpcMethod;
using grpc::internal::RpcServiceMethod;

// grpc::Service keeps its methods in a private member with no accessor. An
// explicit template instantiation may name a private member (access checks do
// not apply there, [temp.explicit]), which lets the guard swap handlers
// without copying or patching gRPC.
using MethodList = std::vector<std::unique_ptr<RpcServiceMethod>>;
MethodList grpc::Service::*ServiceMethodsMember();

template <MethodList grpc::Service::*kMember>
struct ServiceMethodsAccess {
  friend MethodList grpc::Service::*ServiceMethodsMember() { return kMember; }
};
template struct ServiceMethodsAccess<&grpc::Service::methods_>;

}  // namespace

// The methods of `service`, in the order its generated code declared them.
std::vector<std::unique_ptr<RpcServiceMethod>>& ServiceMethods(
    grpc::Service* service) {
  return service->*ServiceMethodsMember();
}

namespace {

template <grpc::StatusCode kCode>
void Refuse(const MethodHandler::HandlerParameter& param,
            const std::string& message) {
  grpc::internal::ErrorMethodHandler<kCode>(message).RunHandler(param);
}

class GuardedHandler final : public MethodHandler {
 public:
  GuardedHandler(CallGuard* guard, std::unique_ptr<RpcServiceMethod> original)
      : guard_(guard),
        original_(std::move(original)),
        inner_(original_->handler()),
        // gRPC deserializes a request up front only for these two kinds.
        has_request_(original_->method_type() == RpcMethod::NORMAL_RPC ||
                     original_->method_type() == RpcMethod::SERVER_STREAMING) {}

  // Keeps the raw payload; the inner handler parses it once admitted.
  void* Deserialize(grpc_call* /*call*/, grpc_byte_buffer* request,
                    grpc::Status* /*status*/, void** /*data*/) override {
    return request;
  }

  void RunHandler(const HandlerParameter& param) override {
    auto* payload = static_cast<grpc_byte_buffer*>(param.request);
    grpc::Status verdict = guard_->Admit(*param.server_context);
    if (!verdict.ok()) {
      if (payload != nullptr) grpc_byte_buffer_destroy(payload);
      RefuseWith(param, verdict);
      return;
    }
    void* request = nullptr;
    grpc::Status status = param.status;
    void* data = nullptr;
    if (has_request_) {
      request =
          inner_->Deserialize(param.call->call(), payload, &status, &data);
    }
    inner_->RunHandler(HandlerParameter(param.call, param.server_context,
                                        request, status, data,
                                        param.call_requester));
    guard_->Release();
  }

 private:
  static void RefuseWith(const HandlerParameter& param,
                         const grpc::Status& verdict) {
    const std::string& message = verdict.error_message();
    switch (verdict.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED:
        return Refuse<grpc::StatusCode::UNAUTHENTICATED>(param, message);
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return Refuse<grpc::StatusCode::RESOURCE_EXHAUSTED>(param, message);
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return Refuse<grpc::StatusCode::DEADLINE_EXCEEDED>(param, message);
      default:
        return Refuse<grpc::StatusCode::INTERNAL>(param, message);
    }
  }

  CallGuard* const guard_;
  // The generated method, kept whole: it owns the handler that does the work.
  const std::unique_ptr<RpcServiceMethod> original_;
  MethodHandler* const inner_;
  const bool has_request_;
};

// Compares in time that depends only on the expected key's length, so a
// caller cannot learn the key byte by byte from response times.
bool ConstantTimeEquals(absl::string_view expected, absl::string_view given) {
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? given[i] : 0;
    diff |= static_cast<unsigned char>(expected[i]) ^ g;
  }
  return diff == 0;
}

}  // namespace

CallGuard::CallGuard(Options options) : options_(std::move(options)) {}

absl::Status CallGuard::Protect(grpc::Service* service) {
  for (auto& slot : ServiceMethods(service)) {
    if (slot == nullptr) continue;
    if (slot->api_type() != RpcServiceMethod::ApiType::SYNC ||
        slot->handler() == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          slot->name(), ": only synchronous methods can be guarded"));
    }
    // Swap in a method of the same name and kind whose handler admits the
    // call and then runs the original one.
    const char* name = slot->name();
    RpcMethod::RpcType type = slot->method_type();
    auto* guarded = new GuardedHandler(this, std::move(slot));
    slot = std::make_unique<RpcServiceMethod>(name, type, guarded);
  }
  return absl::OkStatus();
}

void CallGuard::OnInFlightChange(std::function<void(int)> listener) {
  in_flight_listener_ = std::move(listener);
}

bool CallGuard::KeyMatches(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return false;
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (value.substr(0, kBearer.size()) != kBearer) return false;
  return ConstantTimeEquals(options_.api_key, value.substr(kBearer.size()));
}

grpc::Status CallGuard::Admit(const grpc::ServerContextBase& context) {
  if (!options_.api_key.empty() && !KeyMatches(context)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong API key: send metadata "
                        "'authorization: Bearer <key>'");
  }
  if (context.deadline() < std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "deadline passed before the call started");
  }
  int now_in_flight = in_flight_.fetch_add(1) + 1;
  if (now_in_flight > options_.max_in_flight) {
    in_flight_.fetch_sub(1);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("server is at its limit of ", options_.max_in_flight,
                     " concurrent calls; retry with backoff"));
  }
  if (in_flight_listener_) in_flight_listener_(now_in_flight);
  return grpc::Status::OK;
}

void CallGuard::Release() {
  int now_in_flight = in_flight_.fetch_sub(1) - 1;
  if (in_flight_listener_) in_flight_listener_(now_in_flight);
}

}  // namespace iv::serving
