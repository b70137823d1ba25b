# otaswarm — the two commands of the README, plus developer helpers.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# No "make[N]: Entering directory" lines from the make that cmake --build runs underneath.
MAKEFLAGS += --no-print-directory

.PHONY: run test deps build fuzz sanitize tsan bench clean

deps:
	@scripts/install-deps.sh

# Quiet: the configure and build output goes to $(BUILD_DIR)/build.log, shown (its error lines
# and its end) only when the build fails, so `make run` ends with run-embedded.sh's summary and
# `make test` with ctest's.
build: deps
	@mkdir -p $(BUILD_DIR)
	@echo "building into $(BUILD_DIR)/ (log: $(BUILD_DIR)/build.log)" >&2
	@{ cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) && \
	   cmake --build $(BUILD_DIR) -j $(JOBS); } > $(BUILD_DIR)/build.log 2>&1 || { \
	  grep -E 'error|Error' $(BUILD_DIR)/build.log | head -40 >&2; echo ... >&2; \
	  tail -n 30 $(BUILD_DIR)/build.log >&2; \
	  echo "build failed; full log: $(BUILD_DIR)/build.log" >&2; exit 1; }

run: build
	@scripts/run-embedded.sh $(BUILD_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

fuzz: deps
	@scripts/fuzz.sh long

sanitize: deps
	@scripts/sanitize.sh

tsan: deps build
	@scripts/tsan.sh

bench: build
	@scripts/bench.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) build-*
