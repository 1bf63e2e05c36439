#!/bin/sh
# birds.sh - a fine-grained model: the iNaturalist bird MobileNetV2 (965
# species, uint8 TFLite) on three photographs; prints the top-5 species of
# each and writes the top-5 maps side by side, each with its box, as PNGs.
#
#   examples/birds.sh [SHARED] [OUTDIR]
#
# SHARED is the directory with models/ and images/ (default ../shared, or
# $CAM_SHARED); OUTDIR defaults to birds-out.
set -eu
shared=${1:-${CAM_SHARED:-../shared}}
out=${2:-birds-out}
model=$shared/models/mobilenet_v2_1.0_224_inat_bird_quant.tflite
[ -f "$model" ] || { echo "birds.sh: $model not found" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/birds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for img in bird.bmp parrot.jpg owl.jpg; do
    stem=${img%.*}
    anytopnm "$shared/images/$img" > "$tmp/$stem.ppm" 2>/dev/null
    cnn-features -m "$model" "$tmp/$stem.ppm" > "$tmp/$stem.t"
    echo "== $img"
    gap-classify -k 5 "$tmp/$stem.t" | cut -f2-5
    cam-map -k 5 "$tmp/$stem.t" > "$tmp/$stem.maps"
    cam-bbox "$tmp/$stem.maps" > "$tmp/$stem.boxes"
    # one overlay per map, each with its own box, side by side
    i=0
    for cls in $(cut -f2 "$tmp/$stem.boxes"); do
        i=$((i + 1))
        awk -F'\t' -v c="$cls" '$2 == c' "$tmp/$stem.boxes" > "$tmp/b$i"
        cam-map -c "$cls" "$tmp/$stem.t" |
            cam-overlay -boxes "$tmp/b$i" "$tmp/$stem.ppm" > "$tmp/$stem-$i.ppm"
    done
    pnmcat -lr "$tmp/$stem"-[1-5].ppm | pnmtopng > "$tmp/$stem.png"
    mv "$tmp/$stem.png" "$out/$stem-top5.png"
done
echo "maps of the top-5 species, left to right: $out/*-top5.png" >&2
