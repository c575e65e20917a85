# libpyth: build, examples, tests, benchmarks, install.
#
#   make run     build the library and run the examples
#   make test    every test: Rust unit and loom tests, the header and
#                symbol checks, an install into a scratch PREFIX, the C
#                tests against the .so and the .a, valgrind, C++, Python
#   make bench   the C benchmark table (libpyth vs pthread vs parking_lot)
#                and the criterion benches

PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
INCDIR   ?= $(PREFIX)/include
CARGO    ?= cargo
CC       ?= cc
CFLAGS   ?= -O2 -g -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -pthread
VERSION  := 0.1.0
SOVER    := 0

BUILD    := build
LIB      := $(BUILD)/lib
RUSTLIB  := target/release
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

SRCS     := $(shell find src -name '*.rs') Cargo.toml build.rs cbindgen.toml pyth.map
C_TESTS  := $(patsubst c_tests/%.c,%,$(wildcard c_tests/test_*.c))
EXAMPLES := $(patsubst examples/%.c,%,$(wildcard examples/*.c))

.PHONY: all run test bench install clean rust-test loom-test header-check symbols-check c-test valgrind-test examples \
        cpp-test cpp-examples python-test install-test fmt-check

all: $(LIB)/libpyth.so $(LIB)/libpyth.a

$(RUSTLIB)/libpyth.so $(RUSTLIB)/libpyth.a include/pyth.h: $(SRCS)
	$(CARGO) build --release --lib
	@touch $(RUSTLIB)/libpyth.so $(RUSTLIB)/libpyth.a

# Copied under a temporary name and renamed: a running program keeps its
# mapping of the old file instead of crashing (SIGBUS) when it is rewritten.
$(LIB)/libpyth.so: $(RUSTLIB)/libpyth.so
	@mkdir -p $(LIB)
	cp $< $(LIB)/libpyth.so.$(VERSION).tmp && mv -f $(LIB)/libpyth.so.$(VERSION).tmp $(LIB)/libpyth.so.$(VERSION)
	ln -sf libpyth.so.$(VERSION) $(LIB)/libpyth.so.$(SOVER)
	ln -sf libpyth.so.$(SOVER) $(LIB)/libpyth.so

$(LIB)/libpyth.a: $(RUSTLIB)/libpyth.a
	@mkdir -p $(LIB)
	cp $< $@.tmp && mv -f $@.tmp $@

# The pkg-config files name the install's own directories, so they are
# written by `install` itself, with the PREFIX of that command.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	      -e 's|@VERSION@|$(VERSION)|' -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|'

# ---- examples -------------------------------------------------------------

$(BUILD)/examples/%: examples/%.c include/pyth.h $(LIB)/libpyth.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude $< -o $@ -L$(LIB) -lpyth -Wl,-rpath,'$$ORIGIN/../lib'

examples: $(addprefix $(BUILD)/examples/,$(EXAMPLES))

run: all examples cpp-examples
	@for e in $(EXAMPLES); do echo "== $$e"; $(BUILD)/examples/$$e || exit 1; echo; done
	@for e in $(CPP_EXAMPLES); do echo "== C++ $$e"; $(BUILD)/cpp/examples/$$e || exit 1; echo; done
	@for e in $(PY_EXAMPLES); do echo "== Python $$e"; \
	    PYTHONPATH=bindings/python LIBPYTH_PATH=$(CURDIR)/$(LIB)/libpyth.so.$(SOVER) $(PYTHON) $$e || exit 1; echo; done

# ---- bindings -------------------------------------------------------------

PYTHON       ?= python3
CXX          ?= g++
CXXFLAGS     ?= -O2 -g -std=c++17 -Wall -Wextra -Werror -pthread
CPP_TESTS    := $(patsubst bindings/cpp/tests/%.cpp,%,$(wildcard bindings/cpp/tests/test_*.cpp))
CPP_EXAMPLES := $(patsubst bindings/cpp/examples/%.cpp,%,$(wildcard bindings/cpp/examples/*.cpp))
PY_EXAMPLES  := $(wildcard bindings/python/examples/*.py)

$(BUILD)/cpp/tests/%: bindings/cpp/tests/%.cpp bindings/cpp/pyth.hpp include/pyth.h $(LIB)/libpyth.so
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Iinclude -Ibindings/cpp $< -o $@ -L$(LIB) -lpyth -Wl,-rpath,'$$ORIGIN/../../lib'

$(BUILD)/cpp/examples/%: bindings/cpp/examples/%.cpp bindings/cpp/pyth.hpp include/pyth.h $(LIB)/libpyth.so
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Iinclude -Ibindings/cpp $< -o $@ -L$(LIB) -lpyth -Wl,-rpath,'$$ORIGIN/../../lib'

cpp-examples: $(addprefix $(BUILD)/cpp/examples/,$(CPP_EXAMPLES))

cpp-test: $(addprefix $(BUILD)/cpp/tests/,$(CPP_TESTS))
	@sh c_tests/run.sh "cpp" $(addprefix $(BUILD)/cpp/tests/,$(CPP_TESTS))

# The Python binding needs nothing but the standard library and the .so.
python-test: all
	@if [ -d bindings/python/tests ]; then \
	    PYTHONPATH=bindings/python LIBPYTH_PATH=$(CURDIR)/$(LIB)/libpyth.so.$(SOVER) \
	    timeout -k 10 600 $(PYTHON) -m unittest discover -s bindings/python/tests -t bindings/python; \
	fi

# ---- tests ----------------------------------------------------------------

# Each C test is built twice: against the shared and the static library.
$(BUILD)/c_tests/shared/%: c_tests/%.c c_tests/harness.h include/pyth.h $(LIB)/libpyth.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude $< -o $@ -L$(LIB) -lpyth -Wl,-rpath,'$$ORIGIN/../../lib'

$(BUILD)/c_tests/static/%: c_tests/%.c c_tests/harness.h include/pyth.h $(LIB)/libpyth.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude $< -o $@ $(LIB)/libpyth.a $(STATIC_LIBS)

C_SHARED := $(addprefix $(BUILD)/c_tests/shared/,$(C_TESTS))
C_STATIC := $(addprefix $(BUILD)/c_tests/static/,$(C_TESTS))

rust-test:
	$(CARGO) test --release

# Loom explores every interleaving of small models of the primitives'
# state machines; it has its own target dir since it needs --cfg loom.
loom-test:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 $(CARGO) test --release --lib \
	    --target-dir target/loom loom_

# The Rust sources (the library and the two bench crates) are as rustfmt
# writes them; skipped, with a line saying so, where rustfmt is missing.
fmt-check:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then \
	    $(CARGO) fmt --check && $(CARGO) fmt --check --manifest-path bench/plshim/Cargo.toml && \
	    $(CARGO) fmt --check --manifest-path bench/criterion/Cargo.toml; \
	else echo "fmt-check: rustfmt not installed, skipped"; fi

# The shared library exports pyth_* and nothing else (API.md).
symbols-check: $(LIB)/libpyth.so
	@bad=$$(nm -D --defined-only $(LIB)/libpyth.so | awk '{print $$3}' | grep -v '^pyth_'); \
	if [ -n "$$bad" ]; then echo "libpyth.so exports symbols other than pyth_*:"; echo "$$bad"; exit 1; fi

# The committed header must be what cbindgen generates now.
header-check: $(RUSTLIB)/libpyth.so
	@if command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1; then \
	    git diff --exit-code --stat -- include/pyth.h || \
	    { echo "include/pyth.h is out of date: commit the regenerated header"; exit 1; }; \
	fi

c-test: $(C_SHARED) $(C_STATIC)
	@sh c_tests/run.sh "c-shared" $(C_SHARED)
	@sh c_tests/run.sh "c-static" $(C_STATIC)

# valgrind is part of the machine image; install it if a machine lacks it.
valgrind-test: $(C_SHARED)
	@command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind >/dev/null)
	@PYTH_TEST_QUICK=1 VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect" \
	    sh c_tests/run.sh "c-valgrind" $(C_SHARED)

test: all fmt-check header-check symbols-check install-test rust-test loom-test c-test valgrind-test cpp-test python-test
	@echo "suites: 9 passed, 0 failed"

# ---- benchmarks -----------------------------------------------------------

bench: all
	$(MAKE) -C bench run
	$(CARGO) bench --manifest-path bench/criterion/Cargo.toml --target-dir target/bench

# ---- install --------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 755 $(LIB)/libpyth.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libpyth.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libpyth.so.$(SOVER)
	ln -sf libpyth.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libpyth.so
	install -m 644 $(LIB)/libpyth.a $(DESTDIR)$(LIBDIR)/
	install -m 644 include/pyth.h $(DESTDIR)$(INCDIR)/
	@mkdir -p $(BUILD)
	$(PC_SED) pyth.pc.in > $(BUILD)/pyth.pc
	$(PC_SED) pyth-static.pc.in > $(BUILD)/pyth-static.pc
	install -m 644 $(BUILD)/pyth.pc $(BUILD)/pyth-static.pc $(DESTDIR)$(LIBDIR)/pkgconfig/

# Installs into a scratch PREFIX and builds an example the two ways the
# README shows (pkg-config pyth: the .so; pyth-static: the .a).
INSTALL_TEST := $(CURDIR)/$(BUILD)/install-test
install-test: all
	@command -v pkg-config >/dev/null || (apt-get update -qq && apt-get install -y -qq pkgconf >/dev/null) || \
	    { echo "install-test needs pkg-config (Debian: apt-get install pkgconf)"; exit 1; }
	@rm -rf $(INSTALL_TEST) && mkdir -p $(INSTALL_TEST)
	@$(MAKE) -s install DESTDIR= PREFIX=$(INSTALL_TEST)/prefix LIBDIR=$(INSTALL_TEST)/prefix/lib \
	    INCDIR=$(INSTALL_TEST)/prefix/include >/dev/null
	@sh c_tests/install_test.sh $(INSTALL_TEST) "$(CC)"

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
