#!/bin/bash
# coarse-head.sh - a new head for coarse classes on GoogLeNet features:
# dogs, cats, birds, reptiles/amphibians, insects, wild carnivores, fish,
# vehicles, food, and "other", from the development images' ground truth.
# Reports the new head's cross-validated accuracy next to the original
# 1000-class head's top-1 mapped to the same groups and, when cam-map
# takes -head, the GT-known localisation of both heads' maps.
#
#   examples/coarse-head.sh [MODEL] [DATADIR] [WORKDIR]
set -euo pipefail
shared=${CAM_SHARED:-../shared}
model=${1:-$shared/models/googlenet-bvlc.onnx}
data=${2:-$shared/data/ilsvrc-dev}
work=${3:-coarse-work}
mkdir -p "$work/ppm"

# ImageNet class -> coarse group
group='function grp(c) {
    if (c >= 151 && c <= 268) return "dog"
    if (c >= 281 && c <= 285) return "cat"
    if ((c >= 7 && c <= 24) || (c >= 80 && c <= 100) || (c >= 127 && c <= 146)) return "bird"
    if (c >= 25 && c <= 68) return "reptile or amphibian"
    if (c >= 300 && c <= 326) return "insect"
    if ((c >= 269 && c <= 280) || (c >= 286 && c <= 299)) return "wild carnivore"
    if ((c >= 0 && c <= 6) || (c >= 389 && c <= 397)) return "fish"
    if (c in veh) return "vehicle"
    if (c >= 924 && c <= 969) return "food"
    return "other"
}
BEGIN { n = split("407 436 444 468 511 555 569 573 575 609 627 654 656 661 665 670 671 675 705 717 734 751 757 779 802 803 817 829 847 864 866 867 870 874 880", v, " ")
        for (i = 1; i <= n; i++) veh[v[i]] = 1 }'
awk -F, "$group"'
    NR == 1 { print "name,label"; next }
    !($1 in seen) { seen[$1] = 1; print $1 "," grp($2 + 0) }' "$data/boxes.csv" >"$work/coarse.csv"
echo "images per group:"
tail -n +2 "$work/coarse.csv" | cut -d, -f2 | sort | uniq -c | sort -rn

ls "$data/images" | parallel -j "$(nproc)" \
    "if [ ! -s '$work/ppm/{.}.ppm' ]; then jpegtopnm -quiet '$data/images/{}' > '$work/ppm/{.}.tmp' && mv '$work/ppm/{.}.tmp' '$work/ppm/{.}.ppm'; fi"
[ -s "$work/feats.t" ] || { cnn-features -m "$model" "$work/ppm/"*.ppm >"$work/feats.tmp" && mv "$work/feats.tmp" "$work/feats.t"; }

echo "new head, softmax regression, 5-fold CV:"
gap-train -labels "$work/coarse.csv" -o "$work/coarse.head" "$work/feats.t" | tee "$work/train.txt"
echo "new head, linear SVMs, 5-fold CV:"
gap-train -svm -labels "$work/coarse.csv" -o "$work/coarse-svm.head" "$work/feats.t" | grep _acc

# the original head's top-1 class, mapped to the groups
gap-classify -k 1 "$work/feats.t" |
    awk -F'\t' "$group"'{ n = split($1, a, "/"); s = a[n]; sub(/\.[^.]*$/, "", s); print s "\t" grp($3 + 0) }' |
    sort >"$work/orig.pred"
awk -F, 'NR > 1 { s = $1; sub(/\.[^.]*$/, "", s); print s "\t" $2 }' "$work/coarse.csv" | sort >"$work/coarse.tsv"
join -t $'\t' "$work/coarse.tsv" "$work/orig.pred" |
    awk -F'\t' '{ n++; ok += $2 == $3 } END { printf "original 1000-class head, top-1 mapped to the groups:\t%.4f\n", ok / n }'

# GT-known localisation: each image's ground-truth group's map from the
# new head, against the original head's map of the exact class
if cam-map -head "$work/coarse.head" -k 1 </dev/null >/dev/null 2>&1; then
    # the ground truth with the coarse class index (gap-train numbers the
    # labels in order of first appearance in the labels file)
    awk -F, 'NR == FNR { if (FNR > 1 && !($2 in idx)) idx[$2] = k++; lab[$1] = $2; next }
             FNR == 1 { print; next }
             { $2 = idx[lab[$1]]; print }' OFS=, "$work/coarse.csv" "$data/boxes.csv" >"$work/coarse-gt.csv"
    ncls=$(tail -n +2 "$work/coarse.csv" | cut -d, -f2 | sort -u | wc -l)
    cam-map -head "$work/coarse.head" -k "$ncls" "$work/feats.t" >"$work/coarse.maps"
    echo "new head's maps (its group's map):"
    cam-eval -gt "$work/coarse-gt.csv" -maps "$work/coarse.maps" -per-image "$work/pi-new.csv" |
        grep -E '^(gt_known|maxboxacc_v2)\b'
    cam-map -k 1000 "$work/feats.t" >"$work/orig.maps"
    echo "original head's maps (the exact class's map):"
    cam-eval -gt "$data/boxes.csv" -maps "$work/orig.maps" -per-image "$work/pi-orig.csv" |
        grep -E '^(gt_known|maxboxacc_v2)\b'
    # the same without the heterogeneous "other" group
    awk -F, 'NR == FNR { if (FNR > 1 && $2 != "other") keep[$1] = 1; next }
             FNR > 1 && ($1 in keep) { n[FILENAME]++; g[FILENAME] += $8 }
             END { printf "gt_known without \"other\" (%d images): new head %.4f, original head %.4f\n",
                   n[ARGV[2]], g[ARGV[2]] / n[ARGV[2]], g[ARGV[3]] / n[ARGV[3]] }' \
        "$work/coarse.csv" "$work/pi-new.csv" "$work/pi-orig.csv"
else
    echo "(cam-map has no -head option here: localisation of the new head's maps skipped)"
fi
