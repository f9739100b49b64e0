// Checkpoints: a versioned binary file ("SSMTLCKP", version 1; version 2 when it holds optional buffers) holding the resolved configuration
// text, every named parameter and buffer of a model (optional buffers, BatchNorm's per-window statistics, only
// when defined: model/module.h NamedTensor::optional_like), and an opaque trainer-state blob (model/train_state.h:
// optimiser moments, epoch, step, best validation loss, partial epoch sums; the random draws need no state,
// they derive from the seed, epoch and step) so that resumed training continues exactly. Written
// atomically. Tensor names come from Module::visit (SSMTLModel: "backbone.*", "<task module>.*").
#pragma once
#include <string>

#include "model/module.h"

namespace ssmtl {

struct CheckpointMeta {
  std::string config_text;   // resolved configuration (util::Config::resolved_text)
  std::string trainer_state; // opaque bytes owned by the trainer (may be empty)
};

// Throws std::runtime_error naming the path on I/O failure.
void save_checkpoint(const std::string& path, Module& model, const CheckpointMeta& meta);

// Reads only the metadata (to rebuild the model from its configuration before loading weights).
CheckpointMeta read_checkpoint_meta(const std::string& path);

// Loads weights into `model`. Optional buffers absent from the file become undefined (checkpoints written
// before per-window statistics existed load as before). Throws std::runtime_error naming the path and the
// tensor when a name is missing (not optional), unexpected, or has another shape, or when a file has only part
// of a group of optional buffers (a window's mean without its variance); returns the metadata.
CheckpointMeta load_checkpoint(const std::string& path, Module& model);

}  // namespace ssmtl
