#!/bin/sh
# ilsvrc-accuracy.sh - top-1 / top-5 classification accuracy of cnn-features
# over the ILSVRC2012 validation photographs of ../shared/data/ilsvrc-dev.
#
#   tests/ilsvrc-accuracy.sh [-n N] [-threads T] [MODEL]
#
# Decodes the first N images (sorted by name; all 300 by default) with
# jpegtopnm into one multi-image stream, runs one cnn-features process with
# the model's logits layer, and prints
#   model<TAB>images<TAB>top1<TAB>top5<TAB>seconds
# A 1001-class model (index 0 = background) is scored with class + 1.
# Reference (ONNX Runtime, MODELS.md): googlenet-bvlc.onnx 0.7867 / 0.9333,
# squeezenet1.1-bvlc.onnx 0.7400 / 0.9100.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${CAM_SHARED:-$TOP/../shared}
BUILD=${CAM_TEST_TOOLS:-$TOP/build/rel/tools}
PATH="$TOP/bin:$PATH"
N=300
THREADS=
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift 2 ;;
    -threads) THREADS="-threads $2"; shift 2 ;;
    -*) echo "usage: $0 [-n N] [-threads T] [MODEL]" >&2; exit 2 ;;
    *) break ;;
    esac
done
MODEL=${1:-$SHARED/models/googlenet-bvlc.onnx}
DATA=$SHARED/data/ilsvrc-dev
[ -d "$DATA/images" ] || { echo "$0: no data at $DATA" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ilsvrc.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

logits=$(cnn-features -m "$MODEL" -list | awk -F'\t' '$3 == "logits" { print $1 }')
[ -n "$logits" ] || { echo "$0: $MODEL: no logits layer found" >&2; exit 1; }
nclasses=$(cnn-features -m "$MODEL" -list | awk -F'\t' '$3 == "logits" { n = split($2, d, " "); print d[n] }')
off=0; [ "$nclasses" = 1001 ] && off=1

ls "$DATA/images" | sort | head -n "$N" > "$TMP/names"
# ground truth: the class of each image's first box
awk -F, 'NR > 1 && !($1 in c) { c[$1] = $2 } END { for (k in c) print k, c[k] }' "$DATA/boxes.csv" |
    sort > "$TMP/truth"
start=$(date +%s.%N)
while read -r f; do jpegtopnm "$DATA/images/$f" 2>/dev/null; done < "$TMP/names" |
    cnn-features -m "$MODEL" $THREADS -layer "$logits" | "$BUILD/ttopk" -k 5 > "$TMP/top5"
end=$(date +%s.%N)
paste -d' ' "$TMP/names" "$TMP/top5" | sort > "$TMP/pred"
join "$TMP/pred" "$TMP/truth" | awk -v off="$off" -v model="$MODEL" -v s="$start" -v e="$end" '
    { gt = $NF + off; n++; if ($4 == gt) t1++;
      for (i = 4; i <= 8; i++) if ($i == gt) { t5++; break } }
    END { printf "%s\t%d\t%.4f\t%.4f\t%.1f\n", model, n, t1 / n, t5 / n, e - s }'
