// doctest main with one guard: ctest runs each TEST_CASE by name, and doctest's discovery splits names
// at ',' and ';'. A run whose filter matched no test case would pass silently, so it fails here instead.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "util/omp_env.h"

namespace {
int g_cases_started = 0;
struct CountCases : doctest::IReporter {
  explicit CountCases(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++g_cases_started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
}  // namespace
DOCTEST_REGISTER_LISTENER("count_cases", 1, CountCases);

int main(int argc, char** argv) {
  ssmtl::util::ensure_passive_omp_wait(argv);   // ctest runs tests in parallel: no spinning
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (context.shouldExit()) return rc;
  if (rc == 0 && g_cases_started == 0) {
    std::fprintf(stderr, "no test case matched the filter (test names must not contain ',' or ';')\n");
    return 1;
  }
  return rc;
}
