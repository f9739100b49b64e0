#include "model/module.h"

#include <algorithm>
#include <cmath>

namespace ssmtl {

std::vector<NamedTensor> Module::named_tensors(const std::string& prefix, bool with_empty_optional) {
  std::vector<NamedTensor> out;
  visit(prefix, out);
  if (!with_empty_optional)
    out.erase(std::remove_if(out.begin(), out.end(), [](const NamedTensor& nt) { return !nt.tensor->defined(); }),
              out.end());
  return out;
}

std::vector<Tensor> Module::parameters() {
  std::vector<Tensor> ps;
  for (auto& nt : named_tensors())
    if (!nt.is_buffer) ps.push_back(*nt.tensor);
  return ps;
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (auto& p : parameters()) n += p.numel();
  return n;
}

void Module::to(Device d) {
  for (NamedTensor& nt : named_tensors()) {
    if (nt.tensor->device() == d) continue;
    Tensor moved = nt.tensor->to(d);
    if (!nt.is_buffer) moved.set_requires_grad(true);
    *nt.tensor = moved;
  }
}

Device Module::device() {
  for (NamedTensor& nt : named_tensors())
    if (!nt.is_buffer) return nt.tensor->device();
  return Device::CPU;
}

Tensor init_uniform_fan_in(const Shape& shape, int64_t fan_in, Rng& rng) {
  float bound = 1.f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
  Tensor t = rand_uniform(shape, rng, -bound, bound);
  t.set_requires_grad(true);
  return t;
}

}  // namespace ssmtl
