#!/bin/sh
# cam-eval: metrics from gap-classify / cam-bbox lines and from map records,
# per-image CSV, missing images, malformed input, usage errors.
. "$(dirname "$0")/../tap.sh"

cat >"$TMP/gt.csv" <<'EOF'
image,class,wnid,x0,y0,x1,y1
a.JPEG,5,n1,0,0,9,9
b.JPEG,7,n2,0,0,4,4
b.JPEG,7,n2,10,10,19,19
c.JPEG,9,n3,0,0,99,99
EOF
printf 'dir/a.ppm\t1\t5\t0.9\tfive\na.ppm\t2\t3\t0.05\tthree\nb.ppm\t1\t1\t0.5\tone\nb.ppm\t2\t7\t0.4\tseven\nc.ppm\t1\t1\t0.3\tone\n' >"$TMP/scores"
printf 'a.ppm\t5\t0\t0\t9\t9\t0.2\na.ppm\t3\t50\t50\t60\t60\nb.ppm\t1\t0\t0\t19\t19\nb.ppm\t7\t10\t10\t19\t19\nc.ppm\t1\t0\t0\t99\t99\nc.ppm\t9\t0\t0\t30\t30\n' >"$TMP/boxes"

t "scores and boxes" cam-eval -gt "$TMP/gt.csv" -scores "$TMP/scores" -boxes "$TMP/boxes"
cp "$TMP/out" "$TMP/m1"
metric() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$2"; }
is "$(metric images "$TMP/m1")" 3 "3 images"
is "$(metric top1_cls "$TMP/m1")" 0.3333 "top-1 classification"
is "$(metric top5_cls "$TMP/m1")" 0.6667 "top-5 classification"
is "$(metric top1_loc "$TMP/m1")" 0.3333 "top-1 localisation"
is "$(metric top5_loc "$TMP/m1")" 0.6667 "top-5 localisation (second GT box of b)"
is "$(metric gt_known "$TMP/m1")" 0.6667 "GT-known from boxes"
is "$(metric top1_loc_err "$TMP/m1")" 66.67 "top-1 localisation error in percent"
is "$(metric maxboxacc "$TMP/m1")" "" "no MaxBoxAcc without maps"

t "per-image CSV" cam-eval -gt "$TMP/gt.csv" -scores "$TMP/scores" -boxes "$TMP/boxes" -per-image "$TMP/pi.csv"
is "$(sed -n 2p "$TMP/pi.csv")" "a.JPEG,5,5,1,1,1,1,1,1.0000,0,,0" "per-image row a"
is "$(sed -n 4p "$TMP/pi.csv")" "c.JPEG,9,1,0,0,0,0,0,0.0961,0,,0" "per-image row c"

t "class offset" cam-eval -gt "$TMP/gt.csv" -class-offset -4 -scores "$TMP/scores"
is "$(metric top1_cls "$TMP/out")" 0.0000 "offset moves the ground-truth classes"

# GT boxes only for the top-k classes: GT-known cannot come from boxes.
grep -v "^c.ppm.9" "$TMP/boxes" >"$TMP/boxes2"
t "GT-class box lacking" cam-eval -gt "$TMP/gt.csv" -boxes "$TMP/boxes2"
is "$(metric gt_known "$TMP/out")" "" "gt_known omitted"
case $(cat "$TMP/err") in *"1 images have no box"*) ok 0 "warning says why";; *) ok 1 "warning says why";; esac

# Missing images.
grep -v "^b" "$TMP/scores" >"$TMP/scores2"
fails 1 "image missing from the scores" cam-eval -gt "$TMP/gt.csv" -scores "$TMP/scores2"
case $(cat "$TMP/ferr") in *"image 'b.JPEG'"*) ok 0 "message names the image";; *) ok 1 "message names the image: $(cat "$TMP/ferr")";; esac
t "-missing-ok" cam-eval -gt "$TMP/gt.csv" -scores "$TMP/scores2" -missing-ok
is "$(metric top5_cls "$TMP/out")" 0.3333 "missing image counted as a failure"
printf 'zz.ppm\t1\t5\t0.9\tfive\n' >>"$TMP/scores2"
fails 1 "image not in the ground truth (strict)" cam-eval -gt "$TMP/gt.csv" -scores "$TMP/scores" -scores "$TMP/scores2"

# Malformed input names file:line.
sed '3s/,0,0,4,4/,0,0,4/' "$TMP/gt.csv" >"$TMP/bad.csv"
fails 1 "short ground-truth line" cam-eval -gt "$TMP/bad.csv" -scores "$TMP/scores"
case $(cat "$TMP/ferr") in "cam-eval: $TMP/bad.csv:3: 6 fields"*) ok 0 "message names file:line";; *) ok 1 "message names file:line: $(cat "$TMP/ferr")";; esac
printf 'a.ppm\t5\t0\t0\tnine\t9\n' >"$TMP/badbox"
fails 1 "bad box coordinate" cam-eval -gt "$TMP/gt.csv" -boxes "$TMP/badbox"
case $(cat "$TMP/ferr") in *"badbox:1: field 5"*) ok 0 "message names line and field";; *) ok 1 "message names line and field: $(cat "$TMP/ferr")";; esac
fails 1 "unreadable ground truth" cam-eval -gt "$TMP/nonexistent" -scores "$TMP/scores"
fails 1 "scores on stdin, bad" sh -c "echo junk | cam-eval -gt '$TMP/gt.csv' -scores -"

# Usage.
fails 2 "no -gt" cam-eval -scores "$TMP/scores"
fails 2 "nothing to evaluate" cam-eval -gt "$TMP/gt.csv"
fails 2 "unknown option" cam-eval -gt "$TMP/gt.csv" -scores "$TMP/scores" -bogus
fails 2 "bad step" cam-eval -gt "$TMP/gt.csv" -maps /dev/null -step 0
fails 2 "bad upsample" cam-eval -gt "$TMP/gt.csv" -maps /dev/null -upsample lanczos
fails 2 "two stdin inputs" cam-eval -gt - -scores -
fails 2 "bad -threads" cam-eval -gt "$TMP/gt.csv" -maps /dev/null -threads 0

# ---- maps: records written by hand (cam-tensor(5)): f32 little-endian.
# map W H SOURCE CLASS [IMAGE_W IMAGE_H] VALUES...
map() {
    w=$1 h=$2 src=$3 cls=$4 iw=$5 ih=$6; shift 6
    printf 'CAMTENSOR 1\nname map\ndtype f32\nshape %s %s\nkind map\nsource %s\nclass %s\nimage_width %s\nimage_height %s\nENDHDR\n' \
        "$h" "$w" "$src" "$cls" "$iw" "$ih"
    perl -e 'print pack("f<*", @ARGV)' "$@"
}
# REFERENCE.md's first wsol vector: boxes at tau 0 .2 .4 .6 .8 are
# [1,1,4,3] [1,1,4,3] [2,1,4,3] [2,2,4,3] [2,2,3,3]; with the ground truth
# [2,2,3,3] their IoUs are 1/3 1/3 4/9 2/3 1.
M1="0 0 0 0 0  0 .4 .4 .4 .6  0 .4 1 .8 .6  0 .4 .4 .4 .6"
printf 'image,class,wnid,x0,y0,x1,y1\nv1.png,3,n,2,2,3,3\n' >"$TMP/gtv.csv"
map 5 4 /x/v1.ppm 3 5 4 $M1 >"$TMP/v1.t"
t "maps: wsol vector" cam-eval -gt "$TMP/gtv.csv" -maps "$TMP/v1.t" -step 0.2
cp "$TMP/out" "$TMP/mv"
is "$(metric maxboxacc "$TMP/mv")" 1.0000 "MaxBoxAcc"
is "$(metric maxboxacc_tau "$TMP/mv")" 0.6000 "best tau is the first reaching IoU .5 (.6)"
is "$(metric maxboxacc_v2_iou30_tau "$TMP/mv")" 0.0000 "IoU .3 reached at tau 0"
is "$(metric maxboxacc_v2_iou70_tau "$TMP/mv")" 0.8000 "IoU .7 reached at tau .8"
is "$(metric maxboxacc_v2 "$TMP/mv")" 1.0000 "MaxBoxAccV2"
is "$(metric gt_known "$TMP/mv")" 0.0000 "GT-known from the map: paper box [1,1,4,3] misses"
printf 'image,class,wnid,x0,y0,x1,y1\nv1.png,3,n,1,1,4,3\n' >"$TMP/gtp.csv"
t "maps: paper box" cam-eval -gt "$TMP/gtp.csv" -maps "$TMP/v1.t"
is "$(metric gt_known "$TMP/out")" 1.0000 "GT-known from the map: paper box [1,1,4,3]"

# Maps of other classes are skipped; the GT-class map counts once.
{ map 5 4 v1 7 5 4 $M1; map 5 4 v1 3 5 4 $M1; map 5 4 v1 3 5 4 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0; } >"$TMP/v3.t"
t "maps: other classes and repeats" cam-eval -gt "$TMP/gtv.csv" -maps "$TMP/v3.t" -step 0.2
is "$(metric maxboxacc "$TMP/out")" 1.0000 "the first GT-class map is used"

# Constant and all-zero maps: no contour, box [0,0,0,0].
printf 'image,class,wnid,x0,y0,x1,y1\nk.png,0,n,1,1,3,2\nz.png,0,n,0,0,0,0\n' >"$TMP/gtk.csv"
{ map 5 4 k 0 5 4 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2; map 5 4 z 0 5 4 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0; } >"$TMP/k.t"
t "maps: constant and zero" cam-eval -gt "$TMP/gtk.csv" -maps "$TMP/k.t"
is "$(metric maxboxacc "$TMP/out")" 0.5000 "a [0,0,0,0] box only matches a [0,0,0,0] ground truth"

# Upsampling to the image: a 2x2 map on a 20x20 image, hot top-left cell.
printf 'image,class,wnid,x0,y0,x1,y1\nu.png,1,n,0,0,9,9\n' >"$TMP/gtu.csv"
map 2 2 u 1 20 20 1 0 0 0 >"$TMP/u.t"
t "maps: upsampled" cam-eval -gt "$TMP/gtu.csv" -maps "$TMP/u.t" -per-image "$TMP/u.csv"
is "$(metric maxboxacc "$TMP/out")" 1.0000 "upsampled map localises the quarter"
t "maps: nearest" cam-eval -gt "$TMP/gtu.csv" -maps "$TMP/u.t" -upsample nearest
is "$(metric maxboxacc_v2_iou70 "$TMP/out")" 1.0000 "nearest upsampling gives the exact quarter"

# 150 noisy maps (more than one batch of 64): same results with 1 or 3 threads.
perl -e '
    srand(5); open G, ">", "'"$TMP"'/gtn.csv"; print G "image,class,wnid,x0,y0,x1,y1\n";
    for $i (0 .. 149) {
        my ($cx, $cy) = (rand(7), rand(7));
        printf G "n%03d.JPEG,2,n,%d,%d,%d,%d\n", $i, 10 + rand(60), 10 + rand(60), 90 + rand(60), 90 + rand(60);
        printf "CAMTENSOR 1\nname m\ndtype f32\nshape 7 7\nkind map\nsource n%03d.ppm\nclass 2\n", $i; print
              "image_width 160\nimage_height 150\nENDHDR\n";
        for $y (0 .. 6) { for $x (0 .. 6) {
            print pack("f<", exp(-(($x - $cx) ** 2 + ($y - $cy) ** 2) / 4) + 0.3 * rand()) } } }' >"$TMP/n.t"
t "150 maps, 1 thread" cam-eval -threads 1 -gt "$TMP/gtn.csv" -maps "$TMP/n.t" -per-image "$TMP/n1.csv"
cp "$TMP/out" "$TMP/n1"
t "150 maps, 3 threads" cam-eval -threads 3 -gt "$TMP/gtn.csv" -maps "$TMP/n.t" -per-image "$TMP/n3.csv"
cp "$TMP/out" "$TMP/n3"
t "same metrics" cmp "$TMP/n3" "$TMP/n1"
t "same per-image results" cmp "$TMP/n1.csv" "$TMP/n3.csv"
is "$(metric images "$TMP/n1")" 150 "150 images"

fails 1 "map missing" cam-eval -gt "$TMP/gt.csv" -maps "$TMP/v1.t"
printf 'CAMTENSOR 1\nname map\ndtype f32\nshape 4 5\nkind features\nsource v1\nclass 3\nENDHDR\n' >"$TMP/kind.t"
perl -e 'print pack("f<*", (0) x 20)' >>"$TMP/kind.t"
fails 1 "record of the wrong kind" cam-eval -gt "$TMP/gtv.csv" -maps "$TMP/kind.t"
head -c 150 "$TMP/v1.t" >"$TMP/trunc.t"
fails 1 "truncated map record" cam-eval -gt "$TMP/gtv.csv" -maps "$TMP/trunc.t"

done_testing
