// Sub-commands of the `ssmtl` program register themselves (one file per command, no central switch):
//   static ssmtl::app::Command reg{"evaluate", "frame/region metrics from score files", run_evaluate};
// Each command gets its own arguments (argv[0] = command name) and returns the process exit code.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ssmtl::app {

using CommandFn = std::function<int(int argc, char** argv)>;

struct Command {
  Command(const char* name, const char* summary, CommandFn fn);
};

struct CommandInfo {
  std::string summary;
  CommandFn fn;
};
std::map<std::string, CommandInfo>& commands();

}  // namespace ssmtl::app
