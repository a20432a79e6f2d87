#include "common/serving/call_guard.h"

#include <grpc/byte_buffer.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
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

// grpc::Service keeps its methods, RpcServiceMethod its handler and
// ServerInitializer the services that builder plugins registered in private
// members with no accessor. An explicit template instantiation may name a
// private member (access checks do not apply there, [temp.explicit]); the
// friend function it defines hands the member pointer out. This lets the
// guard swap handlers without copying or patching gRPC.
template <typename Tag, typename Tag::Type kMember>
struct PrivateMember {
  friend typename Tag::Type Get(Tag) { return kMember; }
};

struct MethodsOf {
  using Type = std::vector<std::unique_ptr<RpcServiceMethod>> grpc::Service::*;
  friend Type Get(MethodsOf);
};
template struct PrivateMember<MethodsOf, &grpc::Service::methods_>;

struct HandlerOf {
  using Type = std::unique_ptr<MethodHandler> RpcServiceMethod::*;
  friend Type Get(HandlerOf);
};
template struct PrivateMember<HandlerOf, &RpcServiceMethod::handler_>;

struct PluginServicesOf {
  using Type =
      std::vector<std::shared_ptr<grpc::Service>> grpc::ServerInitializer::*;
  friend Type Get(PluginServicesOf);
};
template struct PrivateMember<PluginServicesOf,
                              &grpc::ServerInitializer::default_services_>;

}  // namespace

// The methods of `service`, in the order its generated code declared them.
std::vector<std::unique_ptr<RpcServiceMethod>>& ServiceMethods(
    grpc::Service* service) {
  return service->*Get(MethodsOf{});
}

namespace {

template <grpc::StatusCode kCode>
void Refuse(const MethodHandler::HandlerParameter& param,
            const std::string& message) {
  grpc::internal::ErrorMethodHandler<kCode>(message).RunHandler(param);
}

class GuardedHandler final : public MethodHandler {
 public:
  GuardedHandler(CallGuard* guard, RpcMethod::RpcType type,
                 std::unique_ptr<MethodHandler> inner)
      : guard_(guard),
        inner_(std::move(inner)),
        // gRPC deserializes a request up front only for these two kinds.
        has_request_(type == RpcMethod::NORMAL_RPC ||
                     type == RpcMethod::SERVER_STREAMING) {}

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
  // The generated handler, which does the work once a call is admitted.
  const std::unique_ptr<MethodHandler> inner_;
  const bool has_request_;
};

// The last builder plugin: it runs after the others (reflection) registered
// their services and before the server starts, and guards those services.
class GuardPluginServices final : public grpc::ServerBuilderPlugin {
 public:
  GuardPluginServices(CallGuard* guard, absl::Status* status)
      : guard_(guard), status_(status) {}

  std::string name() override { return "iv_call_guard"; }
  void InitServer(grpc::ServerInitializer* initializer) override {
    for (const auto& service : initializer->*Get(PluginServicesOf{})) {
      absl::Status guarded = guard_->Protect(service.get());
      if (!guarded.ok() && status_->ok()) *status_ = guarded;
    }
  }
  void Finish(grpc::ServerInitializer* /*initializer*/) override {}
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}

 private:
  CallGuard* const guard_;
  absl::Status* const status_;
};

class GuardPluginServicesOption final : public grpc::ServerBuilderOption {
 public:
  GuardPluginServicesOption(CallGuard* guard, absl::Status* status)
      : guard_(guard), status_(status) {}

  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(std::make_unique<GuardPluginServices>(guard_, status_));
  }

 private:
  CallGuard* const guard_;
  absl::Status* const status_;
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
  for (auto& method : ServiceMethods(service)) {
    if (method == nullptr) continue;
    if (method->api_type() != RpcServiceMethod::ApiType::SYNC ||
        method->handler() == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          method->name(), ": only synchronous methods can be guarded"));
    }
    // The method object stays (a server that registered the service points
    // at it); its handler becomes one that admits the call, then runs the
    // original.
    std::unique_ptr<MethodHandler> original =
        std::move((*method).*Get(HandlerOf{}));
    method->SetHandler(
        new GuardedHandler(this, method->method_type(), std::move(original)));
  }
  return absl::OkStatus();
}

std::unique_ptr<grpc::ServerBuilderOption> CallGuard::ProtectPluginServices(
    absl::Status* status) {
  return std::make_unique<GuardPluginServicesOption>(this, status);
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
