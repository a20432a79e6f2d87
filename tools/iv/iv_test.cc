// The `iv` binary as users run it, against a real server on loopback.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/serving/server.h"
#include "common/serving/testdata/echo.grpc.pb.h"

namespace iv {
namespace {

struct Invocation {
  int exit_code;
  std::string output;  // stdout and stderr together
};

Invocation RunIv(const std::string& arguments) {
  std::string command = absl::StrCat("tools/iv/iv ", arguments, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    output.append(buffer.data(), n);
  }
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

class EchoImpl : public internvideo::testing::EchoService::Service {};

TEST(IvTest, HelpListsTheCommands) {
  Invocation help = RunIv("--help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("health"), std::string::npos);
  EXPECT_NE(help.output.find("version"), std::string::npos);
  Invocation bare = RunIv("");
  EXPECT_NE(bare.exit_code, 0);
  EXPECT_NE(bare.output.find("Subcommands"), std::string::npos);
  Invocation unknown = RunIv("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("unknown command 'frobnicate'"),
            std::string::npos);
}

TEST(IvTest, VersionNamesTheLibraries) {
  Invocation version = RunIv("version");
  EXPECT_EQ(version.exit_code, 0) << version.output;
  for (const char* library : {"iv 0.", "LibTorch  1.", "gRPC      1.", "FFmpeg",
                              "FAISS     1.", "RocksDB"}) {
    EXPECT_NE(version.output.find(library), std::string::npos) << library;
  }
}

TEST(IvTest, HealthFollowsTheServer) {
  EchoImpl echo;
  serving::ServerOptions options;
  options.api_key = "key";  // health must not need it
  auto server = serving::Server::Start(options, {&echo});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  Invocation not_ready = RunIv("health " + address);
  EXPECT_EQ(not_ready.exit_code, 3) << not_ready.output;
  EXPECT_NE(not_ready.output.find("NOT_SERVING"), std::string::npos);

  (*server)->SetServing(true);
  Invocation ready = RunIv("health " + address);
  EXPECT_EQ(ready.exit_code, 0) << ready.output;
  EXPECT_EQ(ready.output, "SERVING\n");
  Invocation service =
      RunIv("health " + address + " --service internvideo.testing.EchoService");
  EXPECT_EQ(service.exit_code, 0) << service.output;

  Invocation unknown = RunIv("health " + address + " --service no.Such");
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;
  EXPECT_NE(unknown.output.find("no service named 'no.Such'"),
            std::string::npos);

  Invocation tls_mismatch = RunIv("health " + address + " --tls --timeout 2");
  EXPECT_EQ(tls_mismatch.exit_code, 2) << tls_mismatch.output;

  (*server)->Shutdown();
  Invocation gone = RunIv("health " + address + " --timeout 2");
  EXPECT_EQ(gone.exit_code, 2) << gone.output;
  EXPECT_NE(gone.output.find("is it running?"), std::string::npos);
}

TEST(IvTest, HealthNeedsAnAddress) {
  Invocation missing = RunIv("health");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("address is required"), std::string::npos)
      << missing.output;
}

}  // namespace
}  // namespace iv
