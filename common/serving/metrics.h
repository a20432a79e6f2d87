// Prometheus metrics for every RPC a Server hosts, in the names that
// go-grpc-prometheus made common, so existing dashboards work:
//   grpc_server_started_total{grpc_service, grpc_method}
//   grpc_server_handled_total{grpc_service, grpc_method, grpc_code}
//   grpc_server_handling_seconds{grpc_service, grpc_method}  (histogram)
//   grpc_server_in_flight                                    (gauge)
// Services add their own metrics to the same registry.
#ifndef COMMON_SERVING_METRICS_H_
#define COMMON_SERVING_METRICS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace iv::serving {

class RpcMetrics {
 public:
  explicit RpcMetrics(prometheus::Registry& registry);

  // "/pkg.Service/Method" as gRPC names it.
  void Started(absl::string_view full_method);
  void Handled(absl::string_view full_method, grpc::StatusCode code,
               double seconds);
  void SetInFlight(int calls);

  // Creates the per-call interceptor that reports to this object.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
  prometheus::Gauge& in_flight_;
};

}  // namespace iv::serving

#endif  // COMMON_SERVING_METRICS_H_
