# vstage: the two commands a fresh Debian 12 machine needs are `make setup` and `make test`.

CARGO ?= cargo

.PHONY: setup build install test test-fast test-slow lint unit bench e2e e2e-warm e2e-topology clean

PREFIX ?= /usr/local

# Host packages (QEMU pinned in setup/host.sh), then vstage and the images its tests boot.
setup:
	bash setup/host.sh
	$(CARGO) build --release
	./target/release/vstage image build tiny
	./target/release/vstage image build debian-12
	./target/release/vstage doctor

build:
	$(CARGO) build --release

# vstage, a man page per verb and shell completions, under $(DESTDIR)$(PREFIX).
install: build
	install -D -m 0755 target/release/vstage $(DESTDIR)$(PREFIX)/bin/vstage
	./target/release/vstage __man $(DESTDIR)$(PREFIX)/share/man/man1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	./target/release/vstage completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vstage
	./target/release/vstage completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_vstage
	./target/release/vstage completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/vstage.fish
	chmod 0644 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vstage \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_vstage $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/vstage.fish

# Tiers (docs/testing.md): unit tests; integration tests that boot tiny guests and run
# clients against the clones; heavy tests, named heavy_*, that boot Debian guests or
# run Tempest. `make test` (what CI runs) is lint plus all of them.
test: lint
	$(CARGO) test

test-fast:
	$(CARGO) test -- --skip heavy_

test-slow:
	$(CARGO) test -- heavy_

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	$(CARGO) test --lib

# Lifecycle costs against a plain-QEMU baseline in the same run (docs/benchmarks.md).
# BENCH_RUNS=5 make bench for more runs per figure.
bench:
	$(CARGO) bench --bench lifecycle

# OpenStack end to end, per release (RELEASES="zed epoxy"): image build, `vstage run -t
# openstack` with Tempest's compute server tests, each phase's duration (ci/e2e.sh).
e2e: build
	bash ci/e2e.sh

# Two compute nodes, a server on each pinging the other, the branch's Nova mounted and
# synced (ci/topology.sh; RELEASE=zed).
# The warm loop for one release (RELEASE=epoxy): cold up, snapshot, a wait past
# Nova's service_down_time, then `run --from` with Tempest; each phase (ci/e2e-warm.sh).
e2e-warm: build
	bash ci/e2e-warm.sh

e2e-topology: build
	bash ci/topology.sh

clean:
	$(CARGO) clean
