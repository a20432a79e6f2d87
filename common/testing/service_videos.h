// The videos every service test serves from: SynthWorld clips under an
// allowed root, a corrupt file beside them and a real video outside the
// root, so tests can check decoding, bad input and the root check alike.
#ifndef COMMON_TESTING_SERVICE_VIDEOS_H_
#define COMMON_TESTING_SERVICE_VIDEOS_H_

#include <cstdint>
#include <string>

namespace iv::test {

struct ServiceTestVideos {
  std::string root;     // FreshTempDir(name); tests add their models here
  std::string videos;   // <root>/videos: the allowed root
  std::string outside;  // <root>/outside: holds secret.mp4, not allowed
};

// Renders `clips` SynthWorld clips (2 s, 32 frames, 64 px, `seed`) as
// <videos>/clips/train_0000N.mp4 and `untrimmed` untrimmed videos as
// <videos>/untrimmed/test_00N.mp4, writes <videos>/corrupt.mp4 (20,000
// random bytes, the same every run) and copies the first clip to
// <outside>/secret.mp4. Failures are reported as test failures.
ServiceTestVideos RenderServiceTestVideos(const std::string& name,
                                          uint64_t seed, int clips,
                                          int untrimmed = 0);

}  // namespace iv::test

#endif  // COMMON_TESTING_SERVICE_VIDEOS_H_
