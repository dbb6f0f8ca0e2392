# dnsredir: steer a Docker container's DNS with a pair of TC-BPF programs.
#
#   make            build build/dnsredir-agent
#   make run        install what is missing, start dockerd if needed, run the agent
#   make test       install what is missing and run every test
#   make bench      benchmarks (not part of the tests)
#   make install    PREFIX=/usr/local DESTDIR=
#   V=1             show the commands
.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

OUT      := build
PREFIX   ?= /usr/local
DESTDIR  ?=
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= cc
SAN      ?=

PKGS     := libbpf libcurl libcjson libsystemd inih
CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Werror -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
	    -I$(OUT) -Ibpf -Iagent $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbpf -lcurl -lcjson -lsystemd -linih) -lelf -lz
ifneq ($(SAN),)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
OUT      := build-san
endif

BPF_CFLAGS := -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
	      -I/usr/include/$(MULTIARCH) -Ibpf

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

AGENT_SRCS := $(wildcard agent/*.c)
AGENT_OBJS := $(patsubst agent/%.c,$(OUT)/agent/%.o,$(AGENT_SRCS))
LIB_OBJS   := $(filter-out $(OUT)/agent/main.o,$(AGENT_OBJS))
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))

.PHONY: all run test test-san bench install clean deps-build deps-test
all: $(OUT)/dnsredir-agent

$(OUT)/bpf/dnsredir.bpf.o: bpf/dnsredir.bpf.c bpf/dnsredir.h | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/dnsredir.skel.h: $(OUT)/bpf/dnsredir.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name dnsredir > $@

$(AGENT_OBJS): $(OUT)/dnsredir.skel.h $(wildcard agent/*.h) bpf/dnsredir.h

$(OUT)/agent/%.o: agent/%.c | $(OUT)/agent
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/dnsredir-agent: $(AGENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB_OBJS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

$(OUT)/bpf $(OUT)/agent $(OUT)/tests:
	$(Q)mkdir -p $@

units: $(UNIT_BINS)

deps-build:
	$(Q)./deploy/install-deps.sh build

deps-test:
	$(Q)./deploy/install-deps.sh test

run:
	$(Q)./deploy/install-deps.sh run
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./tests/lib/dockerd-up.sh --no-image
	./$(OUT)/dnsredir-agent run --config config/dnsredir.conf $(ARGS)

test:
	$(Q)./deploy/install-deps.sh test
	$(Q)$(MAKE) --no-print-directory all units
	$(Q)./tests/run.sh $(TESTS)

test-san:
	$(Q)./deploy/install-deps.sh test
	$(Q)$(MAKE) --no-print-directory SAN=1 all units
	$(Q)DNSREDIR_BUILD=build-san ./tests/run.sh $(TESTS)

bench:
	$(Q)./deploy/install-deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./bench/run.sh

install: all
	install -D -m 0755 $(OUT)/dnsredir-agent $(DESTDIR)$(PREFIX)/bin/dnsredir-agent
	install -D -m 0644 config/dnsredir.conf $(DESTDIR)/etc/dnsredir/dnsredir.conf
	install -D -m 0644 deploy/dnsredir-agent.service $(DESTDIR)/lib/systemd/system/dnsredir-agent.service

clean:
	$(call msg,CLEAN,build)
	$(Q)rm -rf build build-san

# ---------------------------------------------------------------------------
# Fuzzing (clang + libFuzzer, with ASan and UBSan); not part of 'make test'.
#
#   make fuzz                  build, then run every target FUZZ_SECONDS (30)
#   make fuzz-long             the same for FUZZ_LONG_SECONDS (600) each: for
#                              developers, before a release or after a parser change
#   make fuzz-build            only build build/fuzz/fuzz_*
#
# The parsers are compiled again for this build, with clang and the fuzzer's
# coverage; seeds are in tests/fuzz/corpus/, see tests/fuzz/run.sh.
FUZZ_SECONDS      ?= 30
FUZZ_LONG_SECONDS ?= 600
FUZZ_CC           ?= clang
FUZZ_OUT          := build/fuzz
FUZZ_TARGETS      := linebuf event inspect server config
FUZZ_BINS         := $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ_TARGETS))
FUZZ_OBJS         := $(patsubst %,$(FUZZ_OUT)/agent/%.o,linebuf docker_json server config log)
FUZZ_CFLAGS       := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		     -fno-sanitize-recover=all -Wall -Wextra -Werror -Wno-unused-parameter \
		     -std=gnu11 -D_GNU_SOURCE -Iagent \
		     $(shell pkg-config --cflags libcjson inih libbpf libsystemd 2>/dev/null)
FUZZ_LDLIBS       := $(shell pkg-config --libs libcjson inih libbpf libsystemd 2>/dev/null || \
		       echo -lcjson -linih -lbpf -lsystemd) -lelf -lz

.PHONY: fuzz fuzz-long fuzz-build
.SECONDARY: $(FUZZ_OBJS)
fuzz-build: $(FUZZ_BINS)

$(FUZZ_OUT)/agent/%.o: agent/%.c $(wildcard agent/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS) $(FUZZ_LDLIBS) -o $@

fuzz: fuzz-build
	$(Q)./tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-long: fuzz-build
	$(Q)./tests/fuzz/run.sh $(FUZZ_LONG_SECONDS) $(FUZZ_TARGETS)
