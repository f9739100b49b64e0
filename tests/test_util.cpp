#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "model/trainer.h"
#include "tests/eval_test_util.h"
#include "util/atomic_file.h"
#include "util/config.h"
#include "util/parallel.h"
#include "util/progress.h"

using namespace ssmtl;

TEST_CASE("util parallel_for: an exception inside the parallel loop reaches the caller (lowest index first)") {
  std::vector<int> done(100, 0);
  CHECK_THROWS_WITH_AS(util::parallel_for(100,
                                          [&](int64_t i) {
                                            done[i] = 1;
                                            if (i == 37 || i == 80) throw std::runtime_error("item " + std::to_string(i));
                                          }),
                       "item 37", std::runtime_error);
  int count = 0;
  for (int d : done) count += d;
  CHECK(count == 100);   // the other items still ran
  CHECK_NOTHROW(util::parallel_for(0, [](int64_t) { throw std::runtime_error("never"); }));
  // In chunks of 4 as well, and the exception keeps its type (an std::out_of_range stays one).
  std::vector<int> twice(10, 0);
  CHECK_THROWS_WITH_AS(util::parallel_for(10,
                                          [&](int64_t i) {
                                            twice[i] = 2 * static_cast<int>(i);
                                            if (i >= 6) throw std::out_of_range("frame " + std::to_string(i));
                                          },
                                          4),
                       "frame 6", std::out_of_range);
  CHECK(twice[9] == 18);
}

TEST_CASE("util config: errors name the file or the --set override the value came from") {
  util::Config c = util::Config::from_string("train.epochs = 3\nmodel.crop = x\n", "run.txt");
  c.set("train.batch_size", "abc");
  c.set("train.epoch", "1");
  CHECK(c.get_int("train.epochs", 1) == 3);
  CHECK_THROWS_WITH_AS(c.get_int("model.crop", 64), doctest::Contains("run.txt"), std::runtime_error);
  CHECK_THROWS_WITH_AS(c.get_int("train.batch_size", 64), doctest::Contains("--set train.batch_size"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(c.check_used(), doctest::Contains("train.epoch (--set train.epoch)"), std::runtime_error);
  CHECK_THROWS_WITH_AS(util::Config::from_string("a = 1\na = 2\n", "dup.txt"), doctest::Contains("dup.txt:2"),
                       std::runtime_error);
}

TEST_CASE("train options: a learning rate <= 0 is refused (ascent is only T5's, by its own scale)") {
  for (const char* lr : {"-1", "0"}) {
    util::Config c;
    c.set("train.lr", lr);
    CHECK_THROWS_WITH_AS(TrainOptions::from_config(c),
                         ("--set train.lr: `train.lr` = `" + std::string(lr) + "` is not a finite number in [1e-09, 10]").c_str(),
                         std::runtime_error);
  }
  util::Config ok;
  ok.set("train.lr", "0.01");
  CHECK(TrainOptions::from_config(ok).lr == doctest::Approx(0.01));
}

TEST_CASE("util write_text_atomic: a FIFO (or device) target is written in place, never renamed over") {
  test::TempDir tmp("atomic_fifo");
  const std::string fifo = tmp.path() + "/out.fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  std::string got;
  std::thread reader([&] {   // opens for reading, which lets the writer's open return; reads to end of file
    std::ifstream in(fifo);
    std::ostringstream ss;
    ss << in.rdbuf();
    got = ss.str();
  });
  util::write_text_atomic(fifo, "line 1\nline 2\n");
  reader.join();
  CHECK(got == "line 1\nline 2\n");
  CHECK(std::filesystem::is_fifo(fifo));   // before the fix: a regular file renamed over it
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
    ++n;
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
  CHECK(n == 1);
  CHECK(util::is_special_file("/dev/null"));
  CHECK_FALSE(util::is_special_file(tmp.path()));           // a folder
  CHECK_FALSE(util::is_special_file(tmp.path() + "/none"));   // not there
}

TEST_CASE("util Progress: items done before a resume count as done but not in the rate") {
  util::Progress::silence(true);
  util::Progress fresh("x", 100), resumed("y", 100);
  resumed.resume_from(90);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fresh.add(5);
  resumed.add(5);
  // 5 items in >= 100 ms: at most 50 items/s for both (95 / 0.1 = 950 if the 90 counted: 19x)
  CHECK(resumed.rate() > 0);
  CHECK(resumed.rate() <= 5 / 0.1);
  CHECK(fresh.rate() <= 5 / 0.1);
  CHECK(resumed.rate() < 5 * fresh.rate());
  util::Progress boundary("z", 100);   // a resume at an epoch's end: nothing done in this process
  boundary.resume_from(100);
  CHECK(boundary.rate() == 0.0);
  util::Progress::silence(false);
}
