# The two commands: `make run` (devshare demo on embedded defaults) and `make test` (all CTest
# suites except those labelled slow). Each installs its Debian build dependencies when missing.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
BUILD_PACKAGES := cmake g++ make libgtest-dev libgmock-dev libbenchmark-dev libglpk-dev libsqlite3-dev libssl-dev libcpp-httplib-dev nlohmann-json3-dev pkg-config
TEST_PACKAGES := chromium

.PHONY: all deps test-deps build run test test-slow clean

all: build

deps:
	@./tools/install_packages.sh $(BUILD_PACKAGES)

test-deps:
	@./tools/install_packages.sh $(TEST_PACKAGES) || \
	  echo "note: could not install $(TEST_PACKAGES); the browser test will be skipped"

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	./$(BUILD_DIR)/src/cli/devshare demo --out $(BUILD_DIR)/demo

test: build test-deps
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) -LE slow

# Long experiments (full policy tables on every trace); reported in docs/, not run by CI.
test-slow: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L slow

clean:
	rm -rf $(BUILD_DIR)
