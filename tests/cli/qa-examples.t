#!/bin/sh
# examples/ scripts on a small data set of their own: crop-reclassify.sh
# with an ls slower than the command reading it.
. "$(dirname "$0")/../tap.sh"
M=$SHARED/models/squeezenet1.1-bvlc.onnx
IMG=$SHARED/images/cat.bmp
[ -x "$BIN/cnn-features" ] || skip_all "cnn-features not built"
[ -f "$M" ] && [ -f "$IMG" ] || skip_all "no $M or $IMG"
command -v parallel >/dev/null 2>&1 && command -v cjpeg >/dev/null 2>&1 || skip_all "no parallel or cjpeg"

# Three copies of a small photograph.  The script must not depend on 'ls'
# outliving its reader: under 'set -o pipefail', 'ls | grep -q .' fails
# whenever grep leaves before ls has written everything (300 names did).
# A slow ls makes that happen every time.
D=$TMP/data
mkdir -p "$D/images" "$TMP/slow"
bmptopnm "$IMG" 2>/dev/null | pamscale -xsize 64 -ysize 43 | cjpeg > "$TMP/small.jpg"
echo "image,class,wnid,x0,y0,x1,y1" > "$D/boxes.csv"
for i in 1 2 3; do
    cp "$TMP/small.jpg" "$D/images/img$i.JPEG"
    echo "img$i.JPEG,285,n02124075,5,0,50,40" >> "$D/boxes.csv"
done
LS=$(command -v ls)
printf '#!/bin/sh\n%s "$@" | { IFS= read -r l && printf "%%s\\n" "$l"; sleep 1; cat; }\n' "$LS" > "$TMP/slow/ls"
chmod +x "$TMP/slow/ls"
(cd "$TMP" && PATH="$TMP/slow:$PATH" bash "$TOP/examples/crop-reclassify.sh" "$M" "$D" "$TMP/work") > "$TMP/res" 2> "$TMP/err"
ok $? "crop-reclassify.sh runs (with an ls slower than its reader)"
sed 's/^/# /' "$TMP/err" | head -3
is "$(cut -f1,3 "$TMP/res" | sed 's|	[0-9]*/|	|' | tr '\t\n' '  ')" "full_image 3 cam_box_crop 3 gt_box_crop 3 " "a line per variant, every image counted"

done_testing
