// Whether a process tests started has ended, read from /proc.
#ifndef COMMON_TESTING_PROCESS_ENDED_H_
#define COMMON_TESTING_PROCESS_ENDED_H_

#include <sys/types.h>

#include "absl/time/time.h"

namespace iv::test {

// Whether `pid` has ended: gone, or a zombie nobody reaped (a container's
// init may never reap the orphans it adopts). A process that exits while its
// /proc entry is being read counts as ended; this never throws.
bool ProcessEnded(pid_t pid);

// Polls ProcessEnded until it holds or `timeout` passes; returns the last
// answer.
bool WaitUntilEnded(pid_t pid, absl::Duration timeout = absl::Seconds(30));

}  // namespace iv::test

#endif  // COMMON_TESTING_PROCESS_ENDED_H_
