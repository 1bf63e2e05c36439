#!/bin/sh
# cam-bbox: REFERENCE.md's wsol vectors, the paper rule, geometry, bad input.
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"

V1="0 0 0 0 0  0 .4 .4 .4 .6  0 .4 1 .8 .6  0 .4 .4 .4 .6"
V2=".4 0 .2 .2 .2  .4 .4 0 .4 0  0 0 0 .4 0  1 .6 .8 .2 .2"
Z="0 0 0 0 0  0 0 0 0 0  0 0 0 0 0  0 0 0 0 0"

mkrec v1 4 5 $V1 > "$TMP/v1.t"
mkrec v2 4 5 kind=map $V2 > "$TMP/v2.t"
mkrec z 4 5 $Z > "$TMP/z.t"

got=$(cam-bbox -mode wsol -t 0,.2,.4,.6,.8 "$TMP/v1.t" | boxes)
is "$got" "[1,1,4,3] [1,1,4,3] [2,1,4,3] [2,2,4,3] [2,2,3,3]" "wsol vector 1"
got=$(cam-bbox -mode wsol -t 0,.2,.4,.6,.8 < "$TMP/v2.t" | boxes)
is "$got" "[0,0,4,3] [0,0,2,2] [0,3,3,3] [2,3,3,3] [0,3,1,3]" "wsol vector 2"
got=$(cam-bbox -mode wsol -t 0,.2,.4,.6,.8 "$TMP/z.t" | boxes)
is "$got" "[0,0,0,0] [0,0,0,0] [0,0,0,0] [0,0,0,0] [0,0,0,0]" "wsol all-zero map"

# the same vectors as .npy files through tensor-npy, when it is built
if [ -x "$BIN/tensor-npy" ]; then
    mknpy "$TMP/v1.npy" 4 5 $V1
    mknpy "$TMP/v2.npy" 4 5 $V2
    got=$(tensor-npy "$TMP/v1.npy" "$TMP/v2.npy" | cam-bbox -mode wsol -t 0,.2,.4,.6,.8 | boxes)
    is "$got" "[1,1,4,3] [1,1,4,3] [2,1,4,3] [2,2,4,3] [2,2,3,3] [0,0,4,3] [0,0,2,2] [0,3,3,3] [2,3,3,3] [0,3,1,3]" \
       "wsol vectors through tensor-npy"
else
    skip "tensor-npy not built"
fi

# columns: name class x0 y0 x1 y1 threshold score area
mkrec m 4 5 kind=map source=cat.ppm class=281 score=0.5 $V1 > "$TMP/m.t"
line=$(cam-bbox "$TMP/m.t")
is "$line" "$(printf 'cat.ppm\t281\t1\t1\t4\t3\t0.2\t0.5\t12')" "paper rule: name, class, box, threshold, score, pixels"
got=$(cam-bbox -t 0.5 "$TMP/m.t" | boxes)
is "$got" "[2,1,4,3]" "paper rule at 0.5: largest 8-connected component"

# geometry: a 2x2 map of a 7x3 image (odd, non-square) upsampled first
mkrec g 2 2 kind=map image_width=7 image_height=3 0 0 0 1 > "$TMP/g.t"
got=$(cam-bbox -t 0.9 "$TMP/g.t" | boxes)
is "$got" "[5,2,6,2]" "boxes in original pixels (7x3 image)"
got=$(cam-bbox -t 0.5 -interp nearest "$TMP/g.t" | boxes)
is "$got" "[3,1,6,2]" "nearest upsampling (half-pixel: cell floor((x+0.5)*2/7))"
mkrec tall 2 1 kind=map image_width=3 image_height=10 0 1 > "$TMP/tall.t"
got=$(cam-bbox -t 0.5 -interp nearest "$TMP/tall.t" | boxes)
is "$got" "[0,5,2,9]" "tall image"
mkrec r 1 2 kind=map image_width=10 image_height=4 "roi=2 0 6 4" 0 1 > "$TMP/r.t"
got=$(cam-bbox -t 0.5 -interp nearest "$TMP/r.t" | boxes)
is "$got" "[4,0,9,3]" "roi: the map covers part of the image"

# NaN and constant maps: no box
mkrec n 2 2 kind=map 1 NaN 2 3 > "$TMP/n.t"
got=$(cam-bbox "$TMP/n.t" | boxes)
is "$got" "[0,0,0,0]" "NaN map: empty box"
mkrec c 2 2 kind=map 2 2 2 2 > "$TMP/c.t"
got=$(cam-bbox -mode wsol "$TMP/c.t" | boxes)
is "$got" "[0,0,0,0]" "constant map: empty box"

# several maps, several files, zhou mode gives at least one box per map
n=$(cat "$TMP/v1.t" "$TMP/v2.t" | cam-bbox - "$TMP/m.t" | wc -l)
is "$n" 3 "one line per map across stdin and files"
t "zhou mode runs" cam-bbox -mode zhou "$TMP/g.t"

# bad input
mkrec f 2 2 kind=features 1 2 3 4 > "$TMP/f.t"
fails 1 "features record is not a map" cam-bbox "$TMP/f.t"
grep -q "kind 'features'" "$TMP/ferr"; ok $? "message names the kind"
printf 'CAMTENSOR 1\nname x\ndtype f32\nshape 2 2\nENDHDR\nabc' > "$TMP/trunc.t"
fails 1 "truncated record" cam-bbox "$TMP/trunc.t"
fails 1 "missing file" cam-bbox "$TMP/nonexistent"
mkrec bad 2 2 kind=map image_width=0 image_height=3 1 2 3 4 > "$TMP/bad.t"
fails 1 "bad geometry" cam-bbox "$TMP/bad.t"
printf 'CAMTENSOR 1\nname x\ndtype f32\nshape 2 2 2\nENDHDR\n' > "$TMP/3d.t"
head -c 32 /dev/zero >> "$TMP/3d.t"
fails 1 "a 2x2x2 record is not a map" cam-bbox "$TMP/3d.t"
fails 2 "unknown mode" cam-bbox -mode nope "$TMP/v1.t"
fails 2 "threshold out of range" cam-bbox -t 1.5 "$TMP/v1.t"
fails 2 "zhou needs three thresholds" cam-bbox -mode zhou -t 20 "$TMP/v1.t"
fails 2 "unknown option" cam-bbox -x "$TMP/v1.t"
# an error in record 1 keeps record 0's complete lines
cat "$TMP/v1.t" "$TMP/f.t" | cam-bbox > "$TMP/o" 2>/dev/null; st=$?
is "$st:$(wc -l < "$TMP/o")" "1:1" "earlier records' lines stay, status 1"
done_testing
