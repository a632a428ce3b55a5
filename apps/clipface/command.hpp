// Subcommands register themselves: each apps/clipface/cmd_*.cpp adds its options to a CLI11
// subcommand and returns the function that runs it. Commands only parse and print; the work
// happens in the library.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace clipface::app {

using Runner = std::function<int()>;
using Setup = std::function<Runner(CLI::App&)>;

struct Command {
  std::string name;
  std::string description;
  Setup setup;
};

std::vector<Command>& commands();

inline bool register_command(std::string name, std::string description, Setup setup) {
  commands().push_back({std::move(name), std::move(description), std::move(setup)});
  return true;
}

}  // namespace clipface::app
