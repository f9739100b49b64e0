// Data-parallel communication (issue 15): the processes of one job, started by `mpirun -np N` (or Slurm's
// `srun --mpi=pmix`), each a "rank" 0..N-1. One small interface, three implementations:
//   single  one process (no launcher, or a build without MPI): every collective is the identity;
//   mpi     OpenMPI / any MPI-3 library, host buffers (built when CMake finds MPI: SSMTL_MPI);
//   nccl    NVIDIA NCCL for device buffers (CUDA builds that find NCCL), bootstrapped over MPI: rank 0's
//           ncclUniqueId is broadcast with MPI, one GPU per rank chosen from the node-local rank.
// Determinism: sum() adds the ranks' values in rank order 0, 1, ..., N-1 in the buffer's own type, on
// every rank, so the same inputs give the same bits for a given N on every run and every rank (MPI_Allreduce
// leaves the order to the library and its tuning, so the MPI implementation does not use it: each rank
// owns one contiguous chunk, gathers it from all ranks (MPI_Alltoallv), adds in rank order, and the sums
// are gathered back (MPI_Allgatherv) -- the bandwidth of a reduce-scatter + all-gather, like a ring).
// NCCL's ncclAllReduce has a fixed order for a fixed N, topology and NCCL_ALGO/NCCL_PROTO, which NCCL does
// not promise across versions or machines: bit-reproducibility is promised on the CPU (MPI) only.
// Errors: every call throws std::runtime_error naming the operation and the library's message.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace ssmtl::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;        // rank among the processes of this machine (GPU choice)
  virtual const char* backend() const = 0;   // "single", "mpi", "nccl"
  // Element-wise sum over the ranks, in place, added in rank order (see above). Every rank calls it with
  // the same n. buf is host memory, except sum_device of the NCCL communicator (device memory of this
  // rank's GPU; the call returns when the result is there).
  virtual void sum(double* buf, int64_t n) = 0;
  virtual void sum(float* buf, int64_t n) = 0;
  virtual void sum_device(float* buf, int64_t n) { sum(buf, n); }
  virtual bool device_buffers() const { return false; }   // sum_device takes device pointers
  // Rank `root`'s `bytes` bytes to every rank (host memory).
  virtual void broadcast(void* buf, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Progress of work shared out over the ranks (rank 0 draws one progress line for all): a rank other than 0
  // posts its items done (a small point-to-point message); rank 0 takes what has arrived without waiting
  // (poll_progress) or waits for the next report (wait_progress). Single process: no-ops, 0.
  virtual void post_progress(int64_t) {}
  virtual int64_t poll_progress() { return 0; }
  virtual int64_t wait_progress() { return 0; }
  // Ends every rank of the job (MPI_Abort): for an error on one rank, so that the others, waiting in a
  // collective, do not hang. Exits the process with `code` in a single process.
  [[noreturn]] virtual void abort(int code) = 0;
};

// The job's host communicator: MPI when this process was started by an MPI launcher (OMPI_COMM_WORLD_SIZE,
// PMI_SIZE or PMIX_RANK in the environment) and the build has MPI, else the single-process one. init() is
// called once by main() before anything else; world() before init() is the single-process communicator.
void init(int* argc, char*** argv);
Communicator& world();
// MPI_Finalize when init() started MPI (main() calls it on a normal exit).
void finalize();
// True when the environment says an MPI launcher started this process (whether or not the build has MPI).
bool launched_by_mpi();
// Whether this build has the MPI / NCCL implementations.
bool built_with_mpi();
bool built_with_nccl();

// The NCCL communicator over `host` (an MPI one, any size): selects the GPU local_rank % device count
// (cudaSetDevice; call it before the first CUDA allocation of the process), creates rank 0's unique id,
// broadcasts it over `host` and joins (ncclCommInitRank). Host collectives go to `host`.
// Throws std::runtime_error when the build has no NCCL or NCCL / CUDA fail (naming the call and the rank).
std::unique_ptr<Communicator> make_nccl(Communicator& host);

// Implementations (dist/single.cpp, dist/mpi.cpp): for init() and tests.
std::unique_ptr<Communicator> make_single();
std::unique_ptr<Communicator> make_mpi(int* argc, char*** argv);   // MPI_Init; throws without MPI in the build

// "rank r/N" for messages ("" for a single process).
std::string rank_tag();

}  // namespace ssmtl::dist
