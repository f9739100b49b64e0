#include "model/backbone.h"

#include <stdexcept>
#include <string>

#include "autograd/activation.h"
#include "autograd/elementwise.h"
#include "autograd/pool.h"
#include "autograd/shape.h"

namespace ssmtl {

Backbone::Backbone(const BackboneConfig& c, Rng& rng) : cfg(c) {
  if (c.channels.empty()) throw std::invalid_argument("Backbone: no stages (channels is empty)");
  if (c.convs_per_stage < 1)
    throw std::invalid_argument("Backbone: convs_per_stage must be >= 1, got " + std::to_string(c.convs_per_stage));
  if (c.transformer != "none" && c.transformer != "3d" && c.transformer != "2d")
    throw std::invalid_argument("Backbone: transformer must be none, 3d or 2d, got " + c.transformer);
  int cin = 3;
  Conv3dOptions same;
  same.padding[0] = same.padding[1] = same.padding[2] = 1;
  for (int cout : c.channels)
    for (int r = 0; r < c.convs_per_stage; ++r) {
      convs.emplace_back(cin, cout, std::array<int, 3>{3, 3, 3}, same, false, rng);  // BN follows: no bias
      bns.emplace_back(cout);
      cin = cout;
    }
  if (c.transformer != "none") {
    bool temporal = c.transformer == "3d";
    Conv3dOptions o;
    o.padding[0] = temporal ? 1 : 0;
    o.padding[1] = o.padding[2] = 1;
    embed = Conv3dLayer(cin, c.cvt_dim, {temporal ? 3 : 1, 3, 3}, o, true, rng);
    embed_ln = LayerNormLayer(c.cvt_dim);
    for (int b = 0; b < c.cvt_blocks; ++b) blocks.emplace_back(c.cvt_dim, c.cvt_heads, c.cvt_mlp_ratio, temporal, rng);
  }
}

int Backbone::out_channels() const { return cfg.transformer == "none" ? cfg.channels.back() : cfg.cvt_dim; }

Tensor Backbone::forward(const Tensor& x, bool training) {
  if (x.dim() != 5 || x.size(1) != 3)
    throw std::invalid_argument("Backbone: input must be (N, 3, T, H, W), got " + shape_str(x.shape()));
  Tensor h = x;
  size_t layer = 0;
  for (size_t s = 0; s < cfg.channels.size(); ++s) {
    for (int r = 0; r + 1 < cfg.convs_per_stage; ++r, ++layer)
      h = conv_bn_relu(convs[layer], bns[layer], h, training);
    h = conv_bn_relu_pool(convs[layer], bns[layer], h, training);   // then max pooling (1,2,2)
    ++layer;
  }
  if (cfg.transformer == "none") return temporal_max_pool(h);
  if (cfg.transformer == "2d") h = reshape(temporal_avg_pool(h), {h.size(0), h.size(1), 1, h.size(3), h.size(4)});
  int T = static_cast<int>(h.size(2)), H = static_cast<int>(h.size(3)), W = static_cast<int>(h.size(4));
  Tensor tokens = embed_ln.forward(volume_to_tokens(embed.forward(h)));
  for (auto& b : blocks) tokens = b.forward(tokens, T, H, W, training);
  Tensor vol = tokens_to_volume(tokens, T, H, W);
  return temporal_max_pool(vol);
}

void Backbone::visit(const std::string& p, std::vector<NamedTensor>& out) {
  for (size_t i = 0; i < convs.size(); ++i) {
    convs[i].visit(p + "conv" + std::to_string(i) + ".", out);
    bns[i].visit(p + "bn" + std::to_string(i) + ".", out);
  }
  if (cfg.transformer != "none") {
    embed.visit(p + "embed.", out);
    embed_ln.visit(p + "embed_ln.", out);
    for (size_t i = 0; i < blocks.size(); ++i) blocks[i].visit(p + "block" + std::to_string(i) + ".", out);
  }
}

}  // namespace ssmtl
