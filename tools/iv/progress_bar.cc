#include "tools/iv/progress_bar.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/time/clock.h"

namespace iv::cli {

ProgressBar::ProgressBar(std::string unit)
    : unit_(std::move(unit)),
      start_(absl::Now()),
      terminal_(isatty(STDERR_FILENO)) {}

void ProgressBar::Update(int64_t done, int64_t total,
                         const std::string& details, double rate,
                         double eta_seconds) {
  const absl::Time now = absl::Now();
  const absl::Duration interval =
      terminal_ ? absl::Milliseconds(100) : absl::Seconds(10);
  if (done < total && now - last_draw_ < interval) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const int filled =
      total > 0 ? static_cast<int>(done * kWidth / total) : kWidth;
  const double seconds = absl::ToDoubleSeconds(now - start_);
  if (rate < 0) rate = seconds > 0 ? done / seconds : 0;
  if (eta_seconds < 0) eta_seconds = rate > 0 ? (total - done) / rate : 0;
  const int eta = static_cast<int>(eta_seconds);
  std::fprintf(stderr, "%s[%s%s] %lld/%lld %s  %.1f/s  ETA %d:%02d %s ",
               terminal_ ? "\r" : "", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '-').c_str(),
               static_cast<long long>(done), static_cast<long long>(total),
               unit_.c_str(), rate, eta / 60, eta % 60, details.c_str());
  if (!terminal_ || done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

double ProgressBar::seconds() const {
  return absl::ToDoubleSeconds(absl::Now() - start_);
}

}  // namespace iv::cli
