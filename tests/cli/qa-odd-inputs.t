#!/bin/sh
# Odd inputs a user meets: tiny maps, NaN records, empty streams.
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"

# inside: every box line has 0 <= x0 <= x1 < W, 0 <= y0 <= y1 < H, area >= 0
inside() {
    awk -F'\t' -v W="$1" -v H="$2" '
        !($3 >= 0 && $3 <= $5 && $5 < W && $4 >= 0 && $4 <= $6 && $6 < H && $9 >= 0) { bad = 1; print "# bad: " $0 }
        END { exit bad || NR == 0 }'
}

# zhou's rule keeps boxes 5 pixels from the right and bottom edges: on maps
# narrower than that, boxes must still lie inside the map.
mkrec m 7 7 kind=map $(perl -e 'print join " ", map { $_ % 7 } 0..48') > "$TMP/ramp7.t"
mkrec m 3 3 kind=map 0 1 2 3 4 5 6 7 8 > "$TMP/ramp3.t"
mkrec m 7 7 kind=map $(perl -e 'print join " ", map { $_ == 24 ? 1 : 0 } 0..48') > "$TMP/dot7.t"
for f in ramp7 ramp3 dot7; do
    case $f in ramp3) W=3;; *) W=7;; esac
    cam-bbox -mode zhou "$TMP/$f.t" > "$TMP/b" 2>"$TMP/e"
    inside $W $W < "$TMP/b"; ok $? "zhou: boxes of a small map ($f) lie inside it"
done

# -t: the range named is the mode's, empty thresholds are refused
fails 2 "cam-bbox -t -0.1: usage error" cam-bbox -t -0.1 "$TMP/dot7.t"
grep -q "out of range 0..1\$" "$TMP/ferr"; ok $? "cam-bbox -t -0.1 names the range 0..1 of mode paper"
fails 2 "cam-bbox -t .2,,.4: empty threshold refused" cam-bbox -t .2,,.4 "$TMP/dot7.t"
fails 2 "cam-bbox -t .2,: trailing comma refused" cam-bbox -t .2, "$TMP/dot7.t"

# cnn-features -m finds a bare model name in $CAM_MODELS, as gap-classify
# and cam-map find the model a record names
if [ -f "$SHARED/models/googlenet-bvlc.onnx" ]; then
    printf 'P3\n3 2\n255\n1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\n' > "$TMP/t32.ppm"
    (cd "$TMP" && CAM_MODELS=$SHARED/models cnn-features -m googlenet-bvlc.onnx t32.ppm > f32.t 2> err)
    ok $? "cnn-features -m NAME: found in \$CAM_MODELS"
    is "$(tensor-info "$TMP/f32.t" 2>/dev/null | cut -f4)" "1024x7x7" "  and its features written"
    is "$(cd "$TMP" && CAM_MODELS=$SHARED/models gap-classify -k 1 f32.t | cut -f1,2)" "t32.ppm	1" "  which gap-classify finds the same way"
    (cd "$TMP" && CAM_MODELS=/nonexistent cnn-features -m nosuch.onnx t32.ppm > out 2> err); st=$?
    [ $st = 1 ] && [ ! -s "$TMP/out" ] && grep -q "nosuch.onnx" "$TMP/err"; ok $? "cnn-features -m: a model found nowhere is an error naming it"
else
    skip "no googlenet-bvlc.onnx"; skip "no googlenet-bvlc.onnx"; skip "no googlenet-bvlc.onnx"; skip "no googlenet-bvlc.onnx"
fi

# cam-overlay's image through a FIFO (as <(jpegtopnm photo.jpg) gives it):
# read once, not sniffed and then reopened
if mkfifo "$TMP/img.fifo" 2>/dev/null; then
    printf 'P2\n7 7\n255\n%s\n' "$(perl -e 'print join " ", (100) x 49')" > "$TMP/g7.pgm"
    cat "$TMP/g7.pgm" > "$TMP/img.fifo" & wpid=$!
    timeout 20 cam-overlay -in "$TMP/dot7.t" "$TMP/img.fifo" > "$TMP/ov.ppm" 2> "$TMP/err"
    ok $? "cam-overlay IMAGE as a FIFO"
    sed 's/^/# /' "$TMP/err" | head -2
    is "$(head -c 2 "$TMP/ov.ppm"; sed -n 2p "$TMP/ov.ppm")" "P67 7" "  a 7x7 overlay"
    kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
else
    skip "no mkfifo"; skip "no mkfifo"
fi

# cam-map -pgm writes images: -z or -f16 with it were silently ignored
mkrec f 2 2 2 kind=features 1 2 3 4 5 6 7 8 > "$TMP/feat.t"
fails 2 "cam-map -pgm -z: usage error" cam-map -pgm -z "$TMP/feat.t"
fails 2 "cam-map -pgm -f16: usage error" cam-map -pgm -f16 "$TMP/feat.t"

# features holding NaN: no ranking, no "-nan" probabilities, but exit 1
# naming the record (a head trained here, so no model is needed)
perl -e 'for my $i (0 .. 11) { my $c = $i % 2;
    print "CAMTENSOR 1\nname f\ndtype f32\nshape 2 2 2\nkind features\nsource img$i.ppm\nENDHDR\n",
          pack("f<*", map { $_ < 4 ? ($c ? 5 : 1) + $i / 10 : ($c ? 1 : 5) - $i / 10 } 0 .. 7) }' > "$TMP/tr.t"
perl -e 'print "name,label\n"; print "img$_.ppm,", ($_ % 2 ? "b" : "a"), "\n" for 0 .. 11' > "$TMP/tr.csv"
gap-train -k 0 -labels "$TMP/tr.csv" -o "$TMP/tr.head" "$TMP/tr.t" > /dev/null 2>&1
ok $? "a head for the NaN tests"
{ perl -e 'print "CAMTENSOR 1\nname f\ndtype f32\nshape 2 2 2\nkind features\nsource good.ppm\nENDHDR\n", pack("f<*", 1, 1, 1, 1, 5, 5, 5, 5)'
  perl -e 'print "CAMTENSOR 1\nname f\ndtype f32\nshape 2 2 2\nkind features\nsource nan.ppm\nENDHDR\n", pack("f<*", 1, 9**9**9 - 9**9**9, 1, 1, 5, 5, 5, 5)'; } > "$TMP/nanf.t"
for tool in gap-classify cam-map; do
    $tool -head "$TMP/tr.head" "$TMP/nanf.t" > "$TMP/out" 2> "$TMP/err"; st=$?
    [ $st = 1 ] && grep -q "record 1: .*NaN" "$TMP/err" && ! grep -q nan "$TMP/out"; ok $? "$tool: NaN features are bad data (exit $st: $(head -c 120 "$TMP/err"))"
done

done_testing
