#include "common/process/command.h"

#include <gtest/gtest.h>

#include <csignal>
#include <string>

namespace iv::process {
namespace {

TEST(RunCommandTest, ReturnsStandardOutputAndExitStatus) {
  const CommandResult ok = RunCommand("printf 'a\\nb'; echo err >&2");
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.output, "a\nb");
  const CommandResult failed = RunCommand("echo partial; exit 3");
  EXPECT_EQ(failed.exit_code, 3);
  EXPECT_EQ(failed.output, "partial\n");
}

TEST(RunCommandTest, ReadsLargeOutputWhole) {
  const CommandResult run = RunCommand("head -c 1000000 /dev/zero");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output, std::string(1000000, '\0'));
}

TEST(RunCommandTest, MissingCommandIs127) {
  EXPECT_EQ(RunCommand("/nonexistent/command 2>/dev/null").exit_code, 127);
}

TEST(RunCommandTest, KilledBySignalIsNegative) {
  EXPECT_EQ(RunCommand("kill -KILL $$").exit_code, -SIGKILL);
  EXPECT_EQ(RunCommand("kill -TERM $$").exit_code, -SIGTERM);
}

}  // namespace
}  // namespace iv::process
