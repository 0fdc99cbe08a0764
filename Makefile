# vstage: the two commands a fresh Debian 12 machine needs are `make setup` and `make test`.

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages vstage and its tests use. The kernel is not among them: image recipes
# download and unpack it themselves, never installing it on the host.
PACKAGES := qemu-system-x86 qemu-utils qemu-guest-agent busybox-static cpio gzip \
            mmdebstrap e2fsprogs openssh-client python3-yaml ca-certificates \
            python3-openstackclient python3-keystonemiddleware python3-webob tempest

.PHONY: setup build test lint unit bench clean

setup:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(PACKAGES)
	$(CARGO) build --release
	./target/release/vstage image build tiny
	./target/release/vstage image build debian-12
	./target/release/vstage doctor

build:
	$(CARGO) build --release

# Formatting, lints, then every test tier that runs in seconds to minutes (unit tests
# and integration tests that boot real tiny guests).
test: lint
	$(CARGO) test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	$(CARGO) test --lib

# Lifecycle costs against a plain-QEMU baseline in the same run (docs/benchmarks.md).
# BENCH_RUNS=5 make bench for more runs per figure.
bench:
	$(CARGO) bench --bench lifecycle

clean:
	$(CARGO) clean
