# Thin wrapper around CMake. `make test` on a fresh machine installs, builds and runs every test: the
# build's own (CPU; CUDA tests skip without a GPU), then the CUDA tests on the CPU through the emulator
# (`make cuda-emu`; EMU=0 leaves them out).
BUILD ?= build
JOBS  ?= $(shell nproc)
CUDA  ?= 1
DATA  ?= ../shared/data
DATASET ?= ped2
CMAKE_FLAGS ?=
EMU   ?= 1
# CUDA=1 (default): the CUDA backend is built when nvcc is found; CUDA=0 forces a CPU-only build. `override`:
# a CMAKE_FLAGS given on the command line (e.g. a compiler launcher) is added to, not replacing, this choice.
ifeq ($(CUDA),0)
  override CMAKE_FLAGS += -DSSMTL_CUDA=OFF
else
  override CMAKE_FLAGS += -DSSMTL_CUDA=ON
endif

.PHONY: all setup configure test asan cuda-emu bench bench-compare demo clean fuzz fuzz-smoke
FUZZ_SECONDS ?= 60
all: configure
	cmake --build $(BUILD) -j $(JOBS)

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) fuzz-smoke
ifneq ($(EMU),0)
	$(MAKE) cuda-emu
endif

asan: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSMTL_SANITIZE=ON -DSSMTL_CUDA=OFF >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) -E "e2e"

# The CUDA kernels run on the CPU through the emulator (emu/emu.h): the cuda* test cases, in the forward
# and in the reverse thread order (a missing __syncthreads usually fails in one of them).
cuda-emu: setup
	@cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=Release -DSSMTL_CUDA_EMULATOR=ON >/dev/null
	cmake --build build-emu -j $(JOBS) --target ssmtl_tests
	cd build-emu && ctest --output-on-failure -j $(JOBS) -R '^cuda'
	cd build-emu && SSMTL_EMU_ORDER=reverse ctest --output-on-failure -j $(JOBS) -R '^cuda'

# Coverage-guided fuzzers (libFuzzer, clang, ASan + UBSan) of every file reader, FUZZ_SECONDS each
# (fuzz/README.md); `make test` runs each for 3 seconds (fuzz-smoke). Skipped with a message without clang.
fuzz: setup
	JOBS=$(JOBS) scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

fuzz-smoke: setup
	JOBS=$(JOBS) scripts/fuzz.sh build-fuzz 3

bench: all
	$(BUILD)/ssmtl_bench

# One training step and one inference step of the SSMTL narrow backbone: this engine vs PyTorch CPU.
bench-compare: all
	SSMTL_SETUP_REFERENCE=1 scripts/setup.sh
	scripts/bench_compare.sh $(BUILD)

# The main job: detection, training, scoring and evaluation on real video (DATASET=ped2 or avenue).
demo: all
	DATASET=$(DATASET) scripts/demo.sh $(BUILD) $(DATA)

clean:
	rm -rf $(BUILD) build-asan build-emu build-fuzz
