// Entry point of ssmtl_bench: the benchmarks live one family per file in bench/.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
