#!/bin/sh
# cam-dataset: the whole pipeline over a few development images with GNU
# parallel, its metrics, resuming, and refusing a mismatched output dir.
. "$(dirname "$0")/../tap.sh"

D=$SHARED/data/ilsvrc-dev
M=$SHARED/models/googlenet-bvlc.onnx
[ -f "$D/boxes.csv" ] && [ -f "$M" ] || skip_all "no $D or $M"
command -v parallel >/dev/null || skip_all "GNU parallel not installed"

# usage errors need nothing else
fails 2 "no model" cam-dataset -gt "$D/boxes.csv" "$D/images"
fails 2 "no image dir" cam-dataset -m "$M" -gt "$D/boxes.csv"
fails 2 "bad -j" cam-dataset -j 0 -m "$M" -gt "$D/boxes.csv" "$D/images"
fails 2 "unknown option" cam-dataset -bogus -m "$M" -gt "$D/boxes.csv" "$D/images"
fails 1 "image dir missing" cam-dataset -m "$M" -gt "$D/boxes.csv" "$TMP/nonexistent"

# four images (one with two boxes), as a folder and ground truth of their own
mkdir "$TMP/img"
head -1 "$D/boxes.csv" >"$TMP/gt.csv"
for i in 00000556 00000560 00000965 00001368; do
    cp "$D/images/ILSVRC2012_val_$i.JPEG" "$TMP/img/"
    grep "^ILSVRC2012_val_$i" "$D/boxes.csv" >>"$TMP/gt.csv"
done
t "four images, two jobs of two" cam-dataset -j 2 -b 2 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"
cp "$TMP/out" "$TMP/m1"; cp "$TMP/err" "$TMP/e1"
metric() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$2"; }
is "$(metric images "$TMP/m1")" 4 "4 images evaluated"
for k in top1_cls top5_cls top1_loc top5_loc gt_known maxboxacc maxboxacc_v2; do
    v=$(metric $k "$TMP/m1")
    t "$k = $v is in [0,1]" awk -v v="$v" 'BEGIN { exit !(v != "" && v >= 0 && v <= 1) }'
done
is "$(ls "$TMP/run/res" | wc -l)" 6 "three result files per job"
is "$(wc -l <"$TMP/run/per-image.csv")" 5 "per-image CSV: header and 4 rows"
t "no temporary files left" test -z "$(ls "$TMP/run/tmp" 2>/dev/null)"
case $(cat "$TMP/e1") in *"4 images, 2 jobs"*) ok 0 "wall time reported";; *) ok 1 "wall time reported";; esac

# the same command again: nothing to redo, same metrics
t "resume: nothing left" cam-dataset -j 2 -b 2 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"
is "$(cat "$TMP/out")" "$(cat "$TMP/m1")" "same metrics"
# an interrupted job (no result): its images redone on resume
rm -f "$TMP/run/res/R0001-0002."*
t "resume after an interruption" cam-dataset -j 2 -b 2 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"
is "$(cat "$TMP/out")" "$(cat "$TMP/m1")" "same metrics after redoing one job"
is "$(ls "$TMP/run/res" | tr '\n' ' ')" \
    "R0001-0001.boxes R0001-0001.maps R0001-0001.scores R0003-0001.boxes R0003-0001.maps R0003-0001.scores " \
    "its two images redone by one job of the third run"

fails 1 "output dir of another run refused" cam-dataset -bbox-mode wsol -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run" "$TMP/img"
# a failure while the batches are prepared (GNU parallel already started):
# exit 1, nothing run, no joblog line
mkdir "$TMP/empty"
fails 1 "no image of the ground truth in the folder" cam-dataset -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run3" "$TMP/empty"
is "$(cat "$TMP/run3/joblog" 2>/dev/null | wc -l)" 1 "joblog: its header line only"

# an image of the ground truth absent from the folder counts as a failure
rm "$TMP/img/ILSVRC2012_val_00000965.JPEG"
t "missing image" cam-dataset -j 2 -b 2 -m "$M" -gt "$TMP/gt.csv" -o "$TMP/run2" "$TMP/img"
is "$(metric images "$TMP/out")" 4 "still 4 images"
case $(cat "$TMP/err") in *"1 images of the ground truth are not in"*) ok 0 "reported";; *) ok 1 "reported: $(head -3 "$TMP/err")";; esac

done_testing
