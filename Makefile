# The two commands: `make run` (devshare demo on embedded defaults) and `make test` (all CTest
# suites except those labelled slow). Each installs its Debian build dependencies when missing.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
BUILD_PACKAGES := cmake g++ make libgtest-dev libgmock-dev libbenchmark-dev libglpk-dev libsqlite3-dev libssl-dev libcpp-httplib-dev nlohmann-json3-dev pkg-config libvirt-dev nbdkit nbdkit-plugin-dev libnbd-dev libpq-dev
TEST_PACKAGES := chromium
# The postgresql store backend's tests start a throwaway server of Debian's PostgreSQL.
PG_PACKAGES := postgresql
# Real KVM guests through libvirt (the kvm CTest label; tools/libvirt_up.sh also installs them).
KVM_PACKAGES := qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev libxml2-utils genisoimage
# The real guest of tools/build_guest.sh (fio and iperf3 are copied into its initramfs with their
# libraries; the kernel and busybox-static are fetched with apt-get download, not installed).
GUEST_PACKAGES := fio iperf3 lz4
# Tenant networks (the net CTest label): nft for the bridge-family anti-spoofing rules, ping.
NET_PACKAGES := nftables iputils-ping iperf3

.PHONY: all deps test-deps build run test test-slow clean libvirt-up libvirt-down guest

all: build

deps:
	@./tools/install_packages.sh $(BUILD_PACKAGES)

test-deps:
	@./tools/install_packages.sh $(TEST_PACKAGES) || \
	  echo "note: could not install $(TEST_PACKAGES); the browser test will be skipped"
	@./tools/install_packages.sh $(PG_PACKAGES) || \
	  echo "note: could not install $(PG_PACKAGES); the postgresql store tests will be skipped"
	@./tools/install_packages.sh $(KVM_PACKAGES) || \
	  echo "note: could not install $(KVM_PACKAGES); the kvm test will be skipped"
	@./tools/install_packages.sh $(GUEST_PACKAGES) || \
	  echo "note: could not install $(GUEST_PACKAGES); the real-guest test will be skipped"
	@./tools/install_packages.sh $(NET_PACKAGES) || \
	  echo "note: could not install $(NET_PACKAGES); the tenant network test will be skipped"

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

# qemu:///system by hand (make test does this itself through the kvm test's CTest fixture):
# libvirt-up starts virtlogd/libvirtd when not running; libvirt-down stops what it started.
libvirt-up:
	./tools/libvirt_up.sh $(BUILD_DIR)/libvirt-state

libvirt-down:
	./tools/libvirt_down.sh $(BUILD_DIR)/libvirt-state

# The real guest (kernel + initramfs) in $(BUILD_DIR)/guest; make test builds it through CTest.
guest:
	./tools/build_guest.sh $(BUILD_DIR)/guest

clean:
	rm -rf $(BUILD_DIR)
