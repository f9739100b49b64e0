#include <doctest/doctest.h>

#include <sstream>
#include <stdexcept>
#include <string>

#include "autograd/elementwise.h"
#include "optim/adam.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;

namespace {

// The model of tests/reference/gen_adam.py: loss = mean((w * x + b [+ c * z] - y)^2) on the batch of step t.
struct Model {
  const test::RefFile& ref;
  std::string prefix;
  bool use_c;
  Tensor w, b, c, u;

  Model(const test::RefFile& r, std::string pre, bool with_c) : ref(r), prefix(std::move(pre)), use_c(with_c) {
    w = param("w", 0), b = param("b", 0), c = param("c", 0), u = param("u", 0);
  }
  Tensor param(const char* name, int t) const {
    return ref.get(prefix + name + "_" + std::to_string(t)).set_requires_grad();
  }
  void forward_backward(int t) const {
    auto batch = [&](const char* n) { return ref.get(prefix + n + "_" + std::to_string(t)); };
    Tensor pred = add(mul(w, batch("x")), b);
    if (use_c) pred = add(pred, mul(c, batch("z")));
    Tensor d = sub(pred, batch("y"));
    autograd::backward(mean(mul(d, d)));
  }
  void check_against_reference(int t) const {
    const std::string at = " after step " + std::to_string(t);
    check_close(w, ref.get(prefix + "w_" + std::to_string(t)), 1e-7, 1e-6, "w" + at);
    check_close(b, ref.get(prefix + "b_" + std::to_string(t)), 1e-7, 1e-6, "b" + at);
    check_close(c, ref.get(prefix + "c_" + std::to_string(t)), 1e-7, 1e-6, "c" + at);
  }
};

Adam plain_optimiser(const Model& m) { return Adam({{{m.w, m.b, m.u}, 0.01f}, {{m.c}, -0.002f}}); }

void train(Model& m, Adam& opt, int from, int to) {
  for (int t = from; t <= to; ++t) {
    opt.zero_grad();
    m.forward_backward(t);
    opt.step();
  }
}

}  // namespace

TEST_CASE("adam: two groups, one with a negative lr, follow PyTorch's trajectory for 10 steps") {
  test::RefFile ref("adam");
  Model m(ref, "plain_", true);
  Adam opt = plain_optimiser(m);
  const std::vector<float> u0 = m.u.to_vector();
  for (int t = 1; t <= 10; ++t) {
    train(m, opt, t, t);
    m.check_against_reference(t);
  }
  CHECK(m.u.to_vector() == u0);   // never had a gradient: skipped, as in torch
  CHECK(opt.steps() == 10);
}

TEST_CASE("adam: weight decay, non-default betas and eps follow PyTorch") {
  test::RefFile ref("adam");
  Model m(ref, "wd_", false);
  Adam opt({{{m.w, m.b}, 0.05f, 0.1f}}, 0.8f, 0.99f, 1e-6f);
  for (int t = 1; t <= 10; ++t) {
    train(m, opt, t, t);
    m.check_against_reference(t);
  }
}

TEST_CASE("adam: save_state / load_state resumes the uninterrupted trajectory bit for bit") {
  test::RefFile ref("adam");
  Model straight(ref, "plain_", true);
  Adam opt_straight = plain_optimiser(straight);
  train(straight, opt_straight, 1, 10);

  Model first(ref, "plain_", true);
  Adam opt_first = plain_optimiser(first);
  train(first, opt_first, 1, 4);
  std::stringstream file;
  opt_first.save_state(file);

  // A fresh process: parameters restored from the checkpoint, an optimiser built with other settings.
  Model resumed(ref, "plain_", true);
  for (auto [dst, src] : {std::pair{&resumed.w, &first.w}, {&resumed.b, &first.b}, {&resumed.c, &first.c},
                          {&resumed.u, &first.u}})
    dst->copy_from(*src);
  Adam opt_resumed({{{resumed.w, resumed.b, resumed.u}, 0.5f}, {{resumed.c}, 0.5f}}, 0.5f, 0.5f, 0.5f);
  opt_resumed.load_state(file, "memory.ckpt");
  CHECK(opt_resumed.steps() == 4);
  CHECK(opt_resumed.groups()[1].lr == -0.002f);
  train(resumed, opt_resumed, 5, 10);
  CHECK(opt_resumed.steps() == 10);
  CHECK(resumed.w.to_vector() == straight.w.to_vector());
  CHECK(resumed.b.to_vector() == straight.b.to_vector());
  CHECK(resumed.c.to_vector() == straight.c.to_vector());
  CHECK(resumed.u.to_vector() == straight.u.to_vector());
}

TEST_CASE("adam: a negative learning rate ascends the loss, a positive one descends") {
  Rng rng(11);
  const Tensor x0 = randn({6}, rng);
  auto run = [&](float lr, std::vector<float>* after_first) {
    Tensor x = x0.clone().set_requires_grad();
    Adam opt({{{x}, lr}});
    std::vector<float> losses;
    for (int t = 0; t < 5; ++t) {
      opt.zero_grad();
      Tensor loss = mean(mul(x, x));
      losses.push_back(loss.item());
      autograd::backward(loss);
      opt.step();
      if (t == 0) *after_first = x.to_vector();
    }
    return losses;
  };
  std::vector<float> up_first, down_first;
  std::vector<float> up = run(-0.05f, &up_first), down = run(0.05f, &down_first);
  for (size_t t = 1; t < up.size(); ++t) {
    CHECK(up[t] > up[t - 1]);
    CHECK(down[t] < down[t - 1]);
  }
  // Adam's first step is lr * g / (|g| + eps) for each element: the two runs mirror each other exactly.
  const std::vector<float> start = x0.to_vector();
  for (size_t i = 0; i < start.size(); ++i) CHECK(up_first[i] - start[i] == -(down_first[i] - start[i]));
}

TEST_CASE("adam: bad state files name their source and leave the optimiser unchanged") {
  Tensor a = Tensor::ones({3}).set_requires_grad(), b = Tensor::ones({2}).set_requires_grad();
  Adam opt({{{a, b}, 0.1f}});
  autograd::backward(sum(add(mul(a, a), Tensor::zeros({3}))));
  opt.step();
  std::stringstream good;
  opt.save_state(good);
  const std::string bytes = good.str();

  Adam other({{{a, b}, 0.3f}});
  std::string bad_version = bytes;
  bad_version[8] = 7;
  std::istringstream s1(bad_version);
  CHECK_THROWS_WITH_AS(other.load_state(s1, "run/ckpt.bin"), doctest::Contains("run/ckpt.bin: format version 7"),
                       std::runtime_error);
  std::istringstream s2(bytes.substr(0, bytes.size() - 4));
  CHECK_THROWS_WITH_AS(other.load_state(s2, "run/ckpt.bin"), "run/ckpt.bin: Adam state is truncated",
                       std::runtime_error);
  Adam fewer({{{a}, 0.3f}});
  std::istringstream s3(bytes);
  CHECK_THROWS_WITH_AS(fewer.load_state(s3, "run/ckpt.bin"),
                       "run/ckpt.bin: Adam state group 0 has 2 parameters, the optimiser's 1", std::runtime_error);
  CHECK(other.groups()[0].lr == 0.3f);   // untouched by the failed loads
  CHECK(other.steps() == 0);
  std::istringstream s4(bytes);
  other.load_state(s4, "run/ckpt.bin");
  CHECK(other.groups()[0].lr == 0.1f);
  CHECK(other.steps() == 1);
}

TEST_CASE("adam: invalid construction is rejected with the reason") {
  Tensor a = Tensor::ones({3}).set_requires_grad();
  CHECK_THROWS_WITH_AS(Adam({{{a}, 0.1f}, {{a}, 0.1f}}), "Adam: group 1 parameter 0 appears more than once",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Adam({{{Tensor::ones({3})}, 0.1f}}), "Adam: group 0 parameter 0 does not require a gradient",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Adam({{{scale(a, 2.f)}, 0.1f}}),
                       "Adam: group 0 parameter 0 is not a leaf tensor (it was computed by an op)",
                       std::invalid_argument);
  CHECK_THROWS_AS(Adam({{{a}, 0.1f}}, 1.f), std::invalid_argument);
  CHECK_THROWS_AS(Adam({{{a}, 0.1f, -1.f}}), std::invalid_argument);
  CHECK_NOTHROW(Adam({{{a}, -0.1f}}));   // negative lr: gradient ascent
}
