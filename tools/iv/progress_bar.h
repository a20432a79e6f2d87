// A one-line progress bar on stderr for long work (rendering, training,
// evaluation), redrawn in place at most ten times a second (and always at
// the end) so fast work is not slowed by drawing. When stderr is a log file
// rather than a terminal it prints a plain line every ten seconds instead,
// so logs stay readable.
#ifndef TOOLS_IV_PROGRESS_BAR_H_
#define TOOLS_IV_PROGRESS_BAR_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace iv::cli {

class ProgressBar {
 public:
  // `unit` names what is counted ("clips", "steps").
  explicit ProgressBar(std::string unit);

  // `done` of `total`; `details` is appended (e.g. "loss 0.41"). The rate
  // and ETA are measured from the calls unless given (>= 0).
  void Update(int64_t done, int64_t total, const std::string& details = "",
              double rate = -1, double eta_seconds = -1);

  double seconds() const;

 private:
  const std::string unit_;
  const absl::Time start_;
  const bool terminal_;
  absl::Time last_draw_ = absl::InfinitePast();
};

}  // namespace iv::cli

#endif  // TOOLS_IV_PROGRESS_BAR_H_
