#!/bin/sh
# examples/: one image to a PNG with its box and top-5, the top-5 maps side
# by side, a folder with GNU parallel (resumable, atomic results).
. "$(dirname "$0")/../tap.sh"
M=$SHARED/models/googlenet-bvlc.onnx
IMG=$SHARED/images/cat.bmp
[ -x "$BIN/cnn-features" ] || skip_all "cnn-features not built"
[ -f "$M" ] && [ -f "$IMG" ] || skip_all "no $M or $IMG"
EX=$TOP/examples

sh "$EX/one-image.sh" "$M" "$IMG" "$TMP/one.png" > "$TMP/top5" 2> "$TMP/err"
ok $? "one-image.sh runs"
is "$(pngtopnm "$TMP/one.png" | pnmfile | cut -f2)" "PPM raw, 512 by 341  maxval 255" "overlay PNG at the photo's size"
is "$(head -1 "$TMP/top5" | cut -f2-3)" "1	285" "top-5 printed, Egyptian cat first"
is "$(sed -n 6p "$TMP/top5" | cut -f2-6)" "285	68	0	397	299" "then the box (the golden box)"

sh "$EX/top5-maps.sh" "$M" "$IMG" "$TMP/top5.png" > "$TMP/list" 2> "$TMP/err"
ok $? "top5-maps.sh runs"
is "$(pngtopnm "$TMP/top5.png" | pnmfile | cut -f2)" "PPM raw, 2560 by 341  maxval 255" "five maps side by side"
is "$(wc -l < "$TMP/list")" 5 "one line per map"

mkdir -p "$TMP/imgs"
cp "$IMG" "$TMP/imgs/cat.bmp"
cp "$SHARED/images/bird.bmp" "$TMP/imgs/bird.bmp"
sh "$EX/folder.sh" "$M" "$TMP/imgs" "$TMP/out" 1 > /dev/null 2> "$TMP/ferr" < /dev/null
ok $? "folder.sh runs"
# no progress bar (nor parallel's failed /dev/tty opens) when stderr is a file
is "$(head -c 300 "$TMP/ferr")" "" "folder.sh is quiet without a terminal"
is "$(ls "$TMP/out" | tr '\n' ' ')" "bird.tsv cat.tsv joblog " "one result per image, no leftovers"
is "$(wc -l < "$TMP/out/cat.tsv")" 6 "top-5 and a box per image"
rm "$TMP/out/bird.tsv"
# a resumed run redoes nothing that succeeded (the job log says so)
sh "$EX/folder.sh" "$M" "$TMP/imgs" "$TMP/out" 1 > /dev/null 2>&1
is "$(wc -l < "$TMP/out/joblog")" 3 "--resume skips the images already done"
done_testing
