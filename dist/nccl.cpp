// The NCCL communicator (dist/communicator.h): gradients on the GPU, bootstrapped over MPI as llm.c does:
// rank 0 makes the ncclUniqueId, MPI broadcasts it, every rank joins with ncclCommInitRank.
#ifdef SSMTL_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <stdexcept>
#include <string>

#include "dist/communicator.h"

namespace ssmtl::dist {

namespace {

void check_cuda(cudaError_t e, const char* what, int rank) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) + " (rank " + std::to_string(rank) + "): " + cudaGetErrorString(e));
}

void check_nccl(ncclResult_t r, const char* what, int rank) {
  if (r != ncclSuccess)
    throw std::runtime_error(std::string(what) + " (rank " + std::to_string(rank) + "): " + ncclGetErrorString(r));
}

class Nccl : public Communicator {
 public:
  explicit Nccl(Communicator& host) : host_(host) {
    int devices = 0;
    check_cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount", host.rank());
    if (devices < 1) throw std::runtime_error("dist: NCCL needs a GPU, rank " + std::to_string(host.rank()) + " sees none");
    device_ = host.local_rank() % devices;
    check_cuda(cudaSetDevice(device_), "cudaSetDevice", host.rank());
    ncclUniqueId id;
    if (host.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId", 0);
    host.broadcast(&id, sizeof id, 0);
    check_nccl(ncclCommInitRank(&comm_, host.size(), id, host.rank()), "ncclCommInitRank", host.rank());
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate", host.rank());
  }
  ~Nccl() override {
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  int local_rank() const override { return host_.local_rank(); }
  const char* backend() const override { return "nccl"; }
  void sum(double* buf, int64_t n) override { host_.sum(buf, n); }
  void sum(float* buf, int64_t n) override { host_.sum(buf, n); }
  bool device_buffers() const override { return true; }
  // The engine's kernels run on the default stream: wait for them, reduce on our stream, wait for that.
  void sum_device(float* buf, int64_t n) override {
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize (before ncclAllReduce)", rank());
    check_nccl(ncclAllReduce(buf, buf, static_cast<size_t>(n), ncclFloat, ncclSum, comm_, stream_), "ncclAllReduce",
               rank());
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (ncclAllReduce)", rank());
  }
  void broadcast(void* buf, int64_t bytes, int root) override { host_.broadcast(buf, bytes, root); }
  void barrier() override { host_.barrier(); }
  void post_progress(int64_t n) override { host_.post_progress(n); }
  int64_t poll_progress() override { return host_.poll_progress(); }
  int64_t wait_progress() override { return host_.wait_progress(); }
  [[noreturn]] void abort(int code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    host_.abort(code);
  }

 private:
  Communicator& host_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl(Communicator& host) { return std::make_unique<Nccl>(host); }

}  // namespace ssmtl::dist
#endif  // SSMTL_WITH_NCCL
