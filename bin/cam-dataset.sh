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
# One job: one cnn-features run taking images from the shared list
# $out/queue as it is ready for each (cnn-features -queue: a job on a
# faster core takes more of them), at most $take when it is not 0, then
# every stage.  The features go straight to one cam-map run (one model
# load, one pass over them): gap-classify's top-5 lines (-top), the top-5
# maps and, when it is not among them, the ground-truth class's map
# ($out/classes).  The maps are kept and, in the same pipeline, boxed as
# they come (cam-bbox works while the next images are inferred).  cam-eval
# takes the GT maps from this stream; boxes are kept for the top-5
# classes only.  Each result file is written under a temporary name and
# renamed, so an interrupted run leaves only complete results.
if [ "${1:-}" = "--job" ]; then
    set -o pipefail
    out=$2 job=$3 model=$4 mode=$5 take=$6
    tmp=$(mktemp -d "$out/tmp/$job.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    topt=()
    [ "$take" = 0 ] || topt=(-take "$take")
    cnn-features -m "$model" -threads 1 -fast -queue "$out/queue" "${topt[@]}" |
        cam-map -k 5 -classes "$out/classes" -top "$tmp/s" | tee "$tmp/m" |
        cam-bbox -mode "$mode" >"$tmp/ball" || exit 1
    [ -s "$tmp/s" ] || exit 0       # the others took every image
    awk -F'\t' 'FILENAME == ARGV[1] { top[$1 FS $3] = 1; next } ($1 FS $2) in top' \
        "$tmp/s" "$tmp/ball" >"$tmp/b" || exit 1
    mv "$tmp/m" "$out/res/$job.maps" &&
    mv "$tmp/b" "$out/res/$job.boxes" &&
    mv "$tmp/s" "$out/res/$job.scores" || exit 1
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

# ---------------------------------------------------------------- the list
abs() { case $1 in /*) echo "$1";; *) echo "$PWD/$1";; esac; }
mkdir -p "$out/res" "$out/tmp" || die "$out: cannot create"

# GNU parallel takes about 0.1 s to start (Perl compiles it): it is started
# now, reading job names from a FIFO, so that it starts while the list is
# prepared.  Until they are written, any exit closes the FIFO with no
# name in it and waits for parallel, which then has nothing to do.
bar=
[ -t 2 ] && bar=--bar
fifo="$out/tmp/jobs.$$"
rm -f "$fifo"
mkfifo "$fifo" || die "$out: cannot create a FIFO"
SHELL=/bin/bash parallel $bar -j "$jobs" --halt soon,fail=1 --joblog "$out/joblog" \
    "$self" --job "$out" {} "$(abs "$model")" "$mode" "${batch:-0}" <"$fifo" &
ppid=$!
exec 3>"$fifo"
rm -f "$fifo"
queue_abort() { exec 3>&-; wait "$ppid" 2>/dev/null; }
trap queue_abort EXIT
# image -> class from the ground truth (first row of each image), then the
# images of IMAGEDIR that have ground truth, sorted.
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
[ $missing = 0 ] || echo "$prog: $missing images of the ground truth are not in $dir (first: $first); they count as failures" >&2
params="model $(abs "$model")
gt $(abs "$gt")
images $(abs "$dir")
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
rm -f "$out/list.tmp"

# What cnn-features reads for each image ($out/files): the file itself
# (netpbm, JPEG), or its netpbm conversion in $out/conv (PNG with
# pngtopnm, BMP with bmptopnm, anything else with anytopnm), made when
# the image has no result yet, GNU parallel running the converters.
# $out/classes: each image's ground-truth class (with the offset) for
# cam-map, which keys images by their name without directories and
# extension.
rm -f "$out/conv.src"
awk -F'\t' -v conv="$out/conv" -v off="$off" '{
    f = $1
    if (f !~ /\.([pP][pPgGbBaAnN][mM]|[jJ][pP][eE]?[gG])$/) {
        b = f; sub(/.*\//, "", b); sub(/\.[^.]*$/, "", b); f = conv "/" b ".ppm"
        print f "\t" $1 > (conv ".src")
    }
    print f > (conv ".files"); print f "\t" ($2 + off) }' "$out/list.ok" >"$out/classes" ||
    die "$out: cannot write"
mv "$out/conv.files" "$out/files" || die "$out: cannot write"
# The images with no result yet go to the shared list, each job taking
# them from it one at a time: one job per slot (-j) taking all it can,
# or with -b N, jobs of N images at most.
# the lines of $out/files whose image has no scores yet
pending() {
    cut -f1 "$out/res/"*.scores 2>/dev/null >"$out/tmp/done"
    awk 'FILENAME == ARGV[1] { done[$0] = 1; next } !($0 in done)' "$out/tmp/done" "$out/files"
}
pending >"$out/queue" || die "$out: cannot write"
rm -f "$out/queue.pos"
# The wall time counts from here: converting, then the jobs.
start=$(date +%s.%N)
if [ -f "$out/conv.src" ]; then
    mkdir -p "$out/conv" || die "$out: cannot create"
    awk -F'\t' 'FILENAME == ARGV[1] { want[$0] = 1; next }
        ($1 in want) && system("test -f \"" $1 "\"") != 0' "$out/queue" "$out/conv.src" >"$out/tmp/todo"
    rm -f "$out/conv.src"
    conv() {
        case $2 in
            *.png|*.PNG) pngtopnm "$2" ;;
            *.bmp|*.BMP) bmptopnm -quiet "$2" ;;
            *) anytopnm "$2" ;;
        esac >"$1.tmp" 2>/dev/null && mv "$1.tmp" "$1" ||
            { rm -f "$1.tmp"; echo "$prog: $2: cannot decode" >&2; exit 1; }
    }
    export -f conv
    export prog
    [ ! -s "$out/tmp/todo" ] ||
        SHELL=/bin/bash parallel -j "$jobs" --halt soon,fail=1 --colsep '\t' conv {1} {2} <"$out/tmp/todo" ||
        die "an image could not be decoded"
fi
left=$(wc -l <"$out/queue")
if [ -n "$batch" ]; then njob=$(( (left + batch - 1) / batch ))
else njob=$(( left < jobs ? left : jobs )); fi
run=$(( $(cat "$out/runs" 2>/dev/null || echo 0) + 1 ))
echo "$run" >"$out/runs" || die "$out: cannot write"

# ---------------------------------------------------------------- run
k=1
while [ $k -le $njob ]; do printf 'R%04d-%04d\n' "$run" "$k"; k=$((k + 1)); done >&3
exec 3>&-
trap - EXIT
wait "$ppid"
st=$?
end=$(date +%s.%N)
[ $st = 0 ] || die "a job failed (see above and $out/joblog); run again to finish"
short=$(pending | wc -l)
[ "$short" = 0 ] || die "$short images have no result (see $out/joblog): run again to finish them"
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
[ $keep = 1 ] || rm -rf "$out/tmp" "$out/conv"
exit 0
