# parley - build, test, install.  Needs only gcc (or cc) and make.
#   make            the programs, libparley.a, libparley.so and the examples, in build/
#   make run        build, then serve on port 1234 (IPv4 and IPv6)
#   make test       build and run every test; ends with "N passed, N failed"
#   make asan       the same tests against an ASan+UBSan build (in build-asan/)
#   make tsan       the tests that run threads against a TSan build (in build-tsan/)
#   make valgrind   the integration tests with the programs under valgrind memcheck
#   make bench      W1..W7 against parley, Redis and a blocking floor, then U1..U4 over
#                   UDP against a recvfrom/sendto floor (docs/BENCHMARKS.md)
#   make install    PREFIX=/usr/local DESTDIR=  (make uninstall removes exactly that)

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
LIBDIR  := $(PREFIX)/lib
INCDIR  := $(PREFIX)/include
MANDIR  := $(PREFIX)/share/man
COMPDIR := $(PREFIX)/share/bash-completion/completions
VERSION := $(shell sed -n 's/^\#define PARLEY_VERSION "\(.*\)"/\1/p' include/parley/version.h)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
GITREV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
OPT     ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude $(OPT) \
           -DPARLEY_GIT_REV='"$(GITREV)"' -MMD -MP
LDLIBS  += -lm -pthread

# TLS with OpenSSL 3 when pkg-config finds it (Debian: libssl-dev); TLS=0 builds without.
TLS ?= $(shell pkg-config --atleast-version=3.0 openssl 2>/dev/null && echo 1 || echo 0)
ifeq ($(TLS),1)
CFLAGS  += -DPL_HAVE_TLS $(shell pkg-config --cflags openssl)
LDLIBS  += $(shell pkg-config --libs openssl)
else
ifeq ($(MAKELEVEL),0)
$(info parley: building without TLS (TLS=0, or no OpenSSL 3 for pkg-config; Debian: apt-get install libssl-dev))
endif
endif

LIB_SRC  := $(wildcard src/lib/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
PIC_OBJ  := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
SONAME   := libparley.so.$(MAJOR)
SHLIB    := $(BUILD)/libparley.so.$(VERSION)
CLI_OBJ  := $(BUILD)/obj/src/cli.o $(BUILD)/obj/src/cli_acl.o $(BUILD)/obj/src/cli_tls.o \
            $(BUILD)/obj/src/log.o
PROGS    := $(BUILD)/parley-server $(BUILD)/parley-client $(BUILD)/parley-bench
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
UNIT_SRC := $(wildcard tests/unit_*.c)
UNITS    := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%)
HELPERS  := $(BUILD)/tests/rawpeer $(BUILD)/tests/dgrampeer $(BUILD)/tests/textbook-server $(BUILD)/tests/textbook-client \
            $(BUILD)/tests/faultshim.so
HEADERS  := $(wildcard include/parley/*.h)
MAN1     := $(wildcard man/*.1)
MAN7     := $(wildcard man/*.7)

.PHONY: all run test asan tsan clean bench install uninstall fuzz valgrind lint
.SECONDARY:
all: $(BUILD)/libparley.a $(SHLIB) $(PROGS) $(EXAMPLES) $(UNITS) $(HELPERS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/libparley.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHLIB): $(PIC_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

# (objects before the library: a program's extra objects, below, use it too)
$(BUILD)/parley-%: $(BUILD)/obj/src/parley-%.o $(CLI_OBJ) $(BUILD)/libparley.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS)

# parley-client's stdout and its datagram side, parley-bench's datagram side
$(BUILD)/parley-client: $(BUILD)/obj/src/client_out.o $(BUILD)/obj/src/client_dgram.o
$(BUILD)/parley-bench: $(BUILD)/obj/src/bench_dgram.o

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/rawpeer: $(BUILD)/obj/tests/rawpeer.o $(CLI_OBJ) $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/dgrampeer: $(BUILD)/obj/tests/dgrampeer.o $(CLI_OBJ) $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# no sanitizer flags: it is preloaded into programs built either way
$(BUILD)/tests/faultshim.so: tests/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -shared -fPIC -o $@ $< -ldl

$(BUILD)/tests/textbook-%: tests/textbook/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/libparley.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/floor: bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $<

$(BUILD)/bench/udpfloor: bench/udpfloor.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

valgrind:
	@bash tests/valgrind.sh

lint:
	@bash tests/lint.sh

FUZZ_SECONDS ?= 60
fuzz:
	@bash fuzz/run.sh $(FUZZ_SECONDS)

run: $(PROGS)
	$(BUILD)/parley-server

test: all
	@BUILD=$(BUILD) bash tests/run.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test

# ThreadSanitizer needs every object built with it, so a tree of its own;
# tests/tsan.sh picks the threaded tests and copes with ASLR TSan cannot use.
tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g -fsanitize=thread" \
	  LDFLAGS="-fsanitize=thread" all
	@bash tests/tsan.sh

bench: all $(BUILD)/bench/floor $(BUILD)/bench/udpfloor
	@BUILD=$(BUILD) bash bench/run.sh $(BENCH_ARGS)
	@BUILD=$(BUILD) bash bench/udp.sh

# The list of what install writes, so uninstall removes exactly that.
INSTALLED = $(BINDIR)/parley-server $(BINDIR)/parley-client $(BINDIR)/parley-bench \
	$(LIBDIR)/libparley.a $(LIBDIR)/libparley.so.$(VERSION) $(LIBDIR)/$(SONAME) \
	$(LIBDIR)/libparley.so $(LIBDIR)/pkgconfig/parley.pc \
	$(HEADERS:include/%=$(INCDIR)/%) \
	$(MAN1:man/%=$(MANDIR)/man1/%) $(MAN7:man/%=$(MANDIR)/man7/%) \
	$(COMPDIR)/parley-server $(COMPDIR)/parley-client $(COMPDIR)/parley-bench

# parley.pc is written from the PREFIX of this install, never kept in $(BUILD):
# a file there would depend on files only, and ship the PREFIX of an earlier
# install (make test installs with PREFIX=/opt/parley-test).
install: $(PROGS) $(BUILD)/libparley.a $(SHLIB) contrib/parley.pc.in
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/parley \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(COMPDIR)
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(BUILD)/libparley.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libparley.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libparley.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	  -e '$(if $(filter 1,$(TLS)),s|^@REQUIRES@|Requires.private: openssl|,/^@REQUIRES@/d)' \
	  contrib/parley.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/parley.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/parley.pc
	install -m 644 $(HEADERS) $(DESTDIR)$(INCDIR)/parley/
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	install -m 644 contrib/parley.bash-completion $(DESTDIR)$(COMPDIR)/parley-server
	ln -sf parley-server $(DESTDIR)$(COMPDIR)/parley-client
	ln -sf parley-server $(DESTDIR)$(COMPDIR)/parley-bench

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(INCDIR)/parley 2>/dev/null

# every build tree: build, build-asan, build-tsan, build-fuzz, build-valgrind
# and any other BUILD=build-* one
clean:
	rm -rf build $(wildcard build-*/)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
