#include "model/bn_window.h"

namespace ssmtl::bn_window {

namespace {
thread_local int g_window = -1;
thread_local bool g_estimating = false;
thread_local unsigned g_generation = 0;
}  // namespace

int current() { return g_window; }
Scope::Scope(int window) : prev_(g_window) { g_window = window; }
Scope::~Scope() { g_window = prev_; }
Estimate::Estimate() : prev_(g_estimating) {
  g_estimating = true;
  ++g_generation;
}
Estimate::~Estimate() { g_estimating = prev_; }
bool estimating() { return g_estimating; }
unsigned generation() { return g_generation; }

}  // namespace ssmtl::bn_window
