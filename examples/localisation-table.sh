#!/bin/bash
# localisation-table.sh - the README's localisation table: cam-dataset over
# the development images for three models, as a Markdown table in the
# style of the CAM paper's Table 2 (errors in %, MaxBoxAccV2 in %).
#
#   examples/localisation-table.sh [SHARED] [OUTDIR]
#
# SHARED defaults to ../shared (or $CAM_SHARED); per-model results are kept
# in OUTDIR (default loc-table), so a second run only re-evaluates.
set -euo pipefail
shared=${1:-${CAM_SHARED:-../shared}}
out=${2:-loc-table}
data=$shared/data/ilsvrc-dev
mkdir -p "$out"
echo "| model | top-1 cls err | top-5 cls err | top-1 loc err | top-5 loc err | GT-known loc err | MaxBoxAccV2 | wall / CPU s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for spec in "googlenet-bvlc.onnx 0" "squeezenet1.1-bvlc.onnx 0" "mobilenet_v2_1.0_224_quant.tflite 1"; do
    set -- $spec
    stem=${1%.*}
    cam-dataset -m "$shared/models/$1" -class-offset "$2" -gt "$data/boxes.csv" \
        -o "$out/$stem" "$data/images" >"$out/$stem.metrics" 2>"$out/$stem.log" ||
        { cat "$out/$stem.log" >&2; exit 1; }
    time=$(sed -n 's/.*: \([0-9.]*\) s wall, \([0-9.]*\) s CPU.*/\1 \/ \2/p' "$out/$stem.log")
    awk -F'\t' -v m="$1" -v t="$time" '{ v[$1] = $2 }
        END { printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %s |\n", m, v["top1_cls_err"],
              v["top5_cls_err"], v["top1_loc_err"], v["top5_loc_err"], v["gt_known_err"],
              100 * v["maxboxacc_v2"], t }' "$out/$stem.metrics"
done
