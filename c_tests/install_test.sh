#!/bin/sh
# `make install` into a scratch PREFIX, then an example built against the
# install the two ways README.md shows: with pkg-config's `pyth` (the .so)
# and `pyth-static` (the .a). Usage: install_test.sh DIR CC
set -u
dir=$1; cc=$2
prefix=$dir/prefix
lib=$prefix/lib
fail() { echo "install-test: FAIL: $*"; exit 1; }

[ "$(readlink "$lib/libpyth.so")" = libpyth.so.0 ] || fail "libpyth.so does not point to libpyth.so.0"
[ -f "$lib/libpyth.so.0" ] || fail "no libpyth.so.0"
[ -f "$lib/libpyth.a" ] || fail "no libpyth.a"
readelf -d "$lib/libpyth.so.0" | grep -q 'SONAME.*\[libpyth\.so\.0\]' || fail "soname is not libpyth.so.0"
cmp -s "$prefix/include/pyth.h" include/pyth.h || fail "installed pyth.h differs from include/pyth.h"

export PKG_CONFIG_PATH=$lib/pkgconfig
[ "$(pkg-config --variable=prefix pyth)" = "$prefix" ] || fail "pyth.pc names prefix $(pkg-config --variable=prefix pyth), not $prefix"
[ "$(pkg-config --variable=prefix pyth-static)" = "$prefix" ] || fail "pyth-static.pc names the wrong prefix"

# Built outside the tree, so only the installed header and libraries can
# be found.
cp examples/counter.c "$dir/app.c"
cd "$dir" || fail "cd $dir"
# shellcheck disable=SC2046
$cc app.c $(pkg-config --cflags --libs pyth) -o app-shared || fail "build against pyth.pc"
LD_LIBRARY_PATH=$lib ldd ./app-shared | grep -qF "$lib/libpyth.so.0" || fail "app-shared does not load $lib/libpyth.so.0"
out=$(LD_LIBRARY_PATH=$lib timeout 60 ./app-shared) || fail "app-shared exited with $?"
printf "%s\n" "$out" | grep -q "counter = 500000" || fail "app-shared printed: $out"

# shellcheck disable=SC2046
$cc app.c $(pkg-config --cflags --libs pyth-static) -o app-static || fail "build against pyth-static.pc"
if readelf -d app-static | grep NEEDED | grep -q libpyth; then fail "app-static needs libpyth.so"; fi
out=$(timeout 60 ./app-static) || fail "app-static exited with $?"
printf "%s\n" "$out" | grep -q "counter = 500000" || fail "app-static printed: $out"

echo "install-test: passed (shared and static builds against $prefix)"
