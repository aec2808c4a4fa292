# The README's two commands:  `make run` (agent with bundled defaults) and `make test`.
# Both install what they need on a fresh Debian 12 machine (run as root).

SWIFT      ?= swift
CLANG      ?= $(shell dirname $$(readlink -f $$(command -v swift)))/clang
BPF_OUT    := .build/bpf
BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BPF_OUT)/%.bpf.o,$(BPF_SRCS))
ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
APT_PKGS   := libbpf-dev libelf-dev zlib1g-dev libyara-dev libpcre2-dev libseccomp-dev libcap-dev bpftool yara logrotate prometheus-node-exporter
CONFIG     ?= config/edr.toml

PYENV      := .build/pyenv
# Pinned: the differential test's figures are exact for these versions.
PYSIGMA_VERSION := 2.0.1
PYSIGMA    := pysigma==$(PYSIGMA_VERSION) pysigma-backend-sqlite==2.1.1
PYTHON     ?= python3
# `make fuzz`: connections of the structure-aware fuzz test (the normal suite runs 6,000).
FUZZ_ITERATIONS ?= 300000

.PHONY: all deps pydeps bpf build release run test fuzz mutants bench clean

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

bpf: deps $(BPF_OUT)/edr.bpf.o

build: bpf
	$(SWIFT) build
	cp $(BPF_OUT)/edr.bpf.o $$($(SWIFT) build --show-bin-path)/

release: bpf
	$(SWIFT) build -c release
	cp $(BPF_OUT)/edr.bpf.o $$($(SWIFT) build -c release --show-bin-path)/

run: release
	$$($(SWIFT) build -c release --show-bin-path)/edr run --config $(CONFIG)

test: build pydeps
	EDR_PYTHON=$(CURDIR)/$(PYENV)/bin/python EDR_BIN_DIR=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --no-parallel

# The structure-aware fuzz test (Tests/EDRDetectTests/FuzzTests.swift), long: FUZZ_ITERATIONS
# connections; EDR_FUZZ_SEED=n for another seed.
fuzz:
	$(SWIFT) build --build-tests
	EDR_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SWIFT) test --skip-build --no-parallel --filter 'FuzzTests|KnownCrashTests'

# Deliberate breakages, one at a time, in a scratch copy (scripts/mutants.py): each must be
# caught (KILLED) by the tests named for it.
mutants:
	$(PYTHON) scripts/mutants.py

bench: release
	$$($(SWIFT) build -c release --show-bin-path)/edr bench

clean:
	rm -rf .build
