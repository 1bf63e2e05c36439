#!/bin/sh
# cam-map -classes: per-image classes added to the top-K in one run.
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"

keys() { perl -e 'local $/; my $s = <STDIN>; my @o;
    while ($s =~ /\G(CAMTENSOR 1\n.*?ENDHDR\n)/gs) { my $h = $1; my %k = map { /^(\S+) ?(.*)$/ ? ($1, $2) : () } split /\n/, $h;
        my $n = 4; $n *= $_ for split / /, $k{shape}; pos($s) = pos($s) + ($k{dtype} eq "f16" ? $n / 2 : $n);
        push @o, join("|", map { $k{$_} // "-" } @ARGV) } print join(" ", @o)' "$@"; }

mkrec f 2 2 kind=features 1 2 3 4 > "$TMP/nomodel.t"
fails 2 "-classes with -c" cam-map -c 3 -classes /dev/null "$TMP/nomodel.t"
fails 1 "-classes file missing" cam-map -classes "$TMP/none.txt" "$TMP/nomodel.t"
grep -q "none.txt: cannot open" "$TMP/ferr"; ok $? "message names the file"
printf 'cat.bmp\t281\nnoclass\n' > "$TMP/bad.txt"
fails 1 "-classes line without a class" cam-map -classes "$TMP/bad.txt" "$TMP/nomodel.t"
grep -q "bad.txt:2:" "$TMP/ferr"; ok $? "message names the line"

F=$SHARED/golden/googlenet-bvlc/cat
if [ -f "$F/features.npy" ] && [ -f "$SHARED/models/googlenet-bvlc.onnx" ]; then
    for s in cat.bmp dog.bmp; do
        npyrec "$F/features.npy" concat_24 kind=features model="$SHARED/models/googlenet-bvlc.onnx" \
            source=/some/dir/$s image_width=512 image_height=341 layer=concat_24
    done > "$TMP/f.t"
    # by key: directories and the extension do not matter; file order kept
    printf 'cat.ppm\t281\r\ncat\t7\ndir/cat.jpg 282\n\nelse.jpg\t1\n' > "$TMP/c.txt"
    is "$(cam-map -k 2 -classes "$TMP/c.txt" "$TMP/f.t" | keys source class rank)" \
       "/some/dir/cat.bmp|285|1 /some/dir/cat.bmp|282|2 /some/dir/cat.bmp|281|3 /some/dir/cat.bmp|7|$(cam-map -c 7 "$TMP/f.t" | keys rank | cut -d' ' -f1) /some/dir/dog.bmp|285|1 /some/dir/dog.bmp|282|2" \
       "-k 2 -classes: top-2, then the image's classes not already written"
    is "$(cam-map -classes "$TMP/c.txt" "$TMP/f.t" | keys source class)" \
       "/some/dir/cat.bmp|281 /some/dir/cat.bmp|7 /some/dir/cat.bmp|282" \
       "-classes alone: only the listed classes, none for unlisted images"
    a=$(cam-map -c 281 "$TMP/f.t" | cksum)
    b=$(printf 'cat\t281\ndog\t281\n' > "$TMP/c2.txt"; cam-map -classes "$TMP/c2.txt" "$TMP/f.t" | cksum)
    is "$b" "$a" "same records as -c"
    printf 'cat\tno such class\n' > "$TMP/c3.txt"
    fails 1 "unknown class" cam-map -classes "$TMP/c3.txt" "$TMP/f.t"
    grep -q "c3.txt:1" "$TMP/ferr"; ok $? "message names the line of the class"
else
    skip "no golden features or model in $SHARED"
fi
done_testing
