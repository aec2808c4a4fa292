# The README's two commands:  `make run` (agent with bundled defaults) and `make test`.
# Both install what they need on a fresh Debian 12 machine (run as root).

SWIFT      ?= swift
CLANG      ?= $(shell dirname $$(readlink -f $$(command -v swift)))/clang
BPF_OUT    := .build/bpf
BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BPF_OUT)/%.bpf.o,$(BPF_SRCS))
ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
APT_PKGS   := libbpf-dev liburing-dev libelf-dev zlib1g-dev libyara-dev libpcre2-dev libseccomp-dev libcap-dev bpftool yara logrotate prometheus-node-exporter lintian systemd-container rsyslog openssh-server
CONFIG     ?= config/edr.toml

PYENV      := .build/pyenv
# Pinned: the differential test's figures are exact for these versions.
PYSIGMA_VERSION := 2.0.1
PYSIGMA    := pysigma==$(PYSIGMA_VERSION) pysigma-backend-sqlite==2.1.1
PYTHON     ?= python3
# `make fuzz`: connections of the structure-aware fuzz test (the normal suite runs 6,000).
FUZZ_ITERATIONS ?= 300000

# `make install` / `make deb`: an install tree of statically linked (Swift runtime) release
# binaries, the BPF object, configuration, rules, units and docs.
PREFIX     ?= /usr
DESTDIR    ?=
VERSION    := $(shell sed -n 's/.*static let version = "\(.*\)"/\1/p' Sources/EDRCore/Version.swift)
DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
STATIC     := .build-static
DEB_VERSION := $(VERSION)-1
DEB_ROOT   := .build/deb/edr_$(DEB_VERSION)_$(DEB_ARCH)
DEB_DEPENDS := libc6 (>= 2.36), libstdc++6, libgcc-s1, libbpf1, libelf1, zlib1g, libyara9, libpcre2-8-0, libseccomp2, libcap2, adduser

.PHONY: all deps pydeps bpf build release run test fuzz mutants bench bench-agent clean static install deb windows windows-deps test-windows lint format

all: build

# System libraries and tools; apt runs only when something is missing.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The Sigma differential test's oracle (pySigma turns rules into SQL that SQLite runs), in a
# virtualenv under .build: Debian 12's system Python refuses pip installs (externally managed).
pydeps:
	@if ! $(PYENV)/bin/python -c "import sigma.backends.sqlite, importlib.metadata as m; assert m.version('pysigma') == '$(PYSIGMA_VERSION)'" 2>/dev/null; then \
		if [ ! -x $(PYENV)/bin/python ]; then \
			rm -rf $(PYENV); \
			if ! $(PYTHON) -m venv $(PYENV) >/dev/null 2>&1; then \
				echo "installing: python3-venv"; rm -rf $(PYENV); \
				apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
				$(PYTHON) -m venv $(PYENV); \
			fi; \
		fi; \
		$(PYENV)/bin/python -m pip install -q $(PYSIGMA); \
	fi

$(BPF_OUT)/vmlinux.h:
	@mkdir -p $(BPF_OUT)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BPF_OUT)/%.bpf.o: bpf/%.bpf.c bpf/*.h bpf/*.hooks.c $(BPF_OUT)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-default-const-init-var-unsafe \
		-I$(BPF_OUT) -Ibpf -c $< -o $@

# All hook families linked into one object: they share the ring buffer and counters.
$(BPF_OUT)/edr.bpf.o: $(BPF_OBJS)
	bpftool gen object $@ $^

# Never loaded: its BTF describes every record and counter of edr_events.h for KernelLayoutTests.
$(BPF_OUT)/edr_layout.o: bpf/edr_layout.c bpf/*.h $(BPF_OUT)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -I$(BPF_OUT) -Ibpf -c $< -o $@

bpf: deps $(BPF_OUT)/edr.bpf.o $(BPF_OUT)/edr_layout.o

build: bpf
	$(SWIFT) build
	cp $(BPF_OUT)/edr.bpf.o $$($(SWIFT) build --show-bin-path)/

release: bpf
	$(SWIFT) build -c release
	cp $(BPF_OUT)/edr.bpf.o $$($(SWIFT) build -c release --show-bin-path)/

run: release
	$$($(SWIFT) build -c release --show-bin-path)/edr run --config $(CONFIG)

# The Windows programs are built and run under Wine first (test-windows); the Swift suite then
# feeds the real edr-sensor.exe records and decodes its frames (EDR_WINDOWS_BIN).
# The project's formatting (.swift-format), checked with the toolchain's swift-format: a line
# the formatter would change fails the run. `make format` rewrites them.
SWIFT_FORMAT_PATHS := Sources Tests Package.swift Benchmarks/Package.swift Benchmarks/Sources Benchmarks/Benchmarks

lint:
	$(SWIFT) format lint --strict --recursive $(SWIFT_FORMAT_PATHS)

format:
	$(SWIFT) format format --in-place --recursive $(SWIFT_FORMAT_PATHS)

test: lint build pydeps deb test-windows
	EDR_PYTHON=$(CURDIR)/$(PYENV)/bin/python EDR_BIN_DIR=$$($(SWIFT) build --show-bin-path) \
		EDR_WINDOWS_BIN=$(CURDIR)/$(WIN_OUT) WINEPREFIX=$(CURDIR)/.build/wineprefix \
		$(SWIFT) test --no-parallel

# The structure-aware fuzz test (Tests/EDRDetectTests/FuzzTests.swift), long: FUZZ_ITERATIONS
# connections; EDR_FUZZ_SEED=n for another seed.
fuzz:
	$(SWIFT) build --build-tests
	EDR_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SWIFT) test --skip-build --no-parallel --filter 'FuzzTests|KnownCrashTests'

# Deliberate breakages, one at a time, in a scratch copy (scripts/mutants.py): each must be
# caught (KILLED) by the tests named for it.
mutants:
	$(PYTHON) scripts/mutants.py

# Benchmarks (Benchmarks/Package.swift, a package of its own that depends on this one by path):
# the package-benchmark microbenchmarks (EDRMicro), then `edr-bench`'s whole figures with the
# SigmaHQ corpus (docs/benchmarks.md). BENCH_ENV points package-benchmark at the empty stand-in
# for a package the mirror lacks (see Benchmarks/Package.swift). `make bench-agent` runs the
# whole-agent scripts (root, BPF loaded; minutes each).
BENCH_ENV  := RUNTIME_INTERPOSER_LOCAL_PATH=$(CURDIR)/Benchmarks/Stubs/swift-runtime-interposer
BENCH_BIN  := Benchmarks/.build/release/edr-bench
SIGMAHQ    ?= ../shared/corpora/sigmahq/rules

bench:
	cd Benchmarks && $(BENCH_ENV) $(SWIFT) build -c release
	cd Benchmarks && $(BENCH_ENV) $(SWIFT) package benchmark --target EDRMicro
	$(BENCH_BIN) sigma --rules $(SIGMAHQ)/linux --rules $(SIGMAHQ)/windows
	$(BENCH_BIN) pipeline --rules $(SIGMAHQ)/linux --rules rules/sigma --alert-every 100
	$(BENCH_BIN) pipeline --rules $(SIGMAHQ)/linux --rules rules/sigma --execs 16000 --pace 1600 --storm
	$(BENCH_BIN) alerts

bench-agent: release
	$(PYTHON) Benchmarks/cpu_bench.py --bin $$($(SWIFT) build -c release --show-bin-path) --sigma-only
	$(PYTHON) Benchmarks/cpu_bench.py --bin $$($(SWIFT) build -c release --show-bin-path) --sigmahq $(SIGMAHQ)/linux
	$(PYTHON) Benchmarks/exec_bench.py --bin $$($(SWIFT) build -c release --show-bin-path) --execs 1000 --loop 10000
	$(PYTHON) Benchmarks/startup_bench.py --bin $$($(SWIFT) build -c release --show-bin-path)

# Release binaries with the Swift runtime and Foundation linked in: the package depends on
# Debian's libraries only, not on a Swift toolchain.
static: bpf
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(STATIC)

install: static
	install -d $(DESTDIR)$(PREFIX)/lib/edr $(DESTDIR)$(PREFIX)/bin
	for b in edr edr-sensor edr-detect edr-respond edr-logs; do \
		install -m 0755 -s $(STATIC)/release/$$b $(DESTDIR)$(PREFIX)/lib/edr/$$b; done
	install -m 0644 $(BPF_OUT)/edr.bpf.o $(DESTDIR)$(PREFIX)/lib/edr/edr.bpf.o
	ln -sf ../lib/edr/edr $(DESTDIR)$(PREFIX)/bin/edr
	install -d -m 0755 $(DESTDIR)/etc/edr $(DESTDIR)/etc/edr/rules/sigma
	install -m 0644 config/edr.installed.toml $(DESTDIR)/etc/edr/edr.toml
	install -d $(DESTDIR)/etc/logrotate.d
	install -m 0644 config/edr.logrotate $(DESTDIR)/etc/logrotate.d/edr
	for d in sigma yara ioc; do \
		install -d $(DESTDIR)$(PREFIX)/share/edr/rules/$$d; \
		install -m 0644 rules/$$d/* $(DESTDIR)$(PREFIX)/share/edr/rules/$$d/; done
	install -d $(DESTDIR)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d
	for u in edr.service edr.target edr-sensor.service edr-sensor.socket edr-detect.service edr-detect.socket \
		edr-detect-control.socket edr-detect-logs.socket edr-respond.service edr-logs.service \
		edr-metrics.service edr-metrics.timer; do \
		install -m 0644 systemd/$$u $(DESTDIR)/lib/systemd/system/$$u; done
	install -m 0644 systemd/edr.sysusers.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/edr.conf
	install -m 0644 systemd/edr.tmpfiles.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/edr.conf
	install -d $(DESTDIR)$(PREFIX)/share/doc/edr
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/edr/

# The Debian package, from the same install tree (dpkg-deb; `lintian` checks it).
deb: deps
	rm -rf $(DEB_ROOT)
	$(MAKE) install DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr
	install -d -m 0755 $(DEB_ROOT)/DEBIAN
	install -m 0644 config/debian/copyright $(DEB_ROOT)/usr/share/doc/edr/copyright
	sed 's/@VERSION@/$(DEB_VERSION)/' config/debian/changelog | gzip -9n > $(DEB_ROOT)/usr/share/doc/edr/changelog.Debian.gz
	install -d $(DEB_ROOT)/usr/share/lintian/overrides
	install -m 0644 config/debian/lintian-overrides $(DEB_ROOT)/usr/share/lintian/overrides/edr
	gzip -9n $(DEB_ROOT)/usr/share/doc/edr/*.md
	install -m 0755 config/debian/postinst config/debian/prerm config/debian/postrm $(DEB_ROOT)/DEBIAN/
	printf '/etc/edr/edr.toml\n/etc/logrotate.d/edr\n' > $(DEB_ROOT)/DEBIAN/conffiles
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' -e 's/@DEPENDS@/$(DEB_DEPENDS)/' \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)/" config/debian/control.in > $(DEB_ROOT)/DEBIAN/control
	cd $(DEB_ROOT) && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's| \./| |' > DEBIAN/md5sums
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) .build/deb/
	@ls -l .build/deb/*.deb

# The native Windows programs (windows/), cross-compiled with MinGW-w64 into .build/windows:
# PE32+ x86-64, C11, warnings are errors. `make test-windows` runs them under Wine
# (windows/tests/run.sh); the Swift edr-detect.exe/edr-respond.exe are built with Swift for
# Windows, not here.
WIN_CC     := x86_64-w64-mingw32-gcc
WIN_OUT    := .build/windows
WIN_CFLAGS := -std=c11 -municode -O2 -Wall -Wextra -Werror -D_WIN32_WINNT=0x0A00 -DUNICODE -D_UNICODE
WIN_LDFLAGS := -static -ladvapi32
WIN_WIRE   := windows/common/edr_wire.c windows/common/edr_wire.h
WIN_EXES   := $(WIN_OUT)/edr-sensor.exe $(WIN_OUT)/edr-service.exe $(WIN_OUT)/pipe-client.exe $(WIN_OUT)/test-child.exe
WIN_APT    := gcc-mingw-w64-x86-64
# Debian 12's Wine 8.0: `wine` (the launcher and sc/net/taskkill) and `wine64` (the 64-bit loader).
WINE_APT   := wine wine64

windows-deps:
	@missing=""; for p in $(WIN_APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

windows: windows-deps
	@$(MAKE) --no-print-directory $(WIN_EXES)

$(WIN_OUT)/edr-sensor.exe: windows/sensor/*.c windows/sensor/*.h $(WIN_WIRE)
	@mkdir -p $(WIN_OUT)
	$(WIN_CC) $(WIN_CFLAGS) -o $@ windows/sensor/*.c windows/common/edr_wire.c $(WIN_LDFLAGS)

$(WIN_OUT)/edr-service.exe: windows/service/service.c
	@mkdir -p $(WIN_OUT)
	$(WIN_CC) $(WIN_CFLAGS) -o $@ $< $(WIN_LDFLAGS)

$(WIN_OUT)/pipe-client.exe: windows/tests/pipe-client.c $(WIN_WIRE)
	@mkdir -p $(WIN_OUT)
	$(WIN_CC) $(WIN_CFLAGS) -o $@ $< windows/common/edr_wire.c $(WIN_LDFLAGS)

$(WIN_OUT)/test-child.exe: windows/tests/test-child.c
	@mkdir -p $(WIN_OUT)
	$(WIN_CC) $(WIN_CFLAGS) -o $@ $< $(WIN_LDFLAGS)

test-windows: windows
	@missing=""; for p in $(WINE_APT) file python3; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	WIN_OUT=$(WIN_OUT) windows/tests/run.sh

clean:
	rm -rf .build $(STATIC)
