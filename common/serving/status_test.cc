#include "common/serving/status.h"

#include <gtest/gtest.h>

namespace iv::serving {
namespace {

TEST(StatusTest, CodesAndMessagesCrossTheBoundaryUnchanged) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kUnavailable,
        absl::StatusCode::kDataLoss}) {
    absl::Status original(code, "what went wrong");
    grpc::Status wire = ToGrpcStatus(original);
    EXPECT_EQ(static_cast<int>(wire.error_code()), static_cast<int>(code));
    EXPECT_EQ(wire.error_message(), "what went wrong");
    EXPECT_EQ(FromGrpcStatus(wire), original);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusTest, InvalidFieldNamesTheFieldFirst) {
  absl::Status status = InvalidField("texts[3]", "empty");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "texts[3]: empty");
}

}  // namespace
}  // namespace iv::serving
