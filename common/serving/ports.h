// The platform's default ports on one host, in one table: each service
// serves gRPC on its own (and metrics on port + 1000, common/serving/flags.h),
// and the `iv` commands look for it there unless told otherwise.
//
//   service     binary             port
//   encoder     encoder_server     50051
//   index       index_server       50052
//   tasks       task_server        50053  (recognition, localization, VQA)
//   trainer     trainer_server     50054
//   captioner   captioner_server   50055
//
// tools/quickstart.sh repeats them as its shell defaults.
#ifndef COMMON_SERVING_PORTS_H_
#define COMMON_SERVING_PORTS_H_

#include <string>

namespace iv::serving {

inline constexpr int kEncoderPort = 50051;
inline constexpr int kIndexPort = 50052;
inline constexpr int kTaskPort = 50053;
inline constexpr int kTrainerPort = 50054;
inline constexpr int kCaptionerPort = 50055;

// "127.0.0.1:<port>": where a client finds a service running on this host.
inline std::string LoopbackAddress(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

}  // namespace iv::serving

#endif  // COMMON_SERVING_PORTS_H_
