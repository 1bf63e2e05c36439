#!/bin/sh
# cam-dataset: jobs sharing one list of images (each image in exactly one
# job's results), a resumed run with other -j and -b, PNG and BMP images
# decoded by the netpbm converters with the same results, and each
# image's ground-truth map in the single cam-map run.
. "$(dirname "$0")/../tap.sh"

D=$SHARED/data/ilsvrc-dev
M=$SHARED/models/googlenet-bvlc.onnx
[ -f "$D/boxes.csv" ] && [ -f "$M" ] || skip_all "no $D or $M"
command -v parallel >/dev/null || skip_all "GNU parallel not installed"

mkdir "$TMP/img"
head -1 "$D/boxes.csv" >"$TMP/gt.csv"
for i in 00000556 00000560 00000965 00001368 00004635; do
    cp "$D/images/ILSVRC2012_val_$i.JPEG" "$TMP/img/"
    grep "^ILSVRC2012_val_$i" "$D/boxes.csv" >>"$TMP/gt.csv"
done
t "five images, two jobs" cam-dataset -j 2 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"
cp "$TMP/out" "$TMP/m1"
nres=$(ls "$TMP/run/res" | grep -c '\.scores$')
t "one or two jobs' results ($nres)" test "$nres" -ge 1 -a "$nres" -le 2
is "$(cut -f1 "$TMP/run/res/"*.scores | sort -u | wc -l)" 5 "five images have scores"
is "$(for f in "$TMP/run/res/"*.scores; do cut -f1 "$f" | sort -u; done | sort | uniq -d)" "" \
    "no image in two jobs' results"
is "$(cat "$TMP/run/queue.pos")" "$(wc -c <"$TMP/run/queue" | tr -d ' ')" "the whole list taken"
t "resumed with another -j and -b" cam-dataset -j 1 -b 2 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"
cmp -s "$TMP/out" "$TMP/m1"; ok $? "same metrics"
is "$(ls "$TMP/run/res" | grep -c '\.scores$')" "$nres" "nothing redone"

# the same images as PNG and BMP files, decoded by the netpbm converters
# as cnn-features decodes JPEG: the same metrics
mkdir "$TMP/img2"
sed 's/^\(ILSVRC2012_val_00000556\)\.JPEG/\1.png/; s/^\(ILSVRC2012_val_00000560\)\.JPEG/\1.bmp/' \
    "$TMP/gt.csv" >"$TMP/gt2.csv"
for f in "$TMP/img/"*; do
    b=${f##*/}
    case $b in
        *00000556*) jpegtopnm "$f" 2>/dev/null | pnmtopng >"$TMP/img2/${b%.JPEG}.png" 2>/dev/null ;;
        *00000560*) jpegtopnm "$f" 2>/dev/null | ppmtobmp >"$TMP/img2/${b%.JPEG}.bmp" 2>/dev/null ;;
        *) cp "$f" "$TMP/img2/" ;;
    esac
done
t "PNG and BMP images" cam-dataset -j 2 -b 2 -m "$M" -gt "$TMP/gt2.csv" -o "$TMP/run2" "$TMP/img2"
cmp -s "$TMP/out" "$TMP/m1"; ok $? "same metrics as the JPEG files"
is "$(cut -f1 "$TMP/run2/scores.tsv" | sort -u | grep -c '/conv/.*\.ppm$')" 2 "two images read from their conversions"
t "conversions removed at the end" test ! -e "$TMP/run2/conv"

# one ground-truth map per image among its maps; boxes only for the top 5
# (00004635: the ground-truth class is not among the top 5)
gtmaps=$(tensor-info "$TMP/run/gt.maps" | perl -ne '/source=\S*val_(\d+)/ && ($s = $1); /class=(\d+)/ && print "$s $1\n"' | sort -u)
want=$(awk -F, 'NR > 1 { sub(/ILSVRC2012_val_/, "", $1); sub(/\.[^.]*$/, "", $1); print $1, $2 }' "$TMP/gt.csv" | sort -u)
miss=$(printf '%s\n' "$want" | while read -r s c; do printf '%s\n' "$gtmaps" | grep -qx "$s $c" || echo "$s $c"; done)
is "$miss" "" "every image has the map of its ground-truth class"
top=$(awk -F'\t' '{ print $1, $3 }' "$TMP/run/scores.tsv" | sort)
box=$(awk -F'\t' '{ print $1, $2 }' "$TMP/run/boxes.tsv" | sort)
is "$box" "$top" "one box per top-5 class, no other"
done_testing
