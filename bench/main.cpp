// Entry point of ssmtl_bench (CMake links benchmark::benchmark, not benchmark_main): every bench/*.cpp
// only registers benchmarks.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
