#!/bin/bash
# crop-reclassify.sh - does the CAM box find what the classifier needs?
# Top-1 accuracy of a model on the full images, on the crop of its own CAM
# box (top-1 class, paper rule), and on the crop of the ground-truth box
# (the largest one of the image), as in the CAM paper's CUB experiment.
#
#   examples/crop-reclassify.sh [MODEL] [DATADIR] [WORKDIR]
#
# MODEL defaults to ../shared/models/googlenet-bvlc.onnx, DATADIR (with
# boxes.csv and images/) to ../shared/data/ilsvrc-dev, WORKDIR to
# crop-work.  Crops are cut with pamcut.
set -euo pipefail
shared=${CAM_SHARED:-../shared}
model=${1:-$shared/models/googlenet-bvlc.onnx}
data=${2:-$shared/data/ilsvrc-dev}
work=${3:-crop-work}
mkdir -p "$work/full" "$work/cam" "$work/gt"

# decode once (in parallel); names keep the image stem so that records match
ls "$data/images" | parallel -j "$(nproc)" \
    "if [ ! -s '$work/full/{.}.ppm' ]; then jpegtopnm -quiet '$data/images/{}' > '$work/full/{.}.ppm.tmp' && mv '$work/full/{.}.ppm.tmp' '$work/full/{.}.ppm'; fi"
# (not 'ls | grep -q .': under pipefail, ls killed by SIGPIPE when grep
# leaves early fails the test)
[ -n "$(ls -A "$work/full")" ] || { echo "crop-reclassify.sh: no images" >&2; exit 1; }

cnn-features -m "$model" "$work/full/"*.ppm > "$work/full.t"
gap-classify -k 1 "$work/full.t" > "$work/full.top1"
cam-map -k 1 "$work/full.t" | cam-bbox > "$work/cam.boxes"
rm -f "$work/full.t"

key() { awk -F'\t' -v OFS='\t' '{ n = split($1, a, "/"); s = a[n]; sub(/\.[^.]*$/, "", s); $1 = s; print }'; }
# the crops: the CAM box of the top-1 class, and the largest GT box
key < "$work/cam.boxes" | while IFS=$'\t' read -r name cls x0 y0 x1 y1 rest; do
    pamcut -left "$x0" -top "$y0" -right "$x1" -bottom "$y1" "$work/full/$name.ppm" > "$work/cam/$name.ppm"
done
awk -F, 'NR > 1 { s = $1; sub(/\.[^.]*$/, "", s); a = ($6 - $4 + 1) * ($7 - $5 + 1)
                  if (a > best[s]) { best[s] = a; box[s] = $4 " " $5 " " $6 " " $7 } }
         END { for (s in box) print s, box[s] }' "$data/boxes.csv" |
while read -r name x0 y0 x1 y1; do
    [ -f "$work/full/$name.ppm" ] || continue
    pamcut -left "$x0" -top "$y0" -right "$x1" -bottom "$y1" "$work/full/$name.ppm" > "$work/gt/$name.ppm"
done
for v in cam gt; do
    cnn-features -m "$model" "$work/$v/"*.ppm | gap-classify -k 1 > "$work/$v.top1"
done

# model classes vs ground truth (a 1001-class model counts background as 0)
off=0
case $model in *.tflite) off=1 ;; esac
awk -F, -v off="$off" 'NR > 1 { s = $1; sub(/\.[^.]*$/, "", s); print s "\t" $2 + off }' "$data/boxes.csv" |
    sort -u > "$work/gt.class"
for v in full cam gt; do
    key < "$work/$v.top1" | cut -f1,3 | sort > "$work/$v.pred"
    join -t $'\t' "$work/gt.class" "$work/$v.pred" |
        awk -F'\t' -v v="$v" '{ n++; ok += $2 == $3 }
            END { printf "%s\t%.4f\t%d/%d\n", v == "full" ? "full_image" : v == "cam" ? "cam_box_crop" : "gt_box_crop", ok / n, ok, n }'
done
