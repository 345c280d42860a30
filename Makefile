# aggregatord — plain GNU make, pkg-config for every library.
#
#   make                 build build/aggregatord and build/aggregatorctl
#   make check           install missing packages, unit + integration tests
#   make demo            install missing packages, run a throwaway demo
#   make bench           benchmarks (figures beside same-run baselines)
#   make fuzz            fuzz the usage file decoder (clang, libFuzzer) for FUZZ_SECONDS
#   make install         PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined check    (separate build dir)
#   make V=1             show the commands

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR   ?= /lib/systemd/system

CC        ?= cc
PKG_CONFIG ?= pkg-config
PKGS      := libevent libevent_pthreads libconfig libpcre2-8 hiredis rdkafka zlib libmariadb \
             xlsxwriter
CHECK_PKGS := check

BUILD     := build$(if $(SANITIZE),-san)

WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat-security -Wformat=2 -Wpointer-arith -Wvla
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE $(WARN) -MMD -MP -Iinclude \
             -DAGG_VERSION='"$(VERSION)"' -pthread
LDFLAGS   += -pthread
ifneq ($(SANITIZE),)
CFLAGS    += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=$(SANITIZE)
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(CHECK_PKGS) 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs $(CHECK_PKGS) 2>/dev/null)
RDKAFKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags rdkafka 2>/dev/null)
RDKAFKA_LIBS   := $(shell $(PKG_CONFIG) --libs rdkafka 2>/dev/null)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

# Everything but the two mains goes into one static library.
LIB_SRCS := \
	src/addr.c \
	src/buf.c \
	src/config.c \
	src/elect.c \
	src/export.c \
	src/gateq.c \
	src/http.c \
	src/httpc.c \
	src/influx.c \
	src/jobs.c \
	src/json.c \
	src/log.c \
	src/loop.c \
	src/notify.c \
	src/offload.c \
	src/publish.c \
	src/radacct.c \
	src/redisc.c \
	src/role.c \
	src/rollup.c \
	src/rules.c \
	src/status.c \
	src/sweep.c \
	src/tally.c \
	src/thread.c \
	src/totalizer.c \
	src/totals.c \
	src/usage_capnp.c \
	src/worker.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libagg.a

DAEMON   := $(BUILD)/aggregatord
CTL      := $(BUILD)/aggregatorctl
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BIN := $(BUILD)/check_unit
HARNESS_BINS := tests/harness/kafka_mock tests/harness/htool tests/harness/udp_blast \
                tests/harness/hflood

.PHONY: all check unit integration bench demo install uninstall clean deps harness fuzz
all: $(DAEMON) $(CTL)

$(BUILD)/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(DAEMON): $(BUILD)/src/main.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(CTL): $(BUILD)/src/aggregatorctl.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(UNIT_BIN): $(UNIT_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

# The totals query driver links the library under test (sanitized with it).
$(BUILD)/totals_cli: $(BUILD)/tests/harness/totals_cli.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The InfluxDB query driver (rollup of one hour, or the read-only floor).
$(BUILD)/influx_cli: $(BUILD)/tests/harness/influx_cli.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The usage file codec driver (encode, decode, zlib) for the interop tests.
$(BUILD)/usage_cli: $(BUILD)/tests/harness/usage_cli.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_core: $(BUILD)/bench/bench_core.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_publish: $(BUILD)/bench/bench_publish.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Test tools: plain builds, never sanitized (they are not under test).
tests/harness/kafka_mock: tests/harness/kafka_mock.c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $< $(RDKAFKA_CFLAGS) $(RDKAFKA_LIBS)

tests/harness/htool: tests/harness/htool.c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

tests/harness/hflood: tests/harness/hflood.c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

# The synthetic log source and load generator, shared by tests and bench.
tests/harness/udp_blast: bench/udp_blast.c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

harness: $(HARNESS_BINS)

deps:
	@scripts/deps.sh

unit: $(UNIT_BIN)
	$(Q)CK_DEFAULT_TIMEOUT=20 $(UNIT_BIN)

integration: all harness $(BUILD)/totals_cli $(BUILD)/influx_cli $(BUILD)/usage_cli
	$(Q)AGG_BUILD=$(BUILD) tests/integration/run.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all harness $(UNIT_BIN) $(BUILD)/totals_cli $(BUILD)/influx_cli $(BUILD)/usage_cli
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory integration

bench: deps
	$(Q)$(MAKE) --no-print-directory all harness $(BUILD)/bench_core $(BUILD)/bench_publish $(BUILD)/influx_cli
	$(Q)AGG_BUILD=$(BUILD) bench/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all harness
	$(Q)AGG_BUILD=$(BUILD) scripts/demo.sh

# Fuzzing (clang's libFuzzer with ASan and UBSan): the decoder of the usage
# files, built apart from the rest with its own flags.  New inputs go to
# build/fuzz/corpus (seeded from tests/fuzz/corpus/usage, which keeps the
# hand-picked ones), crashes to build/fuzz/crash-*.  The decoder's limits are
# scaled down 32x (the same code paths, each input decoded in microseconds
# rather than a 64 MiB message in seconds); the unit tests cover the real ones.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) \
                -Wno-format-nonliteral -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -DUSAGE_MAX_RAW='(2u << 20)' -DUSAGE_TRAVERSAL_WORDS='(256u << 10)' \
                -DUSAGE_MAX_DECODED='(4u << 20)'

$(FUZZ_DIR)/fuzz_usage: tests/fuzz/fuzz_usage.c src/usage_capnp.c src/buf.c include/usage.h include/buf.h
	$(call msg,FUZZCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_usage.c src/usage_capnp.c src/buf.c \
		$(shell $(PKG_CONFIG) --libs zlib)

fuzz: $(FUZZ_DIR)/fuzz_usage
	@mkdir -p $(FUZZ_DIR)/corpus
	$(Q)$(FUZZ_DIR)/fuzz_usage -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus tests/fuzz/corpus/usage

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/aggregatord $(DESTDIR)$(UNITDIR)
	install -m 0755 $(DAEMON) $(CTL) $(DESTDIR)$(BINDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/aggregatord/aggregatord.conf || \
		install -m 0640 conf/aggregatord.conf $(DESTDIR)$(SYSCONFDIR)/aggregatord/aggregatord.conf
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/etc/aggregatord/|$(SYSCONFDIR)/aggregatord/|g' \
		systemd/aggregatord.service > $(DESTDIR)$(UNITDIR)/aggregatord.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/aggregatord.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/aggregatord $(DESTDIR)$(BINDIR)/aggregatorctl \
		$(DESTDIR)$(UNITDIR)/aggregatord.service

clean:
	rm -rf build build-san $(HARNESS_BINS)

-include $(shell find build build-san -name '*.d' 2>/dev/null)
