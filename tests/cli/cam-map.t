#!/bin/sh
# cam-map: classes, post-processing, sizes, PGM, bad input.
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"

# shape, kind and class keys of each record: "shape|class|rank" per line
keys() { perl -e 'local $/; my $s = <STDIN>; my @o;
    while ($s =~ /\G(CAMTENSOR 1\n.*?ENDHDR\n)/gs) { my $h = $1; my %k = map { /^(\S+) ?(.*)$/ ? ($1, $2) : () } split /\n/, $h;
        my $n = 4; $n *= $_ for split / /, $k{shape}; pos($s) = pos($s) + ($k{dtype} eq "f16" ? $n / 2 : $n);
        push @o, join("|", map { $k{$_} // "-" } @ARGV) } print join(" ", @o)' "$@"; }

# without a model
mkrec m 2 2 kind=map 1 2 3 4 > "$TMP/map.t"
fails 1 "a map record is not features" cam-map "$TMP/map.t"
grep -q "kind 'map'" "$TMP/ferr"; ok $? "message names the kind"
mkrec f 2 2 kind=features 1 2 3 4 > "$TMP/nomodel.t"
fails 1 "features naming no model" cam-map "$TMP/nomodel.t"
mkrec f 2 2 kind=features model=/nonexistent/none.onnx 1 2 3 4 > "$TMP/missing.t"
CAM_MODELS=/nonexistent fails 1 "model not found" cam-map "$TMP/missing.t"
grep -q "none.onnx" "$TMP/ferr"; ok $? "message names the model"
fails 2 "-k 0" cam-map -k 0 "$TMP/nomodel.t"
fails 2 "-k with -c" cam-map -k 2 -c 3 "$TMP/nomodel.t"
fails 2 "unknown normalisation" cam-map -norm foo "$TMP/nomodel.t"
fails 2 "bad size" cam-map -size 10 "$TMP/nomodel.t"
fails 2 "unknown option" cam-map -q "$TMP/nomodel.t"

F=$SHARED/golden/googlenet-bvlc/cat
S=$SHARED/golden/squeezenet1.1-bvlc/cat
if [ -f "$F/features.npy" ] && [ -f "$SHARED/models/googlenet-bvlc.onnx" ]; then
    npyrec "$F/features.npy" concat_24 kind=features model="$SHARED/models/googlenet-bvlc.onnx" \
        source=cat.bmp image_width=512 image_height=341 layer=concat_24 > "$TMP/f.t"
    is "$(cam-map -k 3 "$TMP/f.t" | keys shape class rank kind)" "7 7|285|1|map 7 7|282|2|map 7 7|281|3|map" "-k 3: top-3 maps, ranked"
    is "$(cam-map -c 281 -c 'tiger cat' "$TMP/f.t" | keys class rank label)" \
       "281|3|n02123045 tabby, tabby cat 282|2|n02123159 tiger cat" "-c by index and by label"
    is "$(cam-map -size orig "$TMP/f.t" | keys shape map_upsample)" "341 512|bilinear 512x341" "-size orig: the image's size"
    is "$(cam-map -size 20x10 -interp bicubic "$TMP/f.t" | keys shape map_upsample)" "10 20|bicubic 20x10" "-size WxH"
    is "$(cam-map -z -f16 "$TMP/f.t" | gzip -dc | keys shape)" "7 7" "-z -f16"
    range=$(cam-map -relu -norm minmax -size orig "$TMP/f.t" | perl -e 'local $/; my $s = <STDIN>; $s =~ /ENDHDR\n/g;
        my @v = unpack("f<*", substr($s, pos($s))); my ($lo, $hi) = (1e9, -1e9);
        for (@v) { $lo = $_ if $_ < $lo; $hi = $_ if $_ > $hi } print "$lo $hi"')
    is "$range" "0 1" "-relu -norm minmax: values span [0,1]"
    is "$(cam-map -pgm -size orig "$TMP/f.t" | pnmfile | cut -f2)" "PGM raw, 512 by 341  maxval 255" "-pgm: a PGM at the image's size"
    # -pgm: min-max by default; -norm none writes the values as they are,
    # [0, 1] to 0..255, clamped: the same bytes as the raw record gives
    cam-map -c 3 "$TMP/f.t" > "$TMP/raw.t"
    cam-map -c 3 -pgm "$TMP/f.t" > "$TMP/mm.pgm"
    cam-map -c 3 -pgm -norm none "$TMP/f.t" > "$TMP/none.pgm"
    got=$(perl -e 'local $/; open my $f, "<", $ARGV[0]; my $s = <$f>; $s =~ s/^P5\n\d+ \d+\n255\n//;
        my @b = unpack("C*", $s); my ($lo, $hi) = (255, 0);
        for (@b) { $lo = $_ if $_ < $lo; $hi = $_ if $_ > $hi } print "$lo $hi"' "$TMP/mm.pgm")
    is "$got" "0 255" "-pgm: min-max normalised by default"
    want=$(perl -e 'local $/; my $s = <STDIN>; $s =~ /ENDHDR\n/g; my @v = unpack("f<*", substr($s, pos($s)));
        print join(",", map { $_ > 0 ? ($_ >= 1 ? 255 : int($_ * 255)) : 0 } @v)' < "$TMP/raw.t")
    got=$(perl -e 'local $/; open my $f, "<", $ARGV[0]; my $s = <$f>; $s =~ s/^P5\n\d+ \d+\n255\n//;
        print join(",", unpack("C*", $s))' "$TMP/none.pgm")
    [ -n "$want" ] && [ "$got" = "$want" ] && [ "$got" != "$(perl -e 'local $/; open my $f, "<", $ARGV[0]; my $s = <$f>;
        $s =~ s/^P5\n\d+ \d+\n255\n//; print join(",", unpack("C*", $s))' "$TMP/mm.pgm")" ]
    ok $? "-pgm -norm none: the raw values, clamped to [0, 1]"
    fails 1 "class out of range" cam-map -c 1000 "$TMP/f.t"
    grep -q "out of range" "$TMP/ferr"; ok $? "message says out of range"
    fails 1 "unknown label" cam-map -c "no such class" "$TMP/f.t"
    npyrec "$F/features.npy" concat_24 kind=features model="$SHARED/models/googlenet-bvlc.onnx" \
        model_sha256=0000000000000000000000000000000000000000000000000000000000000000 > "$TMP/sha.t"
    fails 1 "sha256 mismatch" cam-map "$TMP/sha.t"
    grep -q "097d3f0d" "$TMP/ferr" && grep -q "00000000" "$TMP/ferr"; ok $? "message names both digests"
    fails 1 "-size orig without geometry" cam-map -size orig "$TMP/sha.t" -m "$SHARED/models/googlenet-bvlc.onnx"
    npyrec "$S/features.npy" features kind=features model="$SHARED/models/googlenet-bvlc.onnx" > "$TMP/wrongc.t"
    fails 1 "1000 channels into a 1024-channel head" cam-map "$TMP/wrongc.t"
    # identity head: the map of class c is channel c
    npyrec "$S/features.npy" features kind=features model="$SHARED/models/squeezenet1.1-bvlc.onnx" > "$TMP/sq.t"
    same=$(cam-map -c 7 "$TMP/sq.t" | perl -e 'local $/; my $s = <STDIN>; $s =~ /ENDHDR\n/g; my $m = substr($s, pos($s));
        open(my $i, "<", $ARGV[0]); binmode $i; my $b = <$i>; my $hl = unpack("v", substr($b, 8, 2));
        print substr($b, 10 + $hl + 7 * 196 * 4, 196 * 4) eq $m ? "same" : "differs"' "$S/features.npy")
    is "$same" "same" "identity head: map of class 7 = channel 7 (14x14)"
    # a head file of gap-train: maps from its weights, mean(map) + b = logit
    if [ -x "$BIN/gap-train" ]; then
        : > "$TMP/tr.t"
        for im in cat bird grace_hopper; do
            npyrec "$SHARED/golden/googlenet-bvlc/$im/features.npy" concat_24 kind=features source=$im.ppm \
                image_width=512 image_height=341 layer=concat_24 >> "$TMP/tr.t"
        done
        printf 'name,label\ncat.ppm,animal\nbird.ppm,animal\ngrace_hopper.ppm,person\n' > "$TMP/lab.csv"
        gap-train -k 0 -labels "$TMP/lab.csv" -o "$TMP/h.t" "$TMP/tr.t" >/dev/null 2>&1
        is "$(cam-map -head "$TMP/h.t" -c person "$TMP/tr.t" | keys source class label)" \
           "cat.ppm|1|person bird.ppm|1|person grace_hopper.ppm|1|person" "-head: maps of the trained classes"
        inv=$(cam-map -head "$TMP/h.t" "$TMP/tr.t" | perl -e 'local $/; my $s = <STDIN>; my $bad = 0;
            while ($s =~ /\G(CAMTENSOR 1\n.*?ENDHDR\n)/gs) { my $h = $1; my %k = map { /^(\S+) ?(.*)$/ ? ($1, $2) : () } split /\n/, $h;
                my $p = pos($s); my @v = unpack("f<49", substr($s, $p, 196)); pos($s) = $p + 196;
                my $m = 0; $m += $_ for @v; $m /= 49; $bad++ if abs($m + $k{bias} - $k{logit}) > 1e-4 * (1 + abs($k{logit})) }
            print $bad ? "$bad off" : "ok"')
        is "$inv" ok "-head: mean(map) + b = logit"
    else
        skip "gap-train not built"
    fi
else
    skip "no googlenet golden in $SHARED"
fi
done_testing
