// The figure of a training run (`ssmtl train` writes it as RUN/train_curves.png after every epoch): the per-task
// losses over the epochs, training above and validation below (with their sum, the loss that picks best.ckpt),
// on a log10 scale because the tasks' losses span decades (T4 ~0.004, T1 ~0.25), the best epoch shaded.
#pragma once
#include <string>
#include <vector>

#include "model/trainer.h"
#include "util/plot.h"

namespace ssmtl {

// The figure for `epochs` (EpochLog::epoch 0-based, in order; a resumed run passes its earlier epochs too).
// Non-positive losses (e.g. a task without validation) are left out of the log scale. Throws
// std::invalid_argument when `epochs` is empty.
plot::Canvas training_curves(const std::vector<EpochLog>& epochs);

// training_curves(epochs) written atomically as a PNG at `path`; std::runtime_error naming the path on failure.
void write_training_curves(const std::string& path, const std::vector<EpochLog>& epochs);

}  // namespace ssmtl
