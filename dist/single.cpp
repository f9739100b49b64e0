// The single-process communicator and the choice of the job's communicator (dist/communicator.h).
#include <cstdlib>
#include <stdexcept>

#include "dist/communicator.h"

namespace ssmtl::dist {

namespace {

class Single : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  const char* backend() const override { return "single"; }
  void sum(double*, int64_t) override {}
  void sum(float*, int64_t) override {}
  void broadcast(void*, int64_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

std::unique_ptr<Communicator>& world_ptr() {
  static std::unique_ptr<Communicator> w;
  return w;
}

bool g_mpi_started = false;

}  // namespace

std::unique_ptr<Communicator> make_single() { return std::make_unique<Single>(); }

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

bool built_with_mpi() {
#ifdef SSMTL_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool built_with_nccl() {
#ifdef SSMTL_WITH_NCCL
  return true;
#else
  return false;
#endif
}

void init(int* argc, char*** argv) {
  if (world_ptr()) return;
  if (launched_by_mpi() && built_with_mpi()) {
    world_ptr() = make_mpi(argc, argv);
    g_mpi_started = true;
  } else {
    world_ptr() = make_single();
  }
}

Communicator& world() {
  if (!world_ptr()) world_ptr() = make_single();
  return *world_ptr();
}

void finalize() {
  if (!g_mpi_started) return;
  world_ptr().reset();   // the MPI communicator's destructor calls MPI_Finalize
  g_mpi_started = false;
}

std::string rank_tag() {
  const Communicator& w = world();
  if (w.size() == 1 && !g_mpi_started) return "";
  return "rank " + std::to_string(w.rank()) + "/" + std::to_string(w.size());
}

#ifndef SSMTL_WITH_MPI
std::unique_ptr<Communicator> make_mpi(int*, char***) {
  throw std::runtime_error("this ssmtl was built without MPI (install libopenmpi-dev and rebuild; CMake option SSMTL_MPI)");
}
#endif
#ifndef SSMTL_WITH_NCCL
std::unique_ptr<Communicator> make_nccl(Communicator&) {
  throw std::runtime_error("this ssmtl was built without NCCL (a CUDA build that finds nccl.h and libnccl, with MPI)");
}
#endif

}  // namespace ssmtl::dist
