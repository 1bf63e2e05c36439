#!/bin/sh
# folder.sh - CAM for every image of a folder with GNU parallel.
#
#   examples/folder.sh MODEL DIR OUTDIR [JOBS]
#
# For each image DIR/NAME.EXT writes OUTDIR/NAME.tsv: the top-5 lines of
# gap-classify followed by the top-1 box of cam-bbox.  Each result is
# written to a temporary file and renamed into place, so an interrupted run
# leaves no half-written result; run the same command again and --resume
# (with the job log OUTDIR/joblog) skips the images already done.
set -eu

if [ "${1:-}" = "--one" ]; then            # one image, run by parallel
    img=$2
    name=$(basename "${img%.*}")
    tmp="$CAM_OUT/.$name.$$"
    trap 'rm -f "$tmp.f" "$tmp.tsv"' EXIT
    anytopnm "$img" 2>/dev/null | cnn-features -m "$CAM_MODEL" > "$tmp.f"
    # the features came from stdin: name the lines after the image
    { gap-classify -k 5 "$tmp.f"; cam-map "$tmp.f" | cam-bbox; } |
        awk -v n="$img" 'BEGIN { FS = OFS = "\t" } { $1 = n; print }' > "$tmp.tsv"
    mv "$tmp.tsv" "$CAM_OUT/$name.tsv"
    exit 0
fi

[ $# -ge 3 ] || { echo "usage: $0 MODEL DIR OUTDIR [JOBS]" >&2; exit 2; }
CAM_MODEL=$1 CAM_OUT=$3
export CAM_MODEL CAM_OUT
mkdir -p "$CAM_OUT"
# a progress bar only for a person watching: without a terminal, parallel's
# --bar fills logs with escape sequences and failed /dev/tty opens
bar=
[ -t 2 ] && bar=--bar
find "$2" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \
     -o -iname '*.bmp' -o -iname '*.ppm' -o -iname '*.pnm' \) | sort |
    parallel --will-cite $bar -j "${4:-2}" --joblog "$CAM_OUT/joblog" --resume \
        sh "$0" --one {}
