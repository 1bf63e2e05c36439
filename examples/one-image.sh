#!/bin/sh
# one-image.sh - one photograph to a PNG: the top class's map over the
# image with its box, and the top-5 list on stdout.
#
#   examples/one-image.sh MODEL IMAGE [OUT.png]
#
# IMAGE may be any format netpbm's anytopnm reads (JPEG, BMP, PNG, PPM...).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 MODEL IMAGE [OUT.png]" >&2; exit 2; }
model=$1 img=$2
out=${3:-$(basename "${img%.*}")-cam.png}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cam.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

anytopnm "$img" > "$tmp/image.ppm" 2>/dev/null
cnn-features -m "$model" "$tmp/image.ppm" > "$tmp/features.t"
# the records name the converted copy: show the lines under IMAGE's name
rename() { awk -v n="$img" 'BEGIN { FS = OFS = "\t" } { $1 = n; print }'; }
gap-classify -k 5 "$tmp/features.t" | rename
cam-map "$tmp/features.t" > "$tmp/map.t"
cam-bbox "$tmp/map.t" > "$tmp/box.tsv"
rename < "$tmp/box.tsv"
cam-overlay -boxes "$tmp/box.tsv" -in "$tmp/map.t" "$tmp/image.ppm" | pnmtopng > "$tmp/out.png"
mv "$tmp/out.png" "$out"
echo "wrote $out" >&2
