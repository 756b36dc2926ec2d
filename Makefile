# Berth: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= python3
# docker.io and podman are peers for the benchmarks and the image interop tests; their daemons are
# started only by those, on private roots, and stopped afterwards.
APT_PACKAGES := busybox-static libseccomp-dev libarchive-dev libisal-dev libacl1-dev liblz4-dev libssl-dev zlib1g-dev pkg-config runc crun hyperfine iproute2 iptables procps skopeo tar util-linux tini docker.io podman \
	docker-registry apache2-utils openssl openssh-client docker-compose python3-venv zsh fish \
	golang-github-opencontainers-image-spec-dev golang-github-docker-docker-dev
# The cgroup v2 guest (scripts/v2-vm.sh): a kernel to boot and a machine to boot it in, nothing they
# only recommend (qemu's GUI, firmware).
VM_PACKAGES := qemu-system-x86 linux-image-amd64
# berth-runtime and berth-shim start once per container, and berth once per command: fully static
# (no dynamic loader: `berth version` took 13.8 ms dynamically linked, 9.1 ms with a static Swift
# runtime, 2.4 ms fully static). berth links libarchive, whose static build needs its own
# dependencies named (pkg-config gives them only with --static) and lld, which resolves static
# libraries in any order. berthd starts once: a static Swift runtime is enough.
RELEASE_FLAGS := -c release --static-swift-stdlib
STATIC_FLAGS := -c release -Xswiftc -static-executable --scratch-path .build-static
ARCHIVE_STATIC_LIBS := -Xswiftc -use-ld=lld $(foreach l,acl lz4 xml2 icuuc icudata nettle lzma zstd bz2 z stdc++,-Xlinker -l$(l))
DEBUG_BIN := .build/debug
RELEASE_BIN := .build/release
# The tests' Python packages, pinned (tests/requirements.txt), in a virtualenv under the build
# folder: stock Debian's Python has no pip and refuses system-wide installs (PEP 668).
VENV := .build/venv
TEST_PYTHON := $(VENV)/bin/python

.PHONY: deps build build-debug demo test test-v2 unit integration fuzz bench clean install uninstall

# $(call apt_install,PACKAGES,APT-OPTIONS): installs those of PACKAGES that are missing.
apt_install = missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing >/dev/null; \
	fi

## Installs the Debian packages Berth's build, tests and demo use (idempotent).
deps:
	@$(call apt_install,$(APT_PACKAGES),)
	@$(call apt_install,$(VM_PACKAGES),--no-install-recommends)
	@$(MAKE) --no-print-directory $(VENV)/installed

$(VENV)/installed: tests/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(TEST_PYTHON) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

## berthd uses FoundationEssentials only: one call into Foundation proper (a `contains(":")` that
## resolved through a dependency's transitive import) links all of it with ICU's 30 MB of data,
## which made berthd 49 MB larger on disk and 3 MiB larger in idle RSS.
essentials_only = @! nm $(1)/berthd | grep -q icudt || { echo '$(1)/berthd links Foundation and ICU: a call outside FoundationEssentials (find it with -Xlinker -Map=FILE)'; exit 1; }

build: deps
	$(SWIFT) build $(RELEASE_FLAGS)
	$(SWIFT) build $(STATIC_FLAGS) --product berth-runtime
	$(SWIFT) build $(STATIC_FLAGS) --product berth-shim
	$(SWIFT) build $(STATIC_FLAGS) --product berth $(ARCHIVE_STATIC_LIBS)
	cp .build-static/release/berth-runtime .build-static/release/berth-shim .build-static/release/berth $(RELEASE_BIN)/
	$(call essentials_only,$(RELEASE_BIN))

build-debug: deps
	$(SWIFT) build
	$(call essentials_only,$(DEBUG_BIN))

## The main job: build; berth-runtime runs an isolated busybox bundle; berthd starts, imports a
## busybox image and runs containers through `berth` (run, run -d, logs, exec, stop, rm).
demo: build
	@scripts/demo.sh $(RELEASE_BIN)/berth-runtime
	@scripts/demo-engine.sh $(RELEASE_BIN)

## The whole test suite: Swift unit tests, root integration tests against the real kernel, then
## libFuzzer over the parsers for a bounded time (FUZZ_SECONDS per target).
test: build-debug unit integration fuzz

## The whole output stays in .build/unit.log; the summary and every failure are shown. First, no
## failure of an action in the daemon's code may be discarded without a reason (scripts/check-silent-failures.py).
unit:
	@python3 scripts/check-silent-failures.py
	@$(SWIFT) test > .build/unit.log 2>&1; rc=$$?; tail -n 40 .build/unit.log; \
	  grep -n -A8 "recorded an issue\|✘" .build/unit.log | head -n 120; exit $$rc

integration:
	BERTH_BIN=$(CURDIR)/$(DEBUG_BIN) $(TEST_PYTHON) -m pytest -q -p no:cacheprovider tests/integration

## Only the cgroup v2 part of `integration`: Debian's kernel under qemu with the unified hierarchy,
## the cgroup-dependent tests run inside it (scripts/v2-vm.sh, tests/integration/test_cgroup_v2_vm.py).
test-v2: build-debug
	BERTH_BIN=$(CURDIR)/$(DEBUG_BIN) $(TEST_PYTHON) -m pytest -q -p no:cacheprovider -s tests/integration/test_cgroup_v2_vm.py

FUZZ_SECONDS ?= 20
fuzz:
	tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: build
	@bench/runtime.sh $(RELEASE_BIN)/berth-runtime
	@bench/runtime-v2.sh $(RELEASE_BIN)/berth-runtime
	@bench/engine.sh $(RELEASE_BIN)
	@bench/extract.sh $(RELEASE_BIN)
	@$(TEST_PYTHON) bench/cri.py $(RELEASE_BIN)
	@$(TEST_PYTHON) bench/scale.py $(RELEASE_BIN)
	@bench/report.py

## Installs the four programs, systemd units (berth.service, berth.socket), completions for bash,
## zsh and fish, and a berth group (members may use the API). PREFIX, DESTDIR as usual; INSTALL_BIN
## picks the binaries (default: the release build, made if missing).
PREFIX ?= /usr/local
SYSTEMD_DIR ?= /lib/systemd/system
INSTALL_BIN ?= $(RELEASE_BIN)
# the group and systemd's reload, on the host itself (not into a DESTDIR)
SYSTEM_SETUP ?= $(if $(DESTDIR),no,yes)
PROGRAMS := berthd berth berth-shim berth-runtime
COMPLETIONS := $(PREFIX)/share/bash-completion/completions/berth $(PREFIX)/share/zsh/vendor-completions/_berth \
	$(PREFIX)/share/fish/vendor_completions.d/berth.fish
install:
	@test -x $(INSTALL_BIN)/berthd || $(MAKE) --no-print-directory build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSTEMD_DIR) $(foreach f,$(COMPLETIONS),$(DESTDIR)$(dir $(f)))
	install -m 0755 $(addprefix $(INSTALL_BIN)/,$(PROGRAMS)) $(DESTDIR)$(PREFIX)/bin/
	sed 's|@PREFIX@|$(PREFIX)|g' contrib/systemd/berth.service > $(DESTDIR)$(SYSTEMD_DIR)/berth.service
	install -m 0644 contrib/systemd/berth.socket $(DESTDIR)$(SYSTEMD_DIR)/berth.socket
	$(INSTALL_BIN)/berth completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/berth
	$(INSTALL_BIN)/berth completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_berth
	$(INSTALL_BIN)/berth completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/berth.fish
	@if [ "$(SYSTEM_SETUP)" = yes ]; then getent group berth >/dev/null || groupadd --system berth; \
	  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	  echo "installed; start with: systemctl enable --now berth.socket berth.service"; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(PROGRAMS)) $(DESTDIR)$(SYSTEMD_DIR)/berth.service $(DESTDIR)$(SYSTEMD_DIR)/berth.socket \
	  $(addprefix $(DESTDIR),$(COMPLETIONS))

clean:
	rm -rf .build
