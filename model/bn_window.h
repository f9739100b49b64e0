// Batch-norm statistics per input window, estimated after training ("precise BN" per window).
//
// Why: the proxy tasks feed the shared backbone three kinds of input (7-frame sequences, the 6 frames around
// the middle one, single frames: model/tasks/task.h Window), one training-mode forward per kind, so each
// BatchNorm's running statistics are an exponential average over a mixture of three input distributions,
// taken at weights that kept moving. In eval every window is normalised with that mixture. For the CvT models
// this costs most of their validation loss (docs/RESULTS.md section 22: SSMTL++v2 after 3 epochs, 5.59 in eval
// against 0.28 with batch statistics; 0.34 with per-window statistics estimated here).
// Remedy (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021, PreciseBN, applied per window): with the
// final weights, run training-mode forwards of the descent tasks over normal training objects and average
// each BatchNorm's batch statistics per window (cumulative mean of the batch means and unbiased variances);
// in eval, a BatchNorm under a window scope with estimated statistics uses those (model/layers.h). The trainer
// estimates them after every epoch with train.precise_bn = N (model/trainer.h) and checkpoints keep them; a
// checkpoint written mid-epoch (Ctrl-C, train.stop_after_steps) holds those of the epoch before. Without an
// estimate (none ran, none loaded) nothing changes: training and eval stay bitwise as before. Training is
// never changed by them (training-mode BatchNorm uses batch statistics).
#pragma once

namespace ssmtl::bn_window {

// Every input window a task may use: the values of model/tasks/task.h Window (asserted there).
inline constexpr int kWindows[] = {7, 6, 1};

// The window (model/tasks/task.h Window as int: 7, 6, 1) whose statistics BatchNorm layers use on this
// thread; -1 outside any Scope.
int current();

// Sets current() for its lifetime (nested scopes restore the outer one).
class Scope {
 public:
  explicit Scope(int window);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  int prev_;
};

// While one lives on this thread, a training-mode BatchNorm call under a Scope adds its batch statistics to
// the current window's (a cumulative mean) and leaves running_mean / running_var untouched.
class Estimate {
 public:
  Estimate();
  ~Estimate();
  Estimate(const Estimate&) = delete;
  Estimate& operator=(const Estimate&) = delete;

 private:
  bool prev_;
};
bool estimating();
// A number that changes with every Estimate: statistics gathered under an earlier one are replaced, not added to.
unsigned generation();

}  // namespace ssmtl::bn_window
