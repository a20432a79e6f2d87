// The project's version, reported by `iv version` and by every service.
#ifndef COMMON_VERSION_H_
#define COMMON_VERSION_H_

namespace iv {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace iv

#endif  // COMMON_VERSION_H_
