# parley - build, test, install.  Needs only gcc (or cc) and make.
#   make            build/parley-server, build/parley-client, build/libparley.a
#   make run        build, then serve on port 1234 (IPv4 and IPv6)
#   make test       build and run every test; ends with "N passed, N failed"
#   make asan       the same tests against an ASan+UBSan build (in build-asan/)

CC      ?= cc
BUILD   ?= build
VERSION := $(shell sed -n 's/^\#define PARLEY_VERSION "\(.*\)"/\1/p' include/parley/version.h)
GITREV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
OPT     ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude $(OPT) \
           -DPARLEY_GIT_REV='"$(GITREV)"' -MMD -MP
LDLIBS  += -lm

LIB_SRC  := $(wildcard src/lib/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(BUILD)/obj/src/cli.o
PROGS    := $(BUILD)/parley-server $(BUILD)/parley-client $(BUILD)/parley-bench
UNIT_SRC := $(wildcard tests/unit_*.c)
UNITS    := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%)
HELPERS  := $(BUILD)/tests/rawpeer $(BUILD)/tests/textbook-server $(BUILD)/tests/textbook-client

.PHONY: all run test asan clean bench
.SECONDARY:
all: $(BUILD)/libparley.a $(PROGS) $(UNITS) $(HELPERS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libparley.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/parley-%: $(BUILD)/obj/src/parley-%.o $(CLI_OBJ) $(BUILD)/libparley.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/rawpeer: $(BUILD)/obj/tests/rawpeer.o $(CLI_OBJ) $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/textbook-%: tests/textbook/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/bench/floor: bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $<

bench: all $(BUILD)/bench/floor
	@BUILD=$(BUILD) bash bench/run.sh $(BENCH_ARGS)

run: $(PROGS)
	$(BUILD)/parley-server

test: all
	@BUILD=$(BUILD) bash tests/run.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
