# Class activation mapping as Unix filters.  See README.md.
#
#   make            build every tool into bin/
#   make check      unit tests, CLI tests, goldens (TAP under prove)
#   make deps       install the Debian packages the build and tests need
#   make demo       run the CAM pipeline on a real model and image
#   make bench      speed against ONNX Runtime
#   make fuzz       libFuzzer harnesses (clang)
#   make install    PREFIX=/usr/local DESTDIR=
#
# make SANITIZE=address,undefined check   builds and tests under sanitizers.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
CC      ?= cc
CFLAGS  ?= -O2 -g
PROVE   ?= prove

# Debian packages needed to build, test and run the demo.
DEB_PACKAGES = build-essential pkg-config clang libclang-rt-14-dev \
	libnetpbm-dev netpbm libjpeg-turbo-progs libjpeg62-turbo-dev zlib1g-dev \
	libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata \
	libssl-dev parallel mandoc perl time

ifdef SANITIZE
BUILD   := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   := build/rel
SANFLAGS :=
endif

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
GEN     := build/gen

CPPFLAGS_ALL = -Ilib -I$(GEN) -I/usr/include/netpbm -D_GNU_SOURCE $(CPPFLAGS)
CFLAGS_ALL   = -std=c11 -Wall -Wextra -Wno-unused-parameter -pthread $(SANFLAGS) $(CFLAGS)
LDFLAGS_ALL  = -pthread $(SANFLAGS) $(LDFLAGS)
LDLIBS_ALL   = -lnetpbm -ljpeg -lprotobuf-c -lz -lm $(LDLIBS)

LIB_SRC  := $(sort $(wildcard lib/*.c lib/*/*.c))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(BUILD)/gen/onnx.pb-c.o
LIBCAM   := $(BUILD)/libcam.a
TOOLS    := $(patsubst bin/%.c,bin/%,$(wildcard bin/*.c))
SCRIPTS  := $(patsubst bin/%.sh,bin/%,$(wildcard bin/*.sh))
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
CLI_T    := $(sort $(wildcard tests/cli/*.t))
MANPAGES := $(wildcard man/*.[1-8])

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all check unit cli lint-man install uninstall clean deps fuzz FORCE

all: $(TOOLS) $(SCRIPTS)

# Shell tools: bin/NAME.sh is installed as NAME.
bin/%: bin/%.sh
	cp $< $@ && chmod 755 $@

# Rebuild everything when the flags change (SANITIZE, CFLAGS, CC).
$(BUILD)/.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS_ALL)' | cmp -s - $@ || \
	  echo '$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS_ALL)' > $@
FORCE:

$(GEN)/onnx.pb-c.c $(GEN)/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(BUILD)/gen/onnx.pb-c.o: $(GEN)/onnx.pb-c.c $(BUILD)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -w -c -o $@ $<

$(BUILD)/%.o: %.c $(GEN)/onnx.pb-c.h $(BUILD)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(LIBCAM): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

bin/%: $(BUILD)/bin/%.o $(LIBCAM)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCAM) $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBCAM)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCAM) $(LDLIBS_ALL)

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d)

# ---------------------------------------------------------------- tests
# Unit tests are C programs printing TAP; CLI tests are shell scripts
# printing TAP.  Tests needing ../shared (or $CAM_SHARED) skip without it.
# The tests' caches (digests, packed weights) start empty in the build
# tree, so that both a first and a cached plan are exercised.
TEST_CACHE = $(CURDIR)/$(BUILD)/test-cache

check: all $(UNIT) lint-man
	rm -rf $(TEST_CACHE) && CAM_CACHE_DIR=$(TEST_CACHE) $(PROVE) $(PROVE_FLAGS) $(UNIT) $(CLI_T)

unit: $(UNIT)
	rm -rf $(TEST_CACHE) && CAM_CACHE_DIR=$(TEST_CACHE) $(PROVE) $(PROVE_FLAGS) $(UNIT)

cli: all
	rm -rf $(TEST_CACHE) && CAM_CACHE_DIR=$(TEST_CACHE) $(PROVE) $(PROVE_FLAGS) $(CLI_T)

lint-man:
	@for m in $(MANPAGES); do mandoc -Tlint -Wwarning $$m || exit 1; done

# ---------------------------------------------------------------- fuzzing
FUZZ_SRC := $(wildcard tests/fuzz/*.c)
FUZZ     := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS = -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -Ilib -I$(GEN) -I/usr/include/netpbm -D_GNU_SOURCE -pthread

fuzz: $(FUZZ)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(GEN)/onnx.pb-c.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(GEN)/onnx.pb-c.c $(LDLIBS_ALL)

# ---------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(TOOLS) $(SCRIPTS) $(DESTDIR)$(BINDIR)
	for m in $(MANPAGES); do \
	  s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	  install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s; done

uninstall:
	for t in $(notdir $(TOOLS) $(SCRIPTS)); do rm -f $(DESTDIR)$(BINDIR)/$$t; done
	for m in $(notdir $(MANPAGES)); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m; done

deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf build $(TOOLS)

# Extra rules (bench, demo, ...) live in mk/*.mk.
-include $(wildcard mk/*.mk)
