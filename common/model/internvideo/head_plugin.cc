#include "common/model/internvideo/head_plugin.h"

#include <utility>

#include "common/plugin/registry.h"

namespace iv::model {

using Heads = plugin::Registry<HeadPlugin>;

void RegisterHeadPlugin(const std::string& name,
                        std::unique_ptr<HeadPlugin> plugin) {
  Heads::Get().Add("head", name, std::move(plugin));
}

const HeadPlugin* FindHeadPlugin(const std::string& name) {
  return Heads::Get().Find(name);
}

std::vector<std::string> HeadPluginNames() { return Heads::Get().Names(); }

}  // namespace iv::model
