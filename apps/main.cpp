// ssmtl: the command-line front end. `ssmtl help` lists the sub-commands.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "apps/args.h"
#include "apps/command.h"
#include "util/omp_env.h"

namespace ssmtl::app {
std::map<std::string, CommandInfo>& commands() {
  static std::map<std::string, CommandInfo> m;
  return m;
}
Command::Command(const char* name, const char* summary, CommandFn fn) { commands()[name] = {summary, std::move(fn)}; }
}  // namespace ssmtl::app

static void usage() {
  std::printf("usage: ssmtl <command> [options]   (ssmtl <command> --help for its options)\n\ncommands:\n");
  for (auto& [name, info] : ssmtl::app::commands()) std::printf("  %-10s %s\n", name.c_str(), info.summary.c_str());
}

int main(int argc, char** argv) {
  ssmtl::util::ensure_passive_omp_wait(argv);
  if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help") {
    usage();
    return argc < 2 ? 2 : 0;
  }
  auto it = ssmtl::app::commands().find(argv[1]);
  if (it == ssmtl::app::commands().end()) {
    std::fprintf(stderr, "ssmtl: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
  }
  try {
    return it->second.fn(argc - 1, argv + 1);
  } catch (const ssmtl::app::UsageError& e) {
    std::fprintf(stderr, "ssmtl %s: %s (see ssmtl %s --help)\n", argv[1], e.what(), argv[1]);
    return 2;
  } catch (const std::bad_alloc&) {   // readers and tensors name their sizes; this is what is left
    std::fprintf(stderr, "ssmtl %s: error: out of memory (an allocation outside the checked readers and tensors)\n",
                 argv[1]);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ssmtl %s: error: %s\n", argv[1], e.what());
    return 1;
  }
}
