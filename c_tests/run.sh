#!/bin/sh
# Runs test programs, each under a time limit, and prints one closing line
# "LABEL: N passed, N failed". $VALGRIND, if set, prefixes each command.
label=$1; shift
passed=0; failed=0; failures=""
for t in "$@"; do
    if timeout -k 5 300 $VALGRIND "$t" > "$t.log" 2>&1; then
        passed=$((passed + 1))
    else
        rc=$?
        failed=$((failed + 1)); failures="$failures $t"
        echo "FAIL ($rc): $t"; tail -n 30 "$t.log"
    fi
done
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
