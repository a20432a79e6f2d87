// The server base against a real gRPC server on a loopback port and real
// clients: health, auth, reflection, limits, deadlines, drain, metrics, TLS.
#include "common/serving/server.h"

#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/serving/connection.h"
#include "common/serving/flags.h"
#include "common/serving/testdata/echo.grpc.pb.h"
#include "third_party/grpc_health/health.grpc.pb.h"

namespace iv::serving {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using internvideo::testing::EchoRequest;
using internvideo::testing::EchoResponse;
using internvideo::testing::EchoService;

constexpr char kEchoService[] = "internvideo.testing.EchoService";

class EchoImpl : public EchoService::Service {
 public:
  grpc::Status Echo(grpc::ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override {
    started_++;
    auto until = std::chrono::steady_clock::now() +
                 std::chrono::milliseconds(request->sleep_ms());
    while (std::chrono::steady_clock::now() < until) {
      if (context->IsCancelled()) {
        cancelled_++;
        return grpc::Status(grpc::StatusCode::CANCELLED, "caller went away");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    response->set_text(request->text());
    response->set_payload_bytes(request->payload().size());
    return grpc::Status::OK;
  }

  grpc::Status Stream(grpc::ServerContext* /*context*/,
                      const EchoRequest* request,
                      grpc::ServerWriter<EchoResponse>* writer) override {
    EchoResponse response;
    response.set_text(request->text());
    for (int i = 0; i < request->copies(); ++i) writer->Write(response);
    return grpc::Status::OK;
  }

  std::atomic<int> started_{0};
  std::atomic<int> cancelled_{0};
};

class ServerTest : public testing::Test {
 protected:
  std::unique_ptr<Server> StartServer(ServerOptions options) {
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(options, {&echo_});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  static Connection Connect(const Server& server,
                            ConnectionOptions options = {}) {
    absl::StatusOr<Connection> connection =
        Connection::Open(absl::StrCat("127.0.0.1:", server.port()), options);
    EXPECT_TRUE(connection.ok()) << connection.status();
    return *connection;
  }

  static grpc::Status CallEcho(const Connection& connection,
                               const EchoRequest& request,
                               EchoResponse* response = nullptr,
                               absl::Duration timeout = absl::Seconds(10)) {
    EchoResponse ignored;
    auto context = connection.NewContext(timeout);
    return EchoService::NewStub(connection.channel())
        ->Echo(context.get(), request, response ? response : &ignored);
  }

  static grpc::Status CallEcho(const Connection& connection,
                               const std::string& text) {
    EchoRequest request;
    request.set_text(text);
    return CallEcho(connection, request);
  }

  static HealthCheckResponse::ServingStatus Check(const Connection& connection,
                                                  const std::string& service,
                                                  grpc::Status* status) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    auto context = connection.NewContext(absl::Seconds(5));
    *status = Health::NewStub(connection.channel())
                  ->Check(context.get(), request, &response);
    return response.status();
  }

  EchoImpl echo_;
};

TEST_F(ServerTest, HealthReportsReadinessAndShutdown) {
  ServerOptions options;
  options.drain_timeout = absl::Seconds(2);
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Connection connection = Connect(*server);
  grpc::Status status;

  EXPECT_EQ(Check(connection, "", &status), HealthCheckResponse::NOT_SERVING);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(Check(connection, kEchoService, &status),
            HealthCheckResponse::NOT_SERVING);

  server->SetServing(true);
  EXPECT_EQ(Check(connection, "", &status), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(connection, kEchoService, &status),
            HealthCheckResponse::SERVING);
  Check(connection, "no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  // A watcher sees the transition to NOT_SERVING when shutdown begins.
  HealthCheckRequest request;
  request.set_service(kEchoService);
  auto context = connection.NewContext(absl::Seconds(10));
  auto watch =
      Health::NewStub(connection.channel())->Watch(context.get(), request);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);
  std::thread stopper([&server] { server->Shutdown(); });
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  context->TryCancel();
  stopper.join();
}

TEST_F(ServerTest, ApiKeyIsRequiredExceptForHealth) {
  ServerOptions options;
  options.api_key = "s3cret-key";
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  server->SetServing(true);

  for (const std::string key : {"", "wrong-key!", "s3cret-ke", "s3cret-key2"}) {
    ConnectionOptions client;
    client.api_key = key;
    grpc::Status status = CallEcho(Connect(*server, client), "hi");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << "key '" << key << "'";
    EXPECT_NE(status.error_message().find("API key"), std::string::npos);
  }
  EXPECT_EQ(echo_.started_, 0) << "a refused call must not reach the service";

  ConnectionOptions good;
  good.api_key = "s3cret-key";
  Connection authorized = Connect(*server, good);
  EchoRequest request;
  request.set_text("hello");
  EchoResponse response;
  ASSERT_TRUE(CallEcho(authorized, request, &response).ok());
  EXPECT_EQ(response.text(), "hello");

  // Streaming calls are guarded too.
  request.set_copies(3);
  for (Connection* connection : {&authorized}) {
    auto context = connection->NewContext(absl::Seconds(5));
    auto reader = EchoService::NewStub(connection->channel())
                      ->Stream(context.get(), request);
    int copies = 0;
    while (reader->Read(&response)) copies++;
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(copies, 3);
  }
  Connection anonymous = Connect(*server);
  auto context = anonymous.NewContext(absl::Seconds(5));
  auto reader =
      EchoService::NewStub(anonymous.channel())->Stream(context.get(), request);
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Health is exempt: load balancers probe without credentials.
  grpc::Status status;
  EXPECT_EQ(Check(anonymous, kEchoService, &status),
            HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// One ServerReflectionInfo stream, spoken in its wire format through a
// generic stub (its generated classes live inside libgrpc++_reflection and
// cannot be linked twice). It stays open, holding its server thread, until
// Close.
class ReflectionStream {
 public:
  explicit ReflectionStream(const Connection& connection)
      : context_(connection.NewContext(absl::Seconds(30))),
        stub_(connection.channel()) {
    call_ = stub_.PrepareCall(
        context_.get(),
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        &queue_);
    call_->StartCall(nullptr);
    Wait();
  }

  ~ReflectionStream() {
    if (!closed_) {
      context_->TryCancel();
      Close();
    }
    queue_.Shutdown();
    void* tag;
    bool ok;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  // Asks for the list of services; empty when the stream was refused.
  std::vector<std::string> ListServices() {
    // ServerReflectionRequest{list_services: ""}: field 7, length 0.
    const std::string list_services("\x3a\x00", 2);
    grpc::Slice slice(list_services);
    grpc::ByteBuffer request(&slice, 1);
    call_->Write(request, nullptr);
    if (!Wait()) return {};
    grpc::ByteBuffer reply;
    call_->Read(&reply, nullptr);
    if (!Wait()) return {};
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(reply.Dump(&slices).ok());
    std::string bytes;
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    // ServerReflectionResponse.list_services_response (6) holds repeated
    // ServiceResponse (1), each with its name (1).
    std::vector<std::string> names;
    google::protobuf::UnknownFieldSet response;
    EXPECT_TRUE(response.ParseFromString(bytes));
    for (int i = 0; i < response.field_count(); ++i) {
      if (response.field(i).number() != 6) continue;
      google::protobuf::UnknownFieldSet list;
      EXPECT_TRUE(list.ParseFromString(response.field(i).length_delimited()));
      for (int j = 0; j < list.field_count(); ++j) {
        google::protobuf::UnknownFieldSet service;
        EXPECT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
        names.push_back(service.field(0).length_delimited());
      }
    }
    return names;
  }

  // Ends the stream and returns how the server finished it.
  grpc::Status Close() {
    closed_ = true;
    call_->WritesDone(nullptr);
    Wait();
    grpc::Status status;
    call_->Finish(&status, nullptr);
    Wait();
    return status;
  }

 private:
  // Waits for the one operation in progress; whether it succeeded.
  bool Wait() {
    void* tag;
    bool ok = false;
    EXPECT_TRUE(queue_.Next(&tag, &ok));
    return ok;
  }

  std::unique_ptr<grpc::ClientContext> context_;
  grpc::GenericStub stub_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool closed_ = false;
};

TEST_F(ServerTest, ReflectionListsTheService) {
  std::unique_ptr<Server> server = StartServer({});
  ASSERT_NE(server, nullptr);
  ReflectionStream stream(Connect(*server));
  std::vector<std::string> names = stream.ListServices();
  EXPECT_NE(std::find(names.begin(), names.end(), kEchoService), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"),
            names.end());
  EXPECT_TRUE(stream.Close().ok());
}

// An open reflection stream holds a server thread: without the key it is
// refused, and with it it counts toward the in-flight limit, so streams
// cannot starve the server of the threads its calls need.
TEST_F(ServerTest, ReflectionNeedsTheKeyAndCountsTowardTheLimit) {
  ServerOptions options;
  options.api_key = "k";
  options.max_in_flight = 2;
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  server->SetServing(true);
  ConnectionOptions key;
  key.api_key = "k";
  Connection authorized = Connect(*server, key);
  Connection anonymous = Connect(*server);

  ReflectionStream refused(anonymous);
  EXPECT_TRUE(refused.ListServices().empty());
  grpc::Status status = refused.Close();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("API key"), std::string::npos);

  std::vector<std::unique_ptr<ReflectionStream>> open;
  for (int i = 0; i < 2; ++i) {
    open.push_back(std::make_unique<ReflectionStream>(authorized));
    ASSERT_FALSE(open.back()->ListServices().empty());
  }
  ReflectionStream one_too_many(authorized);
  EXPECT_TRUE(one_too_many.ListServices().empty());
  status = one_too_many.Close();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("limit of 2"), std::string::npos);
  status = CallEcho(authorized, "while streams are open");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("limit of 2"), std::string::npos);
  // Health is exempt and answers even at the limit.
  EXPECT_EQ(Check(anonymous, kEchoService, &status),
            HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();

  for (auto& stream : open) EXPECT_TRUE(stream->Close().ok());
  open.clear();
  // The handler releases its slot just after the client sees the stream end.
  for (int i = 0; i < 200; ++i) {
    status = CallEcho(authorized, "room again");
    if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServerTest, OversizeMessageIsRejectedAndServerStaysUp) {
  ServerOptions options;
  options.max_message_bytes = 1 << 20;
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Connection connection = Connect(*server);
  EchoRequest big;
  big.set_payload(std::string(2 << 20, 'x'));
  EXPECT_EQ(CallEcho(connection, big).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EchoRequest fits;
  fits.set_payload(std::string(512 << 10, 'x'));
  EchoResponse response;
  ASSERT_TRUE(CallEcho(connection, fits, &response).ok());
  EXPECT_EQ(response.payload_bytes(), 512 << 10);
}

TEST_F(ServerTest, DeadlineIsHonouredOnBothSides) {
  std::unique_ptr<Server> server = StartServer({});
  ASSERT_NE(server, nullptr);
  EchoRequest slow;
  slow.set_sleep_ms(20000);
  absl::Time start = absl::Now();
  grpc::Status status =
      CallEcho(Connect(*server), slow, nullptr, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The handler saw the cancellation and stopped working.
  for (int i = 0; i < 200 && echo_.cancelled_ == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(echo_.cancelled_, 1);
}

TEST_F(ServerTest, InFlightLimitAnswersResourceExhausted) {
  ServerOptions options;
  options.max_in_flight = 2;
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Connection connection = Connect(*server);
  EchoRequest slow;
  slow.set_sleep_ms(1500);
  std::vector<std::thread> callers;
  std::atomic<int> succeeded{0};
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&] {
      if (CallEcho(connection, slow).ok()) succeeded++;
    });
  }
  for (int i = 0; i < 500 && echo_.started_ < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(echo_.started_, 2);
  grpc::Status status = CallEcho(connection, "one too many");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("limit of 2"), std::string::npos);
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(succeeded, 2);
  EXPECT_TRUE(CallEcho(connection, "room again").ok());
}

TEST_F(ServerTest, SigtermDrainsCallsInFlight) {
  ServerOptions options;
  options.drain_timeout = absl::Seconds(20);
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  server->SetServing(true);
  Connection connection = Connect(*server);

  std::thread runner([&server] { server->RunUntilSignal(); });
  // Wait until the handler is installed before sending the signal.
  for (int i = 0; i < 1000; ++i) {
    struct sigaction current;
    sigaction(SIGTERM, nullptr, &current);
    if (current.sa_handler != SIG_DFL) break;
    absl::SleepFor(absl::Milliseconds(2));
  }
  EchoRequest slow;
  slow.set_text("finished");
  slow.set_sleep_ms(1000);
  grpc::Status slow_status;
  EchoResponse slow_response;
  std::thread caller(
      [&] { slow_status = CallEcho(connection, slow, &slow_response); });
  for (int i = 0; i < 500 && echo_.started_ < 1; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(echo_.started_, 1);
  absl::Time signalled = absl::Now();
  kill(getpid(), SIGTERM);
  runner.join();
  caller.join();
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_EQ(slow_response.text(), "finished");
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(10))
      << "drain should end when the last call does, not at the timeout";
  EXPECT_EQ(CallEcho(connection, "after").error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// The value of the sample whose line starts with `prefix` (name and labels).
double Sample(const std::string& exposition, const std::string& prefix) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::StartsWith(line, prefix)) {
      return std::atof(std::string(line.substr(prefix.size())).c_str());
    }
  }
  return -1;
}

TEST_F(ServerTest, MetricsAreScrapedOverHttp) {
  ServerOptions options;
  options.api_key = "k";
  options.metrics_address = "127.0.0.1:0";
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->metrics_port(), 0);
  ConnectionOptions client;
  client.api_key = "k";
  Connection connection = Connect(*server, client);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(CallEcho(connection, "x").ok());
  EXPECT_FALSE(CallEcho(Connect(*server), "no key").ok());

  httplib::Client http("127.0.0.1", server->metrics_port());
  httplib::Result result = http.Get("/metrics");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  const std::string& body = result->body;
  const std::string labels =
      "grpc_method=\"Echo\",grpc_service=\"internvideo.testing.EchoService\"";
  EXPECT_EQ(Sample(body, "grpc_server_handled_total{grpc_code=\"OK\"," +
                             labels + "} "),
            3);
  EXPECT_EQ(Sample(body,
                   "grpc_server_handled_total{grpc_code="
                   "\"UNAUTHENTICATED\"," +
                       labels + "} "),
            1);
  EXPECT_EQ(Sample(body, "grpc_server_started_total{" + labels + "} "), 4);
  EXPECT_EQ(Sample(body, "grpc_server_handling_seconds_count{" + labels + "} "),
            4);
  EXPECT_EQ(Sample(body, "grpc_server_in_flight "), 0);
}

TEST_F(ServerTest, TlsServesOnlyTlsClients) {
  const std::string dir = testing::TempDir();
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  if (std::system(command.c_str()) != 0) {
    GTEST_SKIP() << "openssl is not installed; cannot make a test certificate";
  }
  ServerOptions options;
  options.tls_cert_path = cert;
  options.tls_key_path = key;
  std::unique_ptr<Server> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(server->tls());

  ConnectionOptions tls;
  tls.tls = true;
  tls.tls_ca_path = cert;
  EXPECT_TRUE(CallEcho(Connect(*server, tls), "secure").ok());
  EXPECT_EQ(CallEcho(Connect(*server), "plaintext").error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServerTest, BadOptionsAreRefusedClearly) {
  ServerOptions half_tls;
  half_tls.tls_cert_path = "/nonexistent/cert.pem";
  EXPECT_EQ(Server::Start(half_tls, {&echo_}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ServerOptions bad_address;
  bad_address.address = "not-an-address:99999";
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(bad_address, {&echo_});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(server.status().message().find("not-an-address:99999"),
            std::string::npos);
}

TEST_F(ServerTest, APortInUseIsRefused) {
  std::unique_ptr<Server> first = StartServer(ServerOptions());
  ASSERT_NE(first, nullptr);
  ServerOptions same_port;
  same_port.address = absl::StrCat("127.0.0.1:", first->port());
  EchoImpl other;
  absl::StatusOr<std::unique_ptr<Server>> second =
      Server::Start(same_port, {&other});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("port is in use"), std::string::npos)
      << second.status();
}

TEST_F(ServerTest, FlagsFillServerAndClientOptions) {
  CLI::App app;
  ServerOptions options;
  AddServerFlags(app, options, 50051);
  // Loopback by default: neither gRPC nor the unauthenticated /metrics is
  // reachable from the network unless the operator names an address.
  EXPECT_EQ(options.address, "127.0.0.1:50051");
  EXPECT_EQ(options.metrics_address, "127.0.0.1:51051");
  std::vector<std::string> args = {
      "--drain-seconds", "2.5", "--max-message-mb", "8",
      "--api-key",       "abc", "--address",        "0.0.0.0:50051"};
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector.
  app.parse(args);
  EXPECT_EQ(options.drain_timeout, absl::Milliseconds(2500));
  EXPECT_EQ(options.max_message_bytes, 8 << 20);
  EXPECT_EQ(options.api_key, "abc");
  EXPECT_EQ(options.address, "0.0.0.0:50051") << "every interface on request";

  CLI::App client_app;
  ConnectionOptions client;
  AddConnectionFlags(client_app, client);
  EXPECT_FALSE(client.tls);
  const std::string ca = testing::TempDir() + "/ca.pem";
  std::ofstream(ca) << "pem";
  std::vector<std::string> client_args = {"--tls-ca", ca};
  std::reverse(client_args.begin(), client_args.end());
  client_app.parse(client_args);
  EXPECT_TRUE(client.tls) << "--tls-ca implies --tls";
  EXPECT_EQ(client.tls_ca_path, ca);
}

}  // namespace
}  // namespace iv::serving
