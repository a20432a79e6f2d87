#include "common/serving/thread_pool.h"

#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace iv::serving {
namespace {

TEST(ThreadPoolTest, RunsTasksAndReturnsTheirResults) {
  ThreadPool pool(2);
  std::vector<std::future<absl::StatusOr<int>>> results;
  for (int i = 0; i < 10; ++i) {
    results.push_back(
        pool.Submit([i]() -> absl::StatusOr<int> { return i * i; }));
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(*results[i].get(), i * i);
}

TEST(ThreadPoolTest, AThrowingTaskBecomesItsStatusAndTheOthersRun) {
  ThreadPool pool(1);
  auto bad_alloc =
      pool.Submit([]() -> absl::StatusOr<int> { throw std::bad_alloc(); });
  auto runtime = pool.Submit([]() -> absl::StatusOr<std::string> {
    throw std::runtime_error("tensor shapes differ");
  });
  auto status = pool.Submit([]() -> absl::Status { throw 42; });
  auto fine = pool.Submit([]() -> absl::StatusOr<int> { return 7; });
  // get() does not throw: the caller keeps control of its request.
  absl::StatusOr<int> out_of_memory = bad_alloc.get();
  EXPECT_EQ(out_of_memory.status().code(),
            absl::StatusCode::kResourceExhausted);
  absl::StatusOr<std::string> internal = runtime.get();
  EXPECT_EQ(internal.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(internal.status().message(), "tensor shapes differ");
  EXPECT_EQ(status.get().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(*fine.get(), 7);
}

}  // namespace
}  // namespace iv::serving
