#ifndef TOOLS_IV_HEALTH_COMMAND_H_
#define TOOLS_IV_HEALTH_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv health ADDR`: asks a service whether it is ready (grpc.health.v1).
void AddHealthCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_HEALTH_COMMAND_H_
