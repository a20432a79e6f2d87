#include "trainer/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace iv::trainer {

double ScheduledLearningRate(double peak_lr,
                             const internvideo::v1::LrSchedule& schedule,
                             int64_t total_steps, int64_t step) {
  const int64_t warmup = schedule.warmup_steps();
  if (step < warmup) {
    return schedule.warmup_start_lr() + (peak_lr - schedule.warmup_start_lr()) *
                                            static_cast<double>(step) /
                                            static_cast<double>(warmup);
  }
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - 1 - warmup);
  const double progress =
      std::min(1.0, static_cast<double>(step - warmup) / decay_steps);
  return schedule.min_lr() + (peak_lr - schedule.min_lr()) * 0.5 *
                                 (1.0 + std::cos(M_PI * progress));
}

}  // namespace iv::trainer
