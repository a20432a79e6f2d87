#include "trainer/training_curves.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files/atomic_file.h"
#include "nlohmann/json.hpp"

namespace iv::trainer {
namespace {

using Series = std::vector<std::pair<double, double>>;  // (step, value)

constexpr double kPanelWidth = 420, kPanelHeight = 260, kMargin = 50;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c",
                                   "#9467bd", "#ff7f0e", "#8c564b"};

// One panel at x offset `left`: axes, tick labels, and a polyline per series.
std::string Panel(double left, const std::string& title,
                  const std::map<std::string, Series>& series) {
  double max_step = 1, low = 0, high = 1;
  bool first = true;
  for (const auto& [name, points] : series) {
    for (const auto& [step, value] : points) {
      max_step = std::max(max_step, step);
      low = first ? value : std::min(low, value);
      high = first ? value : std::max(high, value);
      first = false;
    }
  }
  if (high - low < 1e-9) high = low + 1;
  const double x0 = left + kMargin, y0 = kMargin,
               w = kPanelWidth - 1.5 * kMargin, h = kPanelHeight - 2 * kMargin;
  std::string svg = absl::StrFormat(
      "<text x='%.0f' y='30' font-size='14'>%s</text>"
      "<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' fill='none' "
      "stroke='#888'/>"
      "<text x='%.0f' y='%.0f' font-size='10' text-anchor='end'>%.3g</text>"
      "<text x='%.0f' y='%.0f' font-size='10' text-anchor='end'>%.3g</text>"
      "<text x='%.0f' y='%.0f' font-size='10' text-anchor='end'>step "
      "%.0f</text>",
      x0, title, x0, y0, w, h, x0 - 4, y0 + 10, high, x0 - 4, y0 + h, low,
      x0 + w, y0 + h + 16, max_step);
  int color = 0;
  for (const auto& [name, points] : series) {
    std::string line;
    for (const auto& [step, value] : points) {
      absl::StrAppendFormat(&line, "%.1f,%.1f ", x0 + w * step / max_step,
                            y0 + h * (high - value) / (high - low));
    }
    const char* stroke = kColors[color % 6];
    absl::StrAppendFormat(
        &svg,
        "<polyline fill='none' stroke='%s' stroke-width='1.5' points='%s'/>"
        "<text x='%.0f' y='%.0f' font-size='11' fill='%s'>%s</text>",
        stroke, line, x0 + 6, y0 + 14 + 13 * color, stroke, name);
    ++color;
  }
  return svg;
}

}  // namespace

absl::Status WriteTrainingCurves(const std::string& log_path,
                                 const std::string& svg_path,
                                 const std::string& title) {
  std::ifstream in(log_path);
  std::map<std::string, Series> loss, metrics;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.contains("step")) continue;
    const double step = event["step"].get<double>();
    if (event.contains("loss")) {
      loss["loss"].emplace_back(step, event["loss"].get<double>());
    }
    if (event.contains("eval")) {
      for (const auto& [key, value] : event["eval"].items()) {
        if (key != "n" && value.is_number()) {
          metrics[key].emplace_back(step, value.get<double>());
        }
      }
    }
  }
  const std::string svg = absl::StrFormat(
      "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
      "font-family='sans-serif'><rect width='100%%' height='100%%' "
      "fill='white'/>%s%s</svg>\n",
      2 * kPanelWidth, kPanelHeight, Panel(0, title + " training loss", loss),
      Panel(kPanelWidth, "evaluation", metrics));
  return files::WriteFileAtomically(svg_path, svg);
}

}  // namespace iv::trainer
