#!/bin/sh
# cam-map -top: gap-classify's lines from the same run, byte for byte.
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"

mkrec f 2 2 kind=features 1 2 3 4 > "$TMP/nomodel.t"
fails 1 "-top file cannot be created" cam-map -top "$TMP/no/such/dir/s" "$TMP/nomodel.t"
grep -q "no/such/dir/s" "$TMP/ferr"; ok $? "message names the file"
fails 2 "-top needs a value" cam-map -top

F=$SHARED/golden/googlenet-bvlc
M=$SHARED/models/googlenet-bvlc.onnx
if [ -f "$F/cat/features.npy" ] && [ -f "$F/bird/features.npy" ] && [ -f "$M" ]; then
    for s in cat bird cat; do
        npyrec "$F/$s/features.npy" concat_24 kind=features model="$M" \
            source=/d/$s.jpg image_width=512 image_height=341 layer=concat_24
    done > "$TMP/f.t"
    printf 'cat\t281\nbird\t1\n' > "$TMP/c.txt"
    for k in "" "-k 1" "-k 5" "-k 7"; do
        # shellcheck disable=SC2086
        cam-map $k -classes "$TMP/c.txt" -top "$TMP/s" "$TMP/f.t" > "$TMP/m$k" &&
            gap-classify ${k:--k 5} "$TMP/f.t" > "$TMP/s.want"
        cmp -s "$TMP/s" "$TMP/s.want"; ok $? "-top with '${k:-no -k}' equals gap-classify ${k:--k 5}"
    done
    cam-map -k 5 -classes "$TMP/c.txt" "$TMP/f.t" > "$TMP/m2"
    cmp -s "$TMP/m-k 5" "$TMP/m2"; ok $? "maps unchanged by -top"
    [ "$(wc -l < "$TMP/s")" = 21 ]; ok $? "three records, seven lines each (-k 7)"
    cam-map -c 3 -pgm -top "$TMP/s3" "$TMP/f.t" > /dev/null
    gap-classify -k 5 "$TMP/f.t" | cmp -s - "$TMP/s3"; ok $? "-top with -c and -pgm: top 5"
else
    skip "no golden features or model in $SHARED"
fi
done_testing
