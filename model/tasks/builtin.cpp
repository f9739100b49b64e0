// The paper's proxy tasks, one file each in this folder. The order is part of the results: heads are built
// in it from one seed and every sample draws its random choices in it, so a new task goes at the end.
#include "model/tasks/task.h"

namespace ssmtl {

std::unique_ptr<ProxyTask> make_arrow_of_time_task();
std::unique_ptr<ProxyTask> make_motion_irregularity_task();
std::unique_ptr<ProxyTask> make_middle_box_task();
std::unique_ptr<ProxyTask> make_distillation_task();
std::unique_ptr<ProxyTask> make_pseudo_anomalies_task();
std::unique_ptr<ProxyTask> make_inpainting_task();
std::unique_ptr<ProxyTask> make_jigsaw_task();
std::unique_ptr<ProxyTask> make_segmentation_task();
std::unique_ptr<ProxyTask> make_pose_task();
std::unique_ptr<ProxyTask> make_distillation_ce_task();

void register_builtin_tasks() {
  register_task(make_arrow_of_time_task());        // T1
  register_task(make_motion_irregularity_task());  // T2
  register_task(make_middle_box_task());           // T3
  register_task(make_distillation_task());         // T4
  register_task(make_pseudo_anomalies_task());     // T5
  register_task(make_inpainting_task());           // T6
  register_task(make_jigsaw_task());               // T8 (before T7: the order of the first release's heads)
  register_task(make_segmentation_task());         // T7
  register_task(make_pose_task());                 // T9
  register_task(make_distillation_ce_task());      // T4 with the soft cross-entropy loss (session 11)
}

}  // namespace ssmtl
