#!/bin/sh
# cam-dataset: default batch size (one batch per job), a resumed run keeping
# its batches whatever -j says, and each image's ground-truth map in the
# single cam-map run.
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
is "$(sed -n 's/^batch //p' "$TMP/run/params")" 3 "default batch: ceil(5 / 2 jobs)"
is "$(ls "$TMP/run/batches" | tr '\n' ' ')" "B0000.lst B0001.lst " "two batches"
t "resumed with another -j" cam-dataset -j 1 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"
cmp -s "$TMP/out" "$TMP/m1"; ok $? "same metrics"
fails 1 "an explicit other -b is refused" cam-dataset -b 2 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"

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
