#!/bin/bash
# cam-dataset - runs the CAM pipeline over a folder of images with GNU
# parallel and prints cam-eval's localisation metrics.  See cam-dataset(1).
set -u
prog=cam-dataset
usage="usage: cam-dataset -m MODEL -gt FILE [-j N] [-b N] [-o OUTDIR] [-class-offset N]
       [-bbox-mode MODE] [-keep] [-eval-opt OPT]... IMAGEDIR"

die()   { echo "$prog: $*" >&2; exit 1; }
usage() { [ $# -gt 0 ] && echo "$prog: $*" >&2; echo "$usage" >&2; exit 2; }
isnum() { case $1 in ''|*[!0-9]*) return 1;; esac; return 0; }

# ---------------------------------------------------------------- job mode
# One job = one batch of images: decode what is neither netpbm nor JPEG
# (cnn-features reads both itself), one cnn-features run for the whole
# batch (the model is loaded once), then every stage; each result file is
# written under a temporary name and renamed, so an interrupted run leaves
# only complete results (and the joblog decides what --resume redoes).
if [ "${1:-}" = "--job" ]; then
    set -o pipefail
    out=$2 batch=$3 model=$4 off=$5 mode=$6
    lst="$out/batches/$batch.lst"
    tmp=$(mktemp -d "$out/tmp/$batch.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    files=() classes=()
    while IFS="$(printf '\t')" read -r img cls; do
        base=${img##*/}
        stem=${base%.*}
        case $img in
            *.ppm|*.pgm|*.pbm|*.pam|*.pnm|*.PPM|*.PGM|*.PBM|*.PAM|*.PNM) f=$img ;;
            *.jpg|*.jpeg|*.JPG|*.JPEG) f=$img ;;     # cnn-features decodes JPEG itself
            *.png|*.PNG) f="$tmp/$stem.ppm"; pngtopnm "$img" >"$f" ;;
            *.bmp|*.BMP) f="$tmp/$stem.ppm"; bmptopnm -quiet "$img" >"$f" ;;
            *) f="$tmp/$stem.ppm"; anytopnm "$img" >"$f" ;;
        esac || { echo "$prog: $img: cannot decode" >&2; exit 1; }
        files+=("$f")
        classes+=("$((cls + off))")
    done <"$lst"
    # each image's ground-truth class, for its GT-class map
    for i in "${!files[@]}"; do
        printf '%s\t%s\n' "${files[$i]}" "${classes[$i]}"
    done >"$tmp/c"
    # The features go straight from cnn-features to one cam-map run (one
    # model load, one pass over them): gap-classify's top-5 lines (-top),
    # the top-5 maps and, when it is not among them, the ground-truth
    # class's map.  The maps are kept and, in the same pipeline, boxed as
    # they come (cam-bbox works while the next images are inferred).
    # cam-eval takes the GT maps from this stream; boxes are kept for the
    # top-5 classes only.
    cnn-features -m "$model" -threads 1 -batch 2 "${files[@]}" |
        cam-map -k 5 -classes "$tmp/c" -top "$tmp/s" | tee "$tmp/m" |
        cam-bbox -mode "$mode" >"$tmp/ball" || exit 1
    awk -F'\t' 'FILENAME == ARGV[1] { top[$1 FS $3] = 1; next } ($1 FS $2) in top' \
        "$tmp/s" "$tmp/ball" >"$tmp/b" || exit 1
    mv "$tmp/m" "$out/res/$batch.maps" &&
    mv "$tmp/b" "$out/res/$batch.boxes" &&
    mv "$tmp/s" "$out/res/$batch.scores" || exit 1
    exit 0
fi

# ---------------------------------------------------------------- options
model= gt= jobs= batch= out= off=0 mode=paper keep=0 evalopts=()
while [ $# -gt 0 ]; do
    case $1 in
        -m) [ $# -ge 2 ] || usage "option -m needs a value"; model=$2; shift 2 ;;
        -gt) [ $# -ge 2 ] || usage "option -gt needs a value"; gt=$2; shift 2 ;;
        -j) [ $# -ge 2 ] && isnum "$2" && [ "$2" -ge 1 ] || usage "option -j needs a positive number"
            jobs=$2; shift 2 ;;
        -b) [ $# -ge 2 ] && isnum "$2" && [ "$2" -ge 1 ] || usage "option -b needs a positive number"
            batch=$2; shift 2 ;;
        -o) [ $# -ge 2 ] || usage "option -o needs a value"; out=$2; shift 2 ;;
        -class-offset) [ $# -ge 2 ] && isnum "$2" || usage "option -class-offset needs a number >= 0"
            off=$2; shift 2 ;;
        -bbox-mode) [ $# -ge 2 ] || usage "option -bbox-mode needs a value"; mode=$2; shift 2 ;;
        -eval-opt) [ $# -ge 2 ] || usage "option -eval-opt needs a value"; evalopts+=("$2"); shift 2 ;;
        -keep) keep=1; shift ;;
        --) shift; break ;;
        -*) usage "unknown option '$1'" ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || usage "one IMAGEDIR expected"
[ -n "$model" ] || usage "-m MODEL is required"
[ -n "$gt" ] || usage "-gt FILE is required"
dir=$1
[ -d "$dir" ] || die "$dir: not a directory"
[ -r "$model" ] || die "$model: cannot read the model"
[ -r "$gt" ] || die "$gt: cannot read the ground truth"
[ -n "$jobs" ] || jobs=$(nproc 2>/dev/null || echo 1)
if [ -z "$out" ]; then
    m=${model##*/}
    out="cam-dataset-${m%.*}"
fi
# The tools next to this script first (an uninstalled build tree).
here=$(cd "$(dirname "$0")" && pwd)
case ":$PATH:" in *":$here:"*) ;; *) PATH="$here:$PATH"; export PATH ;; esac
self="$here/$(basename "$0")"
for tool in parallel cnn-features cam-map cam-bbox cam-eval; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found in PATH"
done

# ---------------------------------------------------------------- batches
abs() { case $1 in /*) echo "$1";; *) echo "$PWD/$1";; esac; }
mkdir -p "$out/batches" "$out/res" "$out/tmp" || die "$out: cannot create"

# GNU parallel takes about 0.1 s to start (Perl compiles it): it is started
# now, reading batch names from a FIFO, so that it starts while the batches
# are prepared.  Until they are written, any exit closes the FIFO with no
# name in it and waits for parallel, which then has nothing to do.
bar=
[ -t 2 ] && bar=--bar
fifo="$out/tmp/queue.$$"
rm -f "$fifo"
mkfifo "$fifo" || die "$out: cannot create a FIFO"
SHELL=/bin/bash parallel $bar -j "$jobs" --halt soon,fail=1 \
    --joblog "$out/joblog" --resume \
    "$self" --job "$out" {} "$(abs "$model")" "$off" "$mode" <"$fifo" &
ppid=$!
exec 3>"$fifo"
rm -f "$fifo"
queue_abort() { exec 3>&-; wait "$ppid" 2>/dev/null; }
trap queue_abort EXIT
# image -> class from the ground truth (first row of each image), then the
# images of IMAGEDIR that have ground truth, sorted, in batches of $batch.
ddir=$(abs "$dir")
awk -F, -v dir="$ddir" '
    NR == 1 && $1 == "image" { next }
    NF >= 2 && !($1 in seen) { seen[$1] = 1; print dir "/" $1 "\t" $2 }' "$gt" |
    sort >"$out/list.tmp" || die "$gt: cannot read"
n=0 missing=0 first=
while IFS="$(printf '\t')" read -r img cls; do
    if [ -f "$img" ]; then printf '%s\t%s\n' "$img" "$cls"; n=$((n + 1))
    else missing=$((missing + 1)); [ $missing = 1 ] && first=$img; fi
done <"$out/list.tmp" >"$out/list.new"
[ $n -gt 0 ] || die "no image of $gt found in $dir"
# Default batch: one per job, at most 500 images.  Each batch loads the
# model into three processes and warms up the engine: on 300 images, two
# jobs, batches of 150 took 7.6 s against 8.1 s for batches of 75.
# A run being resumed keeps its batches whatever -j says now.
[ -n "$batch" ] || [ ! -f "$out/params" ] || batch=$(sed -n 's/^batch \([0-9][0-9]*\)$/\1/p' "$out/params")
if [ -z "$batch" ]; then
    batch=$(( (n + jobs - 1) / jobs ))
    [ $batch -le 500 ] || batch=500
fi
[ $missing = 0 ] || echo "$prog: $missing images of the ground truth are not in $dir (first: $first); they count as failures" >&2
params="model $(abs "$model")
gt $(abs "$gt")
images $(abs "$dir")
batch $batch
class-offset $off
bbox-mode $mode"
if [ -f "$out/params" ]; then
    [ "$(cat "$out/params")" = "$params" ] ||
        die "$out holds a run with other parameters (see $out/params): use another -o or remove it"
else
    printf '%s\n' "$params" >"$out/params.tmp" && mv "$out/params.tmp" "$out/params" ||
        die "$out: cannot write"
fi

mv "$out/list.new" "$out/list.ok" || die "$out: cannot write"
split -a 4 -d -l "$batch" "$out/list.ok" "$out/batches/B" || die "$out: cannot write batches"
for f in "$out/batches/B"[0-9][0-9][0-9][0-9]; do mv "$f" "$f.lst"; done
rm -f "$out/list.tmp"

# ---------------------------------------------------------------- run
# The wall time counts from here: the batches handed to parallel.
start=$(date +%s.%N)
ls "$out/batches" | sed -n 's/\.lst$//p' >&3
exec 3>&-
trap - EXIT
wait "$ppid"
st=$?
end=$(date +%s.%N)
[ $st = 0 ] || die "a batch failed (see above and $out/joblog); run again to resume"

for b in "$out/batches/"*.lst; do
    b=${b##*/}; b=${b%.lst}
    for x in scores boxes maps; do
        [ -f "$out/res/$b.$x" ] || die "$out/res/$b.$x is missing: remove $out/joblog to redo it"
    done
done
# CPU time of the pipeline (features, maps, boxes; not cam-eval): the
# second line of 'times' (children's user, sys), taken now
times >"$out/times.tmp"
cpu=$(sed -n 2p "$out/times.tmp")
rm -f "$out/times.tmp"
cat "$out/res/"*.scores >"$out/scores.tsv" &&
cat "$out/res/"*.boxes >"$out/boxes.tsv" &&
cat "$out/res/"*.maps >"$out/gt.maps" || die "$out: cannot write"
eopt=()
[ $missing = 0 ] || eopt+=(-missing-ok)
cam-eval -gt "$gt" -class-offset "$off" -scores "$out/scores.tsv" -boxes "$out/boxes.tsv" \
    -maps "$out/gt.maps" -per-image "$out/per-image.csv" "${eopt[@]}" "${evalopts[@]}" \
    >"$out/metrics.tmp" || die "cam-eval failed"
mv "$out/metrics.tmp" "$out/metrics.tsv"
cat "$out/metrics.tsv"
awk -v a="$start" -v b="$end" -v n="$n" -v j="$jobs" -v cpu="$cpu" '
    function sec(s,  m) { m = s; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", s); sub(/s$/, "", s); return m * 60 + s }
    BEGIN { split(cpu, c, " ");
            printf "cam-dataset: %d images, %d jobs: %.2f s wall, %.1f s CPU (all processes of the pipeline, before cam-eval)\n",
                   n, j, b - a, sec(c[1]) + sec(c[2]) }' >&2
[ $keep = 1 ] || rm -rf "$out/tmp"
exit 0
