#include "trainer/task_plugin.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/plugin/registry.h"

namespace iv::trainer {

using Tasks = plugin::Registry<TaskPlugin>;

void RegisterTaskPlugin(const std::string& name,
                        std::unique_ptr<TaskPlugin> plugin) {
  for (const std::string& taken : EvalTaskNames()) {
    if (name == taken) {
      std::fprintf(stderr, "task plug-in %s: the name is taken\n",
                   name.c_str());
      std::abort();
    }
  }
  Tasks::Get().Add("task", name, std::move(plugin));
}

const TaskPlugin* FindTaskPlugin(const std::string& name) {
  return Tasks::Get().Find(name);
}

std::vector<std::string> TaskPluginNames() { return Tasks::Get().Names(); }

}  // namespace iv::trainer
