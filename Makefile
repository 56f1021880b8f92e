# pyro build. Sources are globbed: adding core/foo.c needs no edit here.
#
#   make            build build/pyro (static, musl, stripped)
#   make test       install build deps if needed, build, run every test tier
#   make demo       install build deps if needed, build, run the demo
#   make unit       unit tests (musl, the shipping libc)
#   make unit-san   unit tests under ASan+UBSan (clang, glibc)
#   make fuzz       short libFuzzer passes (FUZZ_SECONDS each, default 20)
#   make integration  shell tests in tests/integration/ against build/pyro
#                   (and the test tools in build/tests/, e.g. httpget)
#   make integration-san  the agent's integration files against an ASan+UBSan build
#   make test-guest the guest tier: tests/guest/boot.sh boots the test environment
#                   under qemu -M microvm (TCG without KVM) GUEST_BOOTS times
#                   (default 1) and powers it off; not part of `make test` yet
#   make kernel     the guest kernel into build/kernel (cached per machine)
#   make env-test, env-debian-12-base, env-debian-12, env-debian-12-build
#                   an environment bundle (vmlinux, rootfs.ext4, manifest.json)
#                   into build/env/<ENV> via release/bundle.sh (release/README.md)
#   make repro-slow build the debian-12 rootfs twice and the kernel twice (two
#                   fresh caches) from scratch and compare; takes ~30+ min
#   make vendor     the vendored libraries for the musl build (build/vendor)
#   make vendor-host  the same libraries built with clang for glibc, which
#                   the sanitizer and fuzz builds link (build/vendor-host)
#
# Build dependencies are checked (and installed as root) by ./build.sh deps.

BUILD ?= build
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
FUZZ_SECONDS ?= 20

CC_MUSL ?= musl-gcc
CC_SAN ?= clang
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
STD := -std=c11 -D_GNU_SOURCE -DPYRO_VERSION='"$(VERSION)"'

VENDOR := $(BUILD)/vendor
# The same pinned libraries built with clang against glibc (uninstrumented,
# -fPIC), for unit-san and the fuzzers; vendor/README.md, "Flavours".
VENDOR_HOST := $(BUILD)/vendor-host
KHEADERS := $(BUILD)/kheaders

MUSL_CFLAGS := $(STD) $(WARN) -O2 -g -ffunction-sections -fdata-sections -fno-strict-aliasing -I$(VENDOR)/include -idirafter $(KHEADERS)
SAN_CFLAGS := $(STD) $(WARN) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -I$(VENDOR_HOST)/include
FUZZ_CFLAGS := $(STD) $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DPYRO_FUZZING -I$(VENDOR_HOST)/include

CORE_SRC := $(sort $(wildcard core/*.c))
GUEST_SRC := $(sort $(wildcard guest-init/*.c))
APPLET_SRC := $(sort $(wildcard applets/*.c))
LIB_SRC := $(CORE_SRC) $(GUEST_SRC) $(filter-out applets/main.c,$(APPLET_SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

MUSL_OBJ := $(patsubst %.c,$(BUILD)/obj/musl/%.o,$(LIB_SRC))
UNIT_MUSL_OBJ := $(patsubst %.c,$(BUILD)/obj/musl/%.o,$(UNIT_SRC))
SAN_OBJ := $(patsubst %.c,$(BUILD)/obj/san/%.o,$(LIB_SRC) $(UNIT_SRC))
FUZZ_LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/fuzz/%.o,$(LIB_SRC))
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/%,$(FUZZ_SRC))
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# The library objects as an archive: a link pulls in only what it uses.
LIB_ARCHIVE := $(BUILD)/libpyro.a

VENDOR_LIBS := $(VENDOR)/lib/libarchive.a $(VENDOR)/lib/libzstd.a $(VENDOR)/lib/libz.a $(VENDOR)/lib/libbearssl.a
VENDOR_STAMP := $(VENDOR)/.stamp
VENDOR_HOST_LIBS := $(patsubst $(VENDOR)/%,$(VENDOR_HOST)/%,$(VENDOR_LIBS))
VENDOR_HOST_STAMP := $(VENDOR_HOST)/.stamp
# Objects depend on the compile flags (which carry VERSION): the stamp is
# rewritten only when they change, so changing either rebuilds everything.
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_TEXT := $(CC_MUSL) $(MUSL_CFLAGS) | $(CC_SAN) $(SAN_CFLAGS) | $(FUZZ_CFLAGS)
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(subst ','\'',$(FLAGS_TEXT))' ] || printf '%s' '$(subst ','\'',$(FLAGS_TEXT))' > $(FLAGS_STAMP))
DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all test demo unit unit-san fuzz integration deps vendor vendor-host clean size docs bench guest-check integration-san kernel
.DELETE_ON_ERROR:
# Object files are real build products, not intermediates to delete.
.SECONDARY:

all: $(BUILD)/pyro

deps: $(DEPS_STAMP)
$(DEPS_STAMP): build.sh
	@./build.sh deps
	@mkdir -p $(@D) && touch $@

vendor: $(VENDOR_STAMP)
$(VENDOR_STAMP): $(DEPS_STAMP) $(wildcard vendor/*/*) vendor/build.sh
	@./build.sh vendor $(VENDOR)
	@touch $@

# A second run (or another checkout) is a copy from the build cache.
vendor-host: $(VENDOR_HOST_STAMP)
$(VENDOR_HOST_STAMP): $(DEPS_STAMP) $(wildcard vendor/*/*) vendor/build.sh
	@./build.sh vendor $(VENDOR_HOST) host
	@touch $@

$(KHEADERS)/.stamp: | $(DEPS_STAMP)
	@./build.sh kheaders $(KHEADERS)
	@touch $@

$(BUILD)/obj/musl/%.o: %.c $(VENDOR_STAMP) $(KHEADERS)/.stamp $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC_MUSL) $(MUSL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/san/%.o: %.c $(VENDOR_HOST_STAMP) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC-SAN  $<"
	@$(CC_SAN) $(SAN_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/fuzz/%.o: %.c $(VENDOR_HOST_STAMP) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC-FUZZ $<"
	@$(CC_SAN) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/pyro.unstripped: $(MUSL_OBJ) $(BUILD)/obj/musl/applets/main.o $(VENDOR_STAMP)
	@echo "  LINK    $@"
	@$(CC_MUSL) -static -Wl,--gc-sections -o $@ $(MUSL_OBJ) $(BUILD)/obj/musl/applets/main.o $(VENDOR_LIBS)

$(BUILD)/pyro: $(BUILD)/pyro.unstripped
	@strip -o $@ $<
	@printf 'built %s: %s bytes\n' $@ $$(stat -c %s $@)

$(BUILD)/unit: $(MUSL_OBJ) $(UNIT_MUSL_OBJ)
	@echo "  LINK    $@"
	@$(CC_MUSL) -static -o $@ $^ $(VENDOR_LIBS)

$(BUILD)/unit-san: $(SAN_OBJ) $(VENDOR_HOST_STAMP)
	@echo "  LINK    $@"
	@$(CC_SAN) -fsanitize=address,undefined -o $@ $(SAN_OBJ) $(VENDOR_HOST_LIBS)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ) $(VENDOR_HOST_STAMP)
	@echo "  LINK    $@"
	@$(CC_SAN) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(VENDOR_HOST_LIBS)

unit: $(BUILD)/unit
	$(BUILD)/unit

$(LIB_ARCHIVE): $(MUSL_OBJ)
	@rm -f $@
	@ar rcs $@ $^

# The guest half alone (pyro-init + the agent), linked WITHOUT BearSSL:
# fails when guest code reaches anything that needs TLS.
$(BUILD)/pyro-guest: $(BUILD)/obj/musl/tests/build/guest_only_main.o $(LIB_ARCHIVE) $(VENDOR_STAMP)
	@echo "  LINK    $@ (no BearSSL)"
	@$(CC_MUSL) -static -Wl,--gc-sections -s -o $@ $< $(LIB_ARCHIVE) \
		$(filter-out %/libbearssl.a,$(VENDOR_LIBS))

guest-check: $(BUILD)/pyro-guest
	@printf 'guest-check: pyro-init + agent link without BearSSL (%s bytes)\n' $$(stat -c %s $<)

$(BUILD)/bench/%: $(BUILD)/obj/musl/bench/%.o $(LIB_ARCHIVE) $(VENDOR_STAMP)
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC_MUSL) -static -Wl,--gc-sections -o $@ $< $(LIB_ARCHIVE) $(VENDOR_LIBS)

# Test tools the integration tests drive (tests/tools/NAME.c), e.g. httpget
# for https.test; run.sh finds them next to the binary under test.
$(BUILD)/tests/%: $(BUILD)/obj/musl/tests/tools/%.o $(LIB_ARCHIVE) $(VENDOR_STAMP)
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC_MUSL) -static -Wl,--gc-sections -o $@ $< $(LIB_ARCHIVE) $(VENDOR_LIBS)

# The guest kernel (vmlinux + bzImage) from Debian's linux-source, cached
# outside the repository by its inputs: ~16 min once per machine, then a copy.
kernel: $(DEPS_STAMP)
	@kernel-config/build.sh $(BUILD)/kernel

# Environment bundles (docs/environments.md): kernel and rootfs both cached.
ENVS := test debian-12-base debian-12 debian-12-build
.PHONY: $(addprefix env-,$(ENVS)) repro-slow
$(addprefix env-,$(ENVS)): env-%: $(DEPS_STAMP)
	@release/bundle.sh $* $(BUILD)/env/$*

# Reproducibility from scratch, the slow way (~30+ min, no cache used).
repro-slow: $(DEPS_STAMP)
	@release/repro-slow.sh

# Speed figures, each against a baseline measured in the same run:
# archive import vs tar | tar, and `pyro run` vs a raw QEMU boot of the
# env-test bundle (BENCH_ROUNDS, default 10; docs/benchmarks.md).
bench: $(BUILD)/pyro $(BENCH_BINS) env-test
	bench/archive-import.sh $(BUILD)/pyro $(BUILD)/bench/agent_upload
	bench/vm-run.sh $(BUILD)/pyro $(BUILD)/env/test $(BUILD)/bench/cpu_of $(BUILD)/bench/boot_marker
	bench/mcp.py $(BUILD)/pyro

# The binary itself under ASan+UBSan (clang, glibc, dynamic), for the
# integration files that drive the guest agent; a sanitizer report makes
# the agent abort, which fails the test that was talking to it.
SAN_BIN_OBJ := $(patsubst %.c,$(BUILD)/obj/san/%.o,$(LIB_SRC) applets/main.c)
$(BUILD)/pyro-san: $(SAN_BIN_OBJ) $(VENDOR_HOST_STAMP)
	@echo "  LINK    $@"
	@$(CC_SAN) -fsanitize=address,undefined -o $@ $(SAN_BIN_OBJ) $(VENDOR_HOST_LIBS) -lpthread

SAN_INTEGRATION := agent archive shell service mcp
integration-san: $(BUILD)/pyro-san
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/integration/run.sh $(BUILD)/pyro-san $(SAN_INTEGRATION)

# Real guests under QEMU (tests/guest/): pyro's own initramfs (mkinitramfs)
# and QEMU command line (qemuargs) boot the env-test bundle.
# `guest` (part of make test) runs pyro run in real guests: tests/guest/*.test
# with the integration helpers; test-guest adds raw boots (GUEST_BOOTS) and
# more runs in a row (GUEST_RUNS).
GUEST_BOOTS ?= 1
GUEST_RUNS ?= 20
.PHONY: test-guest guest
guest: $(BUILD)/pyro env-test
	@PYRO_TESTS_DIR=tests/guest PYRO_TIER_NAME=guest PYRO_GUEST_RUNS=$(GUEST_RUNS) \
		PYRO_TEST_BUNDLE=$(abspath $(BUILD)/env/test) tests/integration/run.sh $(BUILD)/pyro
test-guest: $(BUILD)/pyro $(BUILD)/tests/mkinitramfs $(BUILD)/tests/qemuargs env-test
	@tests/guest/boot.sh $(BUILD)/pyro $(BUILD)/env/test $(GUEST_BOOTS)
	@$(MAKE) --no-print-directory guest

unit-san: $(BUILD)/unit-san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/unit-san

# Each fuzzer runs FUZZ_SECONDS over its seed corpus (tests/fuzz/corpus/NAME)
# plus a scratch copy of what it finds, kept in the build dir.
fuzz: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
		name=$${f#$(BUILD)/fuzz_}; \
		mkdir -p $(BUILD)/fuzz-corpus/$$name; \
		echo "fuzz $$name for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
		    -artifact_prefix=$(BUILD)/fuzz-crash-$$name- \
		    $(BUILD)/fuzz-corpus/$$name tests/fuzz/corpus/$$name 2>$(BUILD)/fuzz-$$name.log \
		  || { tail -40 $(BUILD)/fuzz-$$name.log; exit 1; }; \
		grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz-$$name.log | tail -1; \
	done

# The envpull and publish files use the `test` bundle built by env-test
# (the first time on a machine that means the guest kernel: ~15 min on 2
# cores, then cached); https.test uses the tools in tests/tools/.
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(sort $(wildcard tests/tools/*.c)))
integration: $(BUILD)/pyro $(TEST_TOOLS) env-test
	@PYRO_TEST_BUNDLE=$(abspath $(BUILD)/env/test) tests/integration/run.sh $(BUILD)/pyro

# The MCP tier: the official MCP TypeScript SDK drives `pyro mcp serve`
# (tests/mcp/), on the host backend and in a real guest; npm installs the
# pinned packages once into $(BUILD)/mcp-node.
.PHONY: mcp
mcp: $(BUILD)/pyro env-test
	@PYRO_TEST_BUNDLE=$(abspath $(BUILD)/env/test) tests/mcp/run.sh $(BUILD)/pyro $(BUILD)/mcp-node guest

# The MCP tier's real hosts: Claude Code, OpenCode and the MCP inspector CLI
# start `pyro mcp serve` offline with a fresh HOME each (tests/mcp/hosts.sh);
# npm installs the pinned hosts once per machine into the build cache.
.PHONY: mcp-hosts
mcp-hosts: $(BUILD)/pyro
	@tests/mcp/hosts.sh $(BUILD)/pyro

test: $(DEPS_STAMP)
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory all guest-check unit unit-san fuzz integration integration-san guest mcp mcp-hosts && \
	echo "make test: all tiers passed in $$(( $$(date +%s) - start ))s"

# The README's first command: build everything, build (or reuse) the `test`
# environment, and run a command in a real microVM (demo.sh). DEMO_ENV=debian:12
# builds and boots the Debian image instead (about 10 minutes the first time).
DEMO_ENV ?= test
DEMO_BUNDLE := $(if $(filter test,$(DEMO_ENV)),test,$(subst :,-,$(DEMO_ENV)))
demo: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory all env-$(DEMO_BUNDLE)
	@./demo.sh $(BUILD)/pyro $(BUILD)/env/$(DEMO_BUNDLE) $(DEMO_ENV)

size: $(BUILD)/pyro
	@stat -c '%s bytes %n' $(BUILD)/pyro

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The CLI reference is generated from the binary's help (the command
# tables); tests/integration/docs.test fails when it is stale.
docs: $(BUILD)/pyro
	scripts/gen-cli-reference.sh $(BUILD)/pyro > docs/cli-reference.md
