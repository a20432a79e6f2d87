// Per-test scratch folders.
#ifndef COMMON_TESTING_TEMP_DIR_H_
#define COMMON_TESTING_TEMP_DIR_H_

#include <string>

namespace iv::test {

// The folder `name` under the test's temporary directory
// (::testing::TempDir()), created empty: whatever an earlier run of the test
// left there is removed, so tests may check for exactly the files they made.
std::string FreshTempDir(const std::string& name);

}  // namespace iv::test

#endif  // COMMON_TESTING_TEMP_DIR_H_
