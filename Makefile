# aggregatord — plain GNU make, pkg-config for every library.
#
#   make                 build build/aggregatord and build/aggregatorctl
#   make check           install missing packages, unit + integration tests
#   make demo            install missing packages, run a throwaway demo
#   make bench           benchmarks (figures beside same-run baselines)
#   make fuzz-smoke      a short run of every fuzz target (part of make check)
#   make fuzz            fuzz the parsers that read files and the network (clang,
#                        libFuzzer): FUZZ_SECONDS each
#   make install         PREFIX=/usr/local DESTDIR= (layout: docs/operations.md; also
#                        the man pages, MANDIR=, and the bash completion, BASHCOMPDIR=)
#   make man-lint        mandoc -Tlint, and the man pages hold every key and option
#   make kit-check       the operator's kit: completion, alert rules, example configs
#   make bench-smoke     the bench's in-process tool runs (part of make check)
#   make deb             the Debian package, in build/deb/ (debian/, dpkg-buildpackage)
#   make check-deb       build the package and inspect it (lintian, hardening-check;
#                        part of make check)
#   make SANITIZE=address,undefined check    (separate build dir)
#   make coverage        make check on a gcov build (build-cov/), then line and
#                        branch coverage per file and per group (gcovr)
#   make V=1             show the commands

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
DOCDIR    ?= $(PREFIX)/share/doc/aggregatord
SYSCONFDIR ?= /etc
# systemd reads these three only under /lib and /usr/lib, whatever PREFIX
UNITDIR   ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d

CC        ?= cc
PKG_CONFIG ?= pkg-config
PKGS      := libevent libevent_pthreads libconfig libpcre2-8 hiredis rdkafka zlib libmariadb \
             xlsxwriter
CHECK_PKGS := check

BUILD     := build$(if $(SANITIZE),-san)$(if $(COVERAGE),-cov)
GROUPS    := core publish election totalizer sweep rollup daemon ctl
INCDIRS   := $(addprefix -Iinclude/,$(GROUPS))

WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat-security -Wformat=2 -Wpointer-arith -Wvla
# CPPFLAGS, CFLAGS and LDFLAGS from the environment or the command line
# (dpkg-buildflags' hardening in the package) reach every object and link.
CFLAGS    ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) -MMD -MP $(INCDIRS) \
             -DAGG_VERSION='"$(VERSION)"' -pthread
override LDFLAGS += -pthread
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
endif
# make coverage: gcov counters (atomic: the daemon is threaded), unoptimised
# so that lines and branches are the source's; _exit goes through a wrapper
# that writes the counters first (the daemon's exit with a thread left behind).
ifneq ($(COVERAGE),)
override CFLAGS += -O0 --coverage -fprofile-update=atomic
override LDFLAGS += --coverage -Wl,--wrap=_exit,-u,__wrap__exit
LIB_EXTRA := tests/harness/cov_exit.c
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lm
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

# Sources by group, one folder each under src/ (headers mirror them under
# include/).  Everything but the two mains goes into one static library.

# core: the libraries every group stands on: config engine, HTTP server and
# client, role state, threads and workers, logging, systemd notify, helpers
CORE_SRCS := \
	src/core/config.c \
	src/core/http.c \
	src/core/role.c \
	src/core/notify.c \
	src/core/thread.c \
	src/core/log.c \
	src/core/worker.c \
	src/core/offload.c \
	src/core/buf.c \
	src/core/json.c \
	src/core/addr.c \
	src/core/redisc.c \
	src/core/httpc.c \
	src/core/fsutil.c \
	src/core/prom.c \
	src/core/smap.c
# publish: the one Kafka producer queue, gated by the role, and its spool
PUBLISH_SRCS := \
	src/publish/publish.c \
	src/publish/publish_metrics.c \
	src/publish/spool.c \
	src/publish/gateq.c \
	src/publish/unelect.c
# election: the Redis-based active/standby election
ELECTION_SRCS := \
	src/election/elect.c \
	src/election/elect_redis.c \
	src/election/elect_epoch.c \
	src/election/elect_decide.c
# totalizer: UDP lines -> rules -> per-thread tallies -> Redis; the totals query
TOTALIZER_SRCS := \
	src/totalizer/totalizer.c \
	src/totalizer/totalizer_rx.c \
	src/totalizer/totalizer_flush.c \
	src/totalizer/totalizer_held.c \
	src/totalizer/totalizer_http.c \
	src/totalizer/totalizer_test_rules.c \
	src/totalizer/rules.c \
	src/totalizer/tally.c \
	src/totalizer/totals.c \
	src/totalizer/window.c
# sweep: radacct rows from the members into master
SWEEP_SRCS := \
	src/sweep/sweep.c \
	src/sweep/sweep_move.c \
	src/sweep/sweep_stale.c \
	src/sweep/sweep_events.c \
	src/sweep/sweep_db.c \
	src/sweep/sweep_load.c \
	src/sweep/radacct.c \
	src/sweep/ra_seen.c
# rollup: hourly usage from InfluxDB into Cap'n Proto files; the master merge
ROLLUP_SRCS := \
	src/rollup/rollup.c \
	src/rollup/rollup_store.c \
	src/rollup/rollup_location.c \
	src/rollup/rollup_master.c \
	src/rollup/rollup_http.c \
	src/rollup/rollup_hours.c \
	src/rollup/influx.c \
	src/rollup/influx_query.c \
	src/rollup/influx_parse.c \
	src/rollup/vm_hour.c \
	src/rollup/usage_capnp.c
# daemon: what assembles core, publish and the jobs into aggregatord: the job
# table, the loop (signals, reload, watchdog), the status routes (main.c is
# the daemon's main)
DAEMON_SRCS := \
	src/daemon/jobs.c \
	src/daemon/loop.c \
	src/daemon/status.c
# ctl: aggregatorctl, the command-line client
CTL_SRCS := \
	src/ctl/export.c

LIB_SRCS := $(CORE_SRCS) $(PUBLISH_SRCS) $(ELECTION_SRCS) \
	$(TOTALIZER_SRCS) $(SWEEP_SRCS) $(ROLLUP_SRCS) $(DAEMON_SRCS) $(CTL_SRCS) $(LIB_EXTRA)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libagg.a

DAEMON   := $(BUILD)/aggregatord
CTL      := $(BUILD)/aggregatorctl
UNIT_SRCS := $(wildcard tests/unit/*.c tests/unit/*/*.c)
UNIT_BIN := $(BUILD)/check_unit
$(UNIT_SRCS:%.c=$(BUILD)/%.o): override CPPFLAGS += -Itests/unit
HARNESS_BINS := tests/harness/kafka_mock tests/harness/htool tests/harness/udp_blast \
                tests/harness/faultproxy tests/harness/hflood tests/harness/syncwatch.so

.PHONY: all check unit integration bench demo install uninstall clean deps harness fuzz fuzz-smoke \
	install-man uninstall-man man-lint kit-check bench-smoke deb check-deb coverage
all: $(DAEMON) $(CTL)

$(BUILD)/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(DAEMON): $(BUILD)/src/daemon/main.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# aggregatorctl is a small client: it links the client side of core (config
# file, JSON, HTTP client), the offline export and the usage codec, and none
# of the daemon's server libraries (librdkafka, MariaDB, hiredis, libevent,
# PCRE2).
CTL_DEPS := src/core/config.c src/core/addr.c src/core/log.c src/core/buf.c src/core/json.c \
	src/core/httpc.c src/core/role.c src/rollup/usage_capnp.c $(CTL_SRCS)
CTL_PKGS := libconfig zlib xlsxwriter
$(CTL): $(BUILD)/src/ctl/aggregatorctl.o $(CTL_DEPS:%.c=$(BUILD)/%.o)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs $(CTL_PKGS))

# The unit binary's allocations go through the failure injector
# (tests/unit/failalloc.c; off unless a test arms it; check's _mark_point,
# called by every passing assertion, allocates unfailed).
UNIT_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup \
	-Wl,--wrap=asprintf,--wrap=getline,--wrap=_mark_point
$(UNIT_BIN): $(UNIT_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $(UNIT_WRAP) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

# The totals query driver links the library under test (sanitized with it).
$(BUILD)/totals_cli: $(BUILD)/tests/harness/totals_cli.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The sweep's out-of-memory driver: one --once cycle with the Nth allocation
# failing (the unit binary's injector and --wrap flags; check for its symbols).
$(BUILD)/sweep_oom: $(BUILD)/tests/harness/sweep_oom.o $(BUILD)/tests/unit/failalloc.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $(UNIT_WRAP) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)
$(BUILD)/tests/harness/sweep_oom.o: override CPPFLAGS += -Itests/unit

# The InfluxDB query driver (rollup of one hour, or the read-only floor).
$(BUILD)/influx_cli: $(BUILD)/tests/harness/influx_cli.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The usage file codec driver (encode, decode, zlib) for the interop tests.
$(BUILD)/usage_cli: $(BUILD)/tests/harness/usage_cli.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Every config key the code accepts, one path a line (the man page test):
# linked with --wrap to see the nested tables the jobs keep static.
$(BUILD)/cfg_keys: $(BUILD)/tests/harness/cfg_keys.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -Wl,--wrap=cfg_parse_section,--wrap=cfg_parse_list -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_core: $(BUILD)/bench/bench_core.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_publish: $(BUILD)/bench/bench_publish.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The totalizer's per-line work in process (the rules, the tally), in CPU ns.
$(BUILD)/rules_cost: $(BUILD)/bench/rules_cost.o $(LIB)
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

tests/harness/faultproxy: tests/harness/faultproxy.c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

tests/harness/syncwatch.so: tests/harness/syncwatch.c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -shared -fPIC -o $@ $< -ldl

# The synthetic log source and load generator, shared by tests and bench.
tests/harness/udp_blast: bench/udp_blast.c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

harness: $(HARNESS_BINS)

deps:
	@scripts/deps.sh

unit: $(UNIT_BIN)
	$(Q)CK_DEFAULT_TIMEOUT=20 $(UNIT_BIN)

integration: all harness $(BUILD)/totals_cli $(BUILD)/influx_cli $(BUILD)/usage_cli $(BUILD)/sweep_oom
	$(Q)AGG_BUILD=$(BUILD) tests/integration/run.sh

check: deps
	$(Q)scripts/check-includes.sh
	$(Q)$(MAKE) --no-print-directory all harness $(UNIT_BIN) $(BUILD)/totals_cli $(BUILD)/influx_cli $(BUILD)/usage_cli \
		$(BUILD)/sweep_oom
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory man-lint kit-check bench-smoke
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory integration

# make coverage: make check on its own gcov build, build-cov/ (counters from
# this run only: the old ones are deleted first), then per-file line and
# branch coverage of src/ and the issue's groups beside the goal
# (scripts/coverage.py; the goal is reported, never fails the target; a
# failing test does, after the report).  The
# HTML pages: build-cov/coverage/index.html.
COV_DIR := build-cov
coverage: deps
	$(Q)find $(COV_DIR) -name '*.gcda' -delete 2>/dev/null || true
	$(Q)rc=0; $(MAKE) --no-print-directory COVERAGE=1 check || rc=$$?; \
	mkdir -p $(COV_DIR)/coverage && \
	gcovr -j 2 --root . --object-directory $(COV_DIR) --filter 'src/' \
		--exclude-unreachable-branches --json-summary-pretty -o $(COV_DIR)/coverage/summary.json \
		--html-details $(COV_DIR)/coverage/index.html && \
	scripts/coverage.py $(COV_DIR)/coverage/summary.json || rc=1; \
	[ $$rc = 0 ] || echo "coverage: make check failed (exit $$rc): the figures above are of what ran"; \
	exit $$rc

bench: deps
	$(Q)$(MAKE) --no-print-directory all harness $(BUILD)/bench_core $(BUILD)/bench_publish $(BUILD)/influx_cli \
		$(BUILD)/rules_cost
	$(Q)AGG_BUILD=$(BUILD) bench/run.sh

# The bench's in-process tools run (make check): rules_cost over a few lines
# with the bench's config, its three figures printed and its passes agreeing
# on the matches.  Not a speed test: nothing is asserted on the figures.
bench-smoke: $(BUILD)/rules_cost tests/harness/udp_blast
	$(Q)d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	bash -c '. bench/totalizer_bench.sh && totalizer_bench_conf "$$1/tz.conf" 9 9 9 "$$1/state"' _ "$$d" && \
	tests/harness/udp_blast --print -n 2000 > "$$d/lines" && \
	$(BUILD)/rules_cost "$$d/tz.conf" "$$d/lines" 1 1 > "$$d/out" && \
	awk '$$1 ~ /^(match|apply|tally)$$/ && $$2 > 0 { n++ } END { exit n != 3 }' "$$d/out" && \
	echo "bench-smoke: rules_cost runs: $$(awk '$$1 == "tally" { print $$2, $$3 }' "$$d/out") for the whole per-line work" || \
	{ cat "$$d/out" 2>/dev/null; echo "bench-smoke: rules_cost failed"; exit 1; }

demo: deps
	$(Q)$(MAKE) --no-print-directory all harness
	$(Q)AGG_BUILD=$(BUILD) scripts/demo.sh

# Fuzzing (clang's libFuzzer with ASan and UBSan): the decoder of the usage
# files and the totalizer rules (compile + apply), each built apart from the
# rest with its own flags and run for FUZZ_SECONDS.  New inputs go to
# build/fuzz/corpus and build/fuzz/corpus-rules (seeded from
# tests/fuzz/corpus/usage and .../rules, which keep the hand-picked ones),
# crashes to build/fuzz/crash-* and build/fuzz/rules-crash-*.  The decoder's limits are
# scaled down 32x (the same code paths, each input decoded in microseconds
# rather than a 64 MiB message in seconds); the unit tests cover the real ones.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -g -O1 -std=c11 -D_GNU_SOURCE $(INCDIRS) $(WARN) \
                -Wno-format-nonliteral -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -DUSAGE_MAX_RAW='(2u << 20)' -DUSAGE_TRAVERSAL_WORDS='(256u << 10)' \
                -DUSAGE_MAX_DECODED='(4u << 20)'

# Each target: its harness and the sources under test (never the daemon's
# I/O libraries: the parsers are pure).
FUZZ_usage_SRCS  := src/rollup/usage_capnp.c src/core/buf.c
FUZZ_usage_LIBS  := $(shell $(PKG_CONFIG) --libs zlib 2>/dev/null)
FUZZ_influx_SRCS := src/rollup/influx_parse.c src/rollup/vm_hour.c src/core/buf.c src/core/smap.c
FUZZ_json_SRCS   := src/core/json.c src/core/buf.c
FUZZ_rules_SRCS  := src/totalizer/rules.c src/core/buf.c
FUZZ_rules_FLAGS := $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null)
FUZZ_rules_LIBS  := $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null)
FUZZ_TARGETS     := usage influx json rules

.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_$$*_SRCS) $(wildcard include/*/*.h)
	$(call msg,FUZZCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_$*_FLAGS) -o $@ $< $(FUZZ_$*_SRCS) $(FUZZ_$*_LIBS) -lm

# Runs every target for FUZZ_SECONDS each; new inputs go to
# build/fuzz/corpus-NAME, crashes to build/fuzz/NAME-crash-*.
fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus-$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/$$t- $(FUZZ_DIR)/corpus-$$t tests/fuzz/corpus/$$t; \
	done

# A short run of every target (make check): FUZZ_SMOKE_SECONDS each, from the
# seed corpus, new inputs to a throwaway folder.
FUZZ_SMOKE_SECONDS ?= 8
fuzz-smoke: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		rm -rf $(FUZZ_DIR)/smoke-$$t; mkdir -p $(FUZZ_DIR)/smoke-$$t; \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=4096 \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/$$t- $(FUZZ_DIR)/smoke-$$t tests/fuzz/corpus/$$t \
			> $(FUZZ_DIR)/smoke-$$t.log 2>&1 || { tail -n 40 $(FUZZ_DIR)/smoke-$$t.log; \
			echo "fuzz: $$t failed (log: $(FUZZ_DIR)/smoke-$$t.log)"; exit 1; }; \
		printf 'fuzz: %-7s %s runs in %s s, no crash\n' $$t \
			"$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/smoke-$$t.log)" \
			$(FUZZ_SMOKE_SECONDS); \
	done

# The layout of docs/operations.md ("Installed layout").  The config is
# 0640 root:aggregatord: readable by the service's user and nobody else.  A
# real install (as root, no DESTDIR) creates that user with systemd-sysusers
# and the state directory with systemd-tmpfiles, as the Debian package's
# postinst does; a staged one (DESTDIR) leaves both, and the group of the
# config, to the target's package scripts, and says so.
CONF_FILE := $(SYSCONFDIR)/aggregatord/aggregatord.conf
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/aggregatord \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(CTL) $(DESTDIR)$(BINDIR)/
	test -e $(DESTDIR)$(CONF_FILE) || \
		install -m 0640 conf/aggregatord.conf $(DESTDIR)$(CONF_FILE)
	sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/aggregatord/|$(SYSCONFDIR)/aggregatord/|g' \
		systemd/aggregatord.service > $(DESTDIR)$(UNITDIR)/aggregatord.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/aggregatord.service
	install -m 0644 systemd/aggregatord.sysusers $(DESTDIR)$(SYSUSERSDIR)/aggregatord.conf
	install -m 0644 systemd/aggregatord.tmpfiles $(DESTDIR)$(TMPFILESDIR)/aggregatord.conf
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 conf/aggregatord.conf $(wildcard conf/examples/*.conf) $(DESTDIR)$(DOCDIR)/examples/
ifeq ($(DESTDIR),)
	@if [ "$$(id -u)" = 0 ]; then \
		echo "systemd-sysusers, systemd-tmpfiles --create, chgrp aggregatord $(CONF_FILE)"; \
		systemd-sysusers $(SYSUSERSDIR)/aggregatord.conf && \
		systemd-tmpfiles --create $(TMPFILESDIR)/aggregatord.conf && \
		chgrp aggregatord $(CONF_FILE) && chmod 0640 $(CONF_FILE); \
	else \
		echo "not root: as root, run systemd-sysusers and chgrp aggregatord $(CONF_FILE)"; \
	fi
else
	@echo "staged in $(DESTDIR): on the target, systemd-sysusers creates the user aggregatord," \
		"systemd-tmpfiles --create its /var/lib/aggregatord, and $(CONF_FILE) wants" \
		"group aggregatord (chgrp aggregatord; the Debian package's postinst does all three)"
endif

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/aggregatord $(DESTDIR)$(BINDIR)/aggregatorctl \
		$(DESTDIR)$(UNITDIR)/aggregatord.service $(DESTDIR)$(SYSUSERSDIR)/aggregatord.conf \
		$(DESTDIR)$(TMPFILESDIR)/aggregatord.conf
	rm -rf $(DESTDIR)$(DOCDIR)

# The Debian package (debian/), built from a copy of the source by
# dpkg-buildpackage into build/deb/.  check-deb runs only the package's test
# (tests/integration/test_deb.sh, part of make check): it builds the package
# in a temp dir and inspects it (contents, modes, maintainer scripts,
# lintian, hardening-check) without installing it.
DEB_DIR := build/deb
deb: deps
	$(Q)scripts/deb.sh $(VERSION) $(DEB_DIR)

check-deb: deps
	$(Q)AGG_BUILD=$(BUILD) tests/integration/run.sh tests/integration/test_deb.sh

# ---- man pages and bash completion: installed with `make install` ----
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
MAN_PAGES   := man/aggregatorctl.1 man/aggregatord.conf.5 man/aggregatord.8

install: install-man
install-man:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 man/aggregatorctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/aggregatord.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/aggregatord.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 contrib/bash-completion/aggregatorctl $(DESTDIR)$(BASHCOMPDIR)/aggregatorctl

uninstall: uninstall-man
uninstall-man:
	rm -f $(DESTDIR)$(MANDIR)/man1/aggregatorctl.1 $(DESTDIR)$(MANDIR)/man5/aggregatord.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/aggregatord.8 $(DESTDIR)$(BASHCOMPDIR)/aggregatorctl

# The man pages: mandoc's lint (warnings and worse; "referenced manual not
# found" is a style note that depends on what this machine has installed),
# then every config key, aggregatorctl command and option, and aggregatord
# option must be in them (tests/kit/check-man.sh).
man-lint: all $(BUILD)/cfg_keys
	$(Q)mandoc -Tlint -Wwarning $(MAN_PAGES)
	$(Q)tests/kit/check-man.sh $(BUILD)

# The operator's kit (contrib/, conf/examples/): the bash completion answers
# as it should, the alert rules pass `promtool check rules` and their unit
# tests (`promtool test rules`), every example config passes `aggregatord -n`,
# `make install` puts the man pages and the completion in place.
kit-check: all
	$(Q)tests/kit/check-completion.sh $(BUILD)
	$(Q)promtool check rules contrib/prometheus/aggregatord.rules.yml
	$(Q)cd contrib/prometheus && promtool test rules aggregatord.rules.test.yml
	$(Q)tests/kit/check-examples.sh $(BUILD)
	$(Q)tests/kit/check-install-kit.sh $(BUILD)

clean:
	rm -rf build build-san build-cov $(HARNESS_BINS)

-include $(shell find build build-san build-cov -name '*.d' 2>/dev/null)
