#include "common/process/child_process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/process_ended.h"
#include "common/testing/temp_dir.h"

namespace iv::process {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

ChildProcess SpawnShell(const std::string& script, SpawnOptions options = {}) {
  options.argv = {"/bin/sh", "-c", script};
  absl::StatusOr<ChildProcess> child = Spawn(options);
  EXPECT_TRUE(child.ok()) << child.status();
  return child.ok() ? *std::move(child) : ChildProcess();
}

// The pid a shell wrote to `path`, waiting for it to appear.
pid_t ReadPid(const std::string& path) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  int pid = 0;
  while (absl::Now() < deadline) {
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(path)), &pid) &&
        pid > 0) {
      return pid;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return 0;
}

TEST(SpawnTest, WritesToTheLogWithTheAddedEnvironmentAndReturnsTheStatus) {
  const std::string log =
      absl::StrCat(test::FreshTempDir("env_and_status"), "/child.log");
  std::ofstream(log) << "earlier run\n";
  setenv("IV_INHERITED", "from the parent", 1);
  SpawnOptions options;
  options.env = {{"X", "hello"}, {"IV_INHERITED", "overridden"}};
  options.log_path = log;
  ChildProcess child = SpawnShell(
      "echo \"$X $IV_INHERITED\"; echo to stderr >&2; read line; "
      "echo \"stdin [$line]\"; exit 3",
      options);
  EXPECT_TRUE(child.running());
  const std::optional<int> status = child.Wait();
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  EXPECT_FALSE(child.running());
  EXPECT_EQ(ReadFile(log),
            "earlier run\nhello overridden\nto stderr\nstdin []\n");
  EXPECT_EQ(DescribeWaitStatus(*status), "exited with status 3");
}

TEST(SpawnTest, KeepsTheParentsEnvironment) {
  const std::string log =
      absl::StrCat(test::FreshTempDir("inherited"), "/child.log");
  setenv("IV_INHERITED", "from the parent", 1);
  SpawnOptions options;
  options.log_path = log;
  ChildProcess child = SpawnShell("echo \"$IV_INHERITED\"", options);
  ASSERT_EQ(child.Wait(), 0);
  EXPECT_EQ(ReadFile(log), "from the parent\n");
}

TEST(SpawnTest, RunsProgramUnderAnotherArgv0) {
  const std::string log =
      absl::StrCat(test::FreshTempDir("argv0"), "/child.log");
  SpawnOptions options;
  options.program = "/bin/sh";
  options.argv = {"renamed", "-c", "echo \"$0\""};
  options.log_path = log;
  absl::StatusOr<ChildProcess> child = Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_EQ(child->Wait(), 0);
  EXPECT_EQ(ReadFile(log), "renamed\n");
}

TEST(SpawnTest, AMissingProgramIsAnErrorAndLeavesNoProcess) {
  SpawnOptions options;
  options.argv = {"/nonexistent/program", "--flag"};
  absl::StatusOr<ChildProcess> child = Spawn(options);
  ASSERT_FALSE(child.ok());
  EXPECT_TRUE(absl::IsNotFound(child.status())) << child.status();
  EXPECT_THAT(child.status().message(),
              HasSubstr("cannot execute /nonexistent/program"));
  // The failed child was reaped by Spawn.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
}

TEST(SpawnTest, AnUnwritableLogIsAnError) {
  SpawnOptions options;
  options.argv = {"/bin/true"};
  options.log_path = "/nonexistent/folder/child.log";
  absl::StatusOr<ChildProcess> child = Spawn(options);
  ASSERT_FALSE(child.ok());
  EXPECT_THAT(child.status().message(),
              HasSubstr("cannot open /nonexistent/folder/child.log"));
}

TEST(SpawnTest, EmptyArgvIsInvalid) {
  EXPECT_TRUE(absl::IsInvalidArgument(Spawn(SpawnOptions()).status()));
}

TEST(ChildProcessTest, SignalReachesTheWholeProcessGroup) {
  const std::string pid_file =
      absl::StrCat(test::FreshTempDir("group"), "/grandchild.pid");
  SpawnOptions options;
  options.own_process_group = true;
  ChildProcess child = SpawnShell(
      absl::StrCat("sleep 600 & echo $! > ", pid_file, "; wait"), options);
  const pid_t grandchild = ReadPid(pid_file);
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(child.TryWait(), std::nullopt) << "still running";
  child.Signal(SIGTERM);
  const std::optional<int> status = child.Wait();
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGTERM);
  EXPECT_THAT(DescribeWaitStatus(*status),
              HasSubstr(absl::StrCat("was killed by signal ", SIGTERM)));
  EXPECT_TRUE(test::WaitUntilEnded(grandchild));
}

TEST(ChildProcessTest, SignalStopsWhatAReapedLeaderLeftInItsGroup) {
  const std::string pid_file =
      absl::StrCat(test::FreshTempDir("stragglers"), "/grandchild.pid");
  SpawnOptions options;
  options.own_process_group = true;
  ChildProcess child =
      SpawnShell(absl::StrCat("sleep 600 & echo $! > ", pid_file), options);
  ASSERT_EQ(child.Wait(), 0);
  const pid_t grandchild = ReadPid(pid_file);
  ASSERT_GT(grandchild, 0);
  child.Signal(SIGKILL);
  EXPECT_TRUE(test::WaitUntilEnded(grandchild));
}

TEST(ChildProcessTest, DiesWithTheThreadThatSpawnedIt) {
  ChildProcess child;
  std::thread spawner([&child] {
    SpawnOptions options;
    options.die_with_parent = true;
    child = SpawnShell("exec sleep 600", options);
  });
  spawner.join();
  const std::optional<int> status = child.Wait();
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
}

TEST(ChildProcessTest, AnEmptyOrMovedFromHandleHasNoProcess) {
  ChildProcess none;
  EXPECT_FALSE(none.running());
  EXPECT_EQ(none.TryWait(), std::nullopt);
  EXPECT_EQ(none.Wait(), std::nullopt);
  none.Signal(SIGKILL);  // nothing to signal

  ChildProcess child = SpawnShell("exit 0");
  ChildProcess moved = std::move(child);
  EXPECT_FALSE(child.running());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(moved.running());
  EXPECT_EQ(moved.Wait(), 0);
}

TEST(DescribeWaitStatusTest, NamesTheExitStatusOrSignal) {
  EXPECT_EQ(DescribeWaitStatus(0), "exited with status 0");
  EXPECT_EQ(DescribeWaitStatus(SIGKILL),
            absl::StrCat("was killed by signal 9 (", strsignal(SIGKILL), ")"));
}

}  // namespace
}  // namespace iv::process
