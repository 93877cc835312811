# Developer targets. Operator targets (image, deploy, docker exec …) arrive with the deployment work.
SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps test unit-test demo bench format format-check clean-build

all: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

deps:
	@scripts/install-deps

# Everything CI runs: format check, then unit and integration tests under ASan+UBSan.
test: deps format-check
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DPGTIER_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ctest --output-on-failure -j 2

unit-test: all
	cd $(BUILD_DIR) && ctest --output-on-failure -L '^$$' -E integration

demo: all
	scripts/demo.sh $(BUILD_DIR)/pgtier

bench: all
	bench/bench.sh $(BUILD_DIR)/pgtier

FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp' 2>/dev/null)

format:
	clang-format -i $(FORMAT_FILES)

format-check: deps
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: ok"

clean-build:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
