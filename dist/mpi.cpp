// The MPI communicator (dist/communicator.h): host buffers, sums in rank order.
#ifdef SSMTL_WITH_MPI
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace ssmtl::dist {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string(what) + ": " + std::string(msg, static_cast<size_t>(len)));
}

template <class T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

class Mpi : public Communicator {
 public:
  Mpi(int* argc, char*** argv) {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) check(MPI_Init(argc, argv), "MPI_Init");
    // Errors come back as return codes (then thrown) instead of ending the job inside the library.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    MPI_Comm node;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    check(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank (node)");
    MPI_Comm_free(&node);
  }
  ~Mpi() override {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  const char* backend() const override { return "mpi"; }
  void sum(double* buf, int64_t n) override { ordered_sum(buf, n); }
  void sum(float* buf, int64_t n) override { ordered_sum(buf, n); }
  void broadcast(void* buf, int64_t bytes, int root) override {
    for (int64_t at = 0; at < bytes;) {   // MPI counts are int
      const int part = static_cast<int>(std::min<int64_t>(bytes - at, 1 << 30));
      check(MPI_Bcast(static_cast<char*>(buf) + at, part, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      at += part;
    }
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  void post_progress(int64_t n) override {
    if (rank_ == 0 || n == 0) return;
    long long v = n;
    check(MPI_Send(&v, 1, MPI_LONG_LONG, 0, kProgressTag, MPI_COMM_WORLD), "MPI_Send (progress)");
  }
  int64_t poll_progress() override {
    int64_t got = 0;
    for (int flag = 1; rank_ == 0;) {
      check(MPI_Iprobe(MPI_ANY_SOURCE, kProgressTag, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe (progress)");
      if (!flag) break;
      got += wait_progress();
    }
    return got;
  }
  int64_t wait_progress() override {
    if (rank_ != 0) return 0;
    long long v = 0;
    check(MPI_Recv(&v, 1, MPI_LONG_LONG, MPI_ANY_SOURCE, kProgressTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "MPI_Recv (progress)");
    return v;
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  // Rank c owns elements [start(c), start(c+1)): it receives that chunk from every rank, adds the copies in
  // rank order, and every rank then receives every sum. The order of the additions is fixed by the code,
  // not by the MPI library's choice of algorithm.
  template <class T>
  void ordered_sum(T* buf, int64_t n) {
    if (size_ == 1 || n == 0) return;
    if (n > (int64_t{1} << 30)) throw std::runtime_error("dist: sum of more than 2^30 values at once");
    const int N = size_;
    std::vector<int> start(N + 1), count(N), zero(N, 0), mine(N), mine_at(N);
    for (int c = 0; c <= N; ++c) start[c] = static_cast<int>(n * c / N);
    for (int c = 0; c < N; ++c) count[c] = start[c + 1] - start[c];
    const int m = count[rank_];
    for (int r = 0; r < N; ++r) {   // from every rank, my chunk; placed at r * m
      mine[r] = m;
      mine_at[r] = r * m;
    }
    std::vector<T> parts(static_cast<size_t>(m) * N);
    check(MPI_Alltoallv(buf, count.data(), start.data(), mpi_type<T>(), parts.data(), mine.data(), mine_at.data(),
                        mpi_type<T>(), MPI_COMM_WORLD),
          "MPI_Alltoallv (sum)");
    std::vector<T> acc(parts.begin(), parts.begin() + m);
    for (int r = 1; r < N; ++r)
      for (int i = 0; i < m; ++i) acc[i] += parts[static_cast<size_t>(r) * m + i];
    check(MPI_Allgatherv(acc.data(), m, mpi_type<T>(), buf, count.data(), start.data(), mpi_type<T>(),
                         MPI_COMM_WORLD),
          "MPI_Allgatherv (sum)");
  }

  static constexpr int kProgressTag = 7301;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi(int* argc, char*** argv) { return std::make_unique<Mpi>(argc, argv); }

}  // namespace ssmtl::dist
#endif  // SSMTL_WITH_MPI
