#!/bin/sh
# tests/bench/bench_libs.c built without oneDNN, XNNPACK or OpenBLAS (what
# `make check` builds): it compiles, times our kernel on made-up layers,
# checks it against ref_conv2d, and says what to install for a library it
# was built without.  The comparison itself is `make bench-libs`.
. "$(dirname "$0")/../tap.sh"
TOOLS=${CAM_TEST_TOOLS:-$TOP/build/rel/tools}
B=$TOOLS/bench_libs_ours
[ -x "$B" ] || skip_all "no $B (built by make check)"

# err_of LAYER: the largest error of ours printed by one run
err_of() {
    "$B" -l "$1" -r 2 -b 1 > "$TMP/o" 2> "$TMP/e" || return 1
    sed -n 's/^largest error against ref_conv2d: ours \([0-9.e+-]*\).*/\1/p' "$TMP/o"
}
small() { awk -v x="$1" 'BEGIN { exit !(x != "" && x + 0 <= 1e-5) }'; }

for l in 16,9,8,3,1,1 8,12,24,1,2,1 12,10,12,3,2,12 3,20,8,7,2,1 5,7,7,5,1,1; do
    e=$(err_of "$l")
    small "$e"; ok $? "layer $l: ours within 1e-5 of ref_conv2d (got '$e')"
done

"$B" -t 1 -r 3 -b 2 -l 16,9,8,3,1,1 > "$TMP/o" 2>&1
grep -q '^layer  *0  *16x  9x9  *->  *8x  9x9  *k3x3 s1 g1 *relu kxk *| 1T  *[0-9.]* *| err' "$TMP/o"
ok $? "one line per layer with our median time"
grep -q '^| layer | 1 | 1 | [0-9.]* |$' "$TMP/o"
ok $? "per-model total line"
grep -q '^| kxk | 1 | 1 | [0-9.]* |$' "$TMP/o" && ! grep -q '^| dw |' "$TMP/o"
ok $? "per-class totals, only for classes present"
grep -q '^Sums of the per-layer minima:' "$TMP/o"
ok $? "sums of the minima too"

fails 2 "a library it was built without: says what to install" "$B" -m ours,dnnl -l 16,9,8,3,1,1
grep -q 'apt-get install libdnnl-dev' "$TMP/ferr"
ok $? "  ... naming the Debian package"
fails 2 "an unknown contender" "$B" -m ours,mkl -l 16,9,8,3,1,1
fails 2 "a bad -l" "$B" -l 16,9,8,3,1
fails 2 "cin not divisible by group" "$B" -l 16,9,8,3,1,3
fails 2 "bad thread count" "$B" -t 3 -l 16,9,8,3,1,1
done_testing
