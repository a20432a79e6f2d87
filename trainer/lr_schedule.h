// The learning-rate schedule of every recipe: linear warmup from
// warmup_start_lr to the peak, then a half cosine down to min_lr at the last
// step (VideoMAE's cosine_scheduler, evaluated per optimizer step).
#ifndef TRAINER_LR_SCHEDULE_H_
#define TRAINER_LR_SCHEDULE_H_

#include <cstdint>

#include "protos/training.pb.h"

namespace iv::trainer {

// The learning rate of optimizer step `step` (0-based) of `total_steps`.
double ScheduledLearningRate(double peak_lr,
                             const internvideo::v1::LrSchedule& schedule,
                             int64_t total_steps, int64_t step);

}  // namespace iv::trainer

#endif  // TRAINER_LR_SCHEDULE_H_
