#include "model/heads.h"

#include "autograd/activation.h"
#include "autograd/elementwise.h"
#include "autograd/pool.h"

namespace ssmtl {

ClassHead::ClassHead(int cin, int hidden, int s, int classes, Rng& rng) {
  conv = Conv2dLayer(cin, hidden, 3, 1, 1, 1, true, rng);
  fc = LinearLayer(hidden * (s / 2) * (s / 2), classes, true, rng);
}

Tensor ClassHead::forward(const Tensor& f, bool) {
  Tensor h = max_pool2d(relu(conv.forward(f)), 2, 2, 0);
  return fc.forward(reshape(h, {h.size(0), -1}));
}

void ClassHead::visit(const std::string& p, std::vector<NamedTensor>& o) {
  conv.visit(p + "conv.", o);
  fc.visit(p + "fc.", o);
}

Decoder::Decoder(int cin, int hidden, Rng& rng, int out_channels) {
  int c = cin;
  for (int r = 0; r < 3; ++r) {
    convs.emplace_back(c, hidden, 3, 1, 1, 1, false, rng);
    bns.emplace_back(hidden);
    c = hidden;
  }
  out = Conv2dLayer(hidden, out_channels, 3, 1, 1, 1, true, rng);
}

Tensor Decoder::forward(const Tensor& f, bool training) {
  Tensor h = f;
  for (size_t r = 0; r < convs.size(); ++r) h = upsample_conv_bn_relu(convs[r], bns[r], h, training);
  return sigmoid(out.forward(h));
}

void Decoder::visit(const std::string& p, std::vector<NamedTensor>& o) {
  for (size_t r = 0; r < convs.size(); ++r) {
    convs[r].visit(p + "conv" + std::to_string(r) + ".", o);
    bns[r].visit(p + "bn" + std::to_string(r) + ".", o);
  }
  out.visit(p + "out.", o);
}

}  // namespace ssmtl
