#include "common/serving/metrics.h"

#include <chrono>
#include <utility>

#include "absl/status/status.h"

namespace iv::serving {
namespace {

// Latency buckets from 1 ms to 2 minutes: embedding a long video or a
// training RPC sits at the top, health checks at the bottom.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
      0.5,   1,      2.5,   5,    10,    30,   60,  120};
  return *buckets;
}

// Splits "/pkg.Service/Method" into its two labels.
prometheus::Labels MethodLabels(absl::string_view full_method) {
  absl::string_view name = full_method;
  if (!name.empty() && name[0] == '/') name.remove_prefix(1);
  size_t slash = name.find('/');
  if (slash == absl::string_view::npos) {
    return {{"grpc_service", "unknown"}, {"grpc_method", std::string(name)}};
  }
  return {{"grpc_service", std::string(name.substr(0, slash))},
          {"grpc_method", std::string(name.substr(slash + 1))}};
}

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, std::string method)
      : metrics_(metrics),
        method_(std::move(method)),
        start_(std::chrono::steady_clock::now()) {
    metrics_->Started(method_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* batch) override {
    if (batch->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      std::chrono::duration<double> elapsed =
          std::chrono::steady_clock::now() - start_;
      metrics_->Handled(method_, batch->GetSendStatus().error_code(),
                        elapsed.count());
    }
    batch->Proceed();
  }

 private:
  RpcMetrics* const metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info->method());
  }

 private:
  RpcMetrics* const metrics_;
};

}  // namespace

RpcMetrics::RpcMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("RPCs started on the server.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("RPCs completed on the server, by status code.")
                   .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Time from receiving an RPC to sending its "
                                  "status, in seconds.")
                            .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("grpc_server_in_flight")
                     .Help("RPCs admitted and not yet finished.")
                     .Register(registry)
                     .Add({})) {}

void RpcMetrics::Started(absl::string_view full_method) {
  started_.Add(MethodLabels(full_method)).Increment();
}

void RpcMetrics::Handled(absl::string_view full_method, grpc::StatusCode code,
                         double seconds) {
  prometheus::Labels labels = MethodLabels(full_method);
  handling_seconds_.Add(labels, LatencyBuckets()).Observe(seconds);
  labels["grpc_code"] =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  handled_.Add(labels).Increment();
}

void RpcMetrics::SetInFlight(int calls) { in_flight_.Set(calls); }

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::InterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace iv::serving
