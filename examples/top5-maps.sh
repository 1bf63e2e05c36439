#!/bin/sh
# top5-maps.sh - the maps of the five best classes of one photograph, side
# by side in one PNG, each with its box.
#
#   examples/top5-maps.sh MODEL IMAGE [OUT.png]
set -eu
[ $# -ge 2 ] || { echo "usage: $0 MODEL IMAGE [OUT.png]" >&2; exit 2; }
model=$1 img=$2
out=${3:-$(basename "${img%.*}")-top5.png}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cam.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

anytopnm "$img" > "$tmp/image.ppm" 2>/dev/null
cnn-features -m "$model" "$tmp/image.ppm" | cam-map -k 5 > "$tmp/maps.t"
cam-bbox "$tmp/maps.t" > "$tmp/box.tsv"
cam-overlay -boxes "$tmp/box.tsv" -in "$tmp/maps.t" "$tmp/image.ppm" > "$tmp/all.ppm"
(cd "$tmp" && pnmsplit all.ppm map%d.ppm 2>/dev/null)
pnmcat -lr "$tmp"/map0.ppm "$tmp"/map1.ppm "$tmp"/map2.ppm "$tmp"/map3.ppm "$tmp"/map4.ppm |
    pnmtopng > "$tmp/out.png"
mv "$tmp/out.png" "$out"
# rank, class, score and box of each map
awk -F'\t' '{ printf "%d\tclass %s\tscore %s\tbox %s %s %s %s\n", NR, $2, $8, $3, $4, $5, $6 }' "$tmp/box.tsv"
echo "wrote $out" >&2
