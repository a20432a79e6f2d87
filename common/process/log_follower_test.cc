#include "common/process/log_follower.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/testing/temp_dir.h"

namespace iv::process {
namespace {

class LogFollowerTest : public testing::Test {
 protected:
  void SetUp() override { path_ = test::FreshTempDir("log") + "/log.jsonl"; }

  void Append(const std::string& text) {
    std::ofstream(path_, std::ios::app | std::ios::binary) << text;
  }
  void Rewrite(const std::string& text) {
    std::ofstream(path_, std::ios::trunc | std::ios::binary) << text;
  }
  std::vector<std::string> Read(size_t max_line = 10, int64_t max_read = 100) {
    std::vector<std::string> lines;
    ReadNewLines(path_, position_, max_line, max_read,
                 [&](absl::string_view line) { lines.emplace_back(line); });
    return lines;
  }

  std::string path_;
  LogPosition position_;
};

using Lines = std::vector<std::string>;

TEST_F(LogFollowerTest, EachCompleteLineOnce) {
  EXPECT_EQ(Read(), Lines{}) << "a missing file has no lines";
  Append("one\ntw");
  EXPECT_EQ(Read(), Lines{"one"});
  EXPECT_EQ(Read(), Lines{}) << "the half-written line waits";
  Append("o\n\nthree\n");
  EXPECT_EQ(Read(), (Lines{"two", "", "three"}));
  EXPECT_EQ(position_.offset, 15);
}

TEST_F(LogFollowerTest, OverlongLinesAreSkippedWhole) {
  Append("0123456789ABC");  // longer than 10 before its end is written
  EXPECT_EQ(Read(), Lines{});
  EXPECT_TRUE(position_.skipping_line);
  Append("DEF\nshort\n");
  EXPECT_EQ(Read(), Lines{"short"});
  Append("0123456789AB\nok\n");  // complete, still too long
  EXPECT_EQ(Read(), Lines{"ok"});
}

TEST_F(LogFollowerTest, ReadsAreBoundedAndResume) {
  Append("aaaa\nbbbb\ncccc\n");
  EXPECT_EQ(Read(10, 7), Lines{"aaaa"});
  EXPECT_EQ(Read(10, 7), Lines{"bbbb"});
  EXPECT_EQ(Read(10, 7), Lines{"cccc"});
}

TEST_F(LogFollowerTest, ARewrittenFileIsReadFromItsStart) {
  Append("step1\nstep2\nstep3\n");
  EXPECT_EQ(Read().size(), 3u);
  Rewrite("step1\n");  // a resumed run's log
  EXPECT_EQ(Read(), Lines{"step1"});
}

TEST_F(LogFollowerTest, LastLogLineIsTheFinalNonBlankLine) {
  EXPECT_EQ(LastLogLine(path_), "");
  Append("starting\n  error: out of memory  \n\n\r\n");
  EXPECT_EQ(LastLogLine(path_), "error: out of memory");
  Append(std::string(5000, 'x') + "\nlast");
  EXPECT_EQ(LastLogLine(path_, 100), "last");
  EXPECT_EQ(LastLogLine(path_, 3), "ast") << "only the tail is read";
}

}  // namespace
}  // namespace iv::process
