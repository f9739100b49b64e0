// ssmtl: the command-line front end. `ssmtl help` lists the sub-commands.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "apps/args.h"
#include "apps/command.h"
#include "dist/communicator.h"
#include "util/omp_env.h"
#include "util/progress.h"

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
  // Under mpirun (or srun), every rank runs this program; rank 0 alone prints progress and writes files.
  // An error on any rank ends the whole job (MPI_Abort): the others may be waiting in a collective.
  std::string who = std::string("ssmtl ") + argv[1];   // "ssmtl train" or "ssmtl train (rank 1/2)"
  auto fail = [&](int code) {
    if (ssmtl::dist::world().size() > 1) {
      std::fflush(stderr);
      ssmtl::dist::world().abort(code);
    }
    ssmtl::dist::finalize();
    return code;
  };
  try {
    ssmtl::dist::init(&argc, &argv);
    const std::string tag = ssmtl::dist::rank_tag();
    who = std::string("ssmtl ") + argv[1] + (tag.empty() ? "" : " (" + tag + ")");
    if (ssmtl::dist::world().rank() != 0) ssmtl::util::Progress::silence(true);
    const int rc = it->second.fn(argc - 1, argv + 1);
    ssmtl::dist::finalize();
    return rc;
  } catch (const ssmtl::app::UsageError& e) {
    std::fprintf(stderr, "%s: %s (see ssmtl %s --help)\n", who.c_str(), e.what(), argv[1]);
    return fail(2);
  } catch (const std::bad_alloc&) {   // readers and tensors name their sizes; this is what is left
    std::fprintf(stderr, "%s: error: out of memory (an allocation outside the checked readers and tensors)\n",
                 who.c_str());
    return fail(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", who.c_str(), e.what());
    return fail(1);
  }
}
