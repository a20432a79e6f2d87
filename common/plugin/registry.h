// A process-wide registry of plug-ins of one kind, by name, filled by the
// plug-ins' static initializers (their libraries link with alwayslink) and
// read afterwards. Used for task heads (common/model/internvideo/
// head_plugin.h) and their trainer tasks (trainer/task_plugin.h).
#ifndef COMMON_PLUGIN_REGISTRY_H_
#define COMMON_PLUGIN_REGISTRY_H_

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace iv::plugin {

template <typename Plugin>
class Registry {
 public:
  // The one registry of `Plugin`s. Function-local, so that a plug-in
  // registering from a static initializer in another translation unit finds
  // it constructed; never destroyed, so none is used after destruction.
  static Registry& Get() {
    static auto* registry = new Registry;
    return *registry;
  }

  // Adds `plugin` under `name`; a name registered twice aborts, naming
  // `kind`: two plug-ins cannot answer to one name.
  void Add(const char* kind, const std::string& name,
           std::unique_ptr<Plugin> plugin) {
    if (!plugins_.emplace(name, std::move(plugin)).second) {
      std::fprintf(stderr, "%s plug-in %s registered twice\n", kind,
                   name.c_str());
      std::abort();
    }
  }
  // The plug-in named `name`, or null when none is linked in.
  const Plugin* Find(const std::string& name) const {
    auto found = plugins_.find(name);
    return found == plugins_.end() ? nullptr : found->second.get();
  }
  // Every registered name, sorted.
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& [name, plugin] : plugins_) names.push_back(name);
    return names;
  }

 private:
  std::map<std::string, std::unique_ptr<Plugin>> plugins_;
};

}  // namespace iv::plugin

#endif  // COMMON_PLUGIN_REGISTRY_H_
