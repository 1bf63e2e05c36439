#!/bin/sh
# cnn-features: options, input kinds, metadata, and every kind of bad input
# (exit status, one-line message, nothing on stdout).
. "$(dirname "$0")/../tap.sh"
TOOLS=${CAM_TEST_TOOLS:-$TOP/build/rel/tools}

# ---- without models
fails 2 "no model" cnn-features
fails 2 "unknown option" cnn-features -m x.onnx -frobnicate
fails 2 "option without its value" cnn-features -m
fails 2 "bad -size" cnn-features -m x.onnx -size 224
fails 2 "bad -mean" cnn-features -m x.onnx -mean 1,2
fails 2 "zero -std" cnn-features -m x.onnx -std 1,0,1
fails 2 "bad -threads" cnn-features -m x.onnx -threads 0
fails 2 "bad -batch" cnn-features -m x.onnx -batch 0
fails 2 "-batch too large" cnn-features -m x.onnx -batch 65
fails 2 "-take without -queue" cnn-features -m x.onnx -take 3
fails 2 "-queue and files" cnn-features -m x.onnx -queue list a.ppm
fails 2 "bad -take" cnn-features -m x.onnx -queue list -take 0
printf 'this is not a model at all' > "$TMP/bad.onnx"
fails 1 "corrupt model" cnn-features -m "$TMP/bad.onnx" /dev/null
fails 1 "missing model" cnn-features -m "$TMP/none.onnx" /dev/null

have_shared || { done_testing; exit $?; }
M=$SHARED/models/squeezenet1.1-bvlc.onnx
IMG=$SHARED/images/cat.bmp

# A truncated copy of a real model.
head -c 100000 "$M" > "$TMP/cut.onnx"
fails 1 "truncated model" cnn-features -m "$TMP/cut.onnx" /dev/null

# An operator the engine does not know: the first Relu renamed (same length,
# so the protobuf stays valid).
perl -0777 -pe 's/\x22\x04Relu/\x22\x04Relv/' "$M" > "$TMP/badop.onnx"
fails 1 "unsupported operator" cnn-features -m "$TMP/badop.onnx" /dev/null
grep -q "Relv" "$TMP/ferr" && grep -q "conv1/relu" "$TMP/ferr"; ok $? "message names the operator and its node: $(cat "$TMP/ferr")"
fails 1 "unsupported operator, with -layer" cnn-features -m "$TMP/badop.onnx" -layer conv10 /dev/null

# ---- good input
bmptopnm "$IMG" 2>/dev/null > "$TMP/cat.ppm"
t "image from a file" cnn-features -m "$M" "$TMP/cat.ppm"
cp "$TMP/out" "$TMP/one.ts"
tensor-info "$TMP/one.ts" > "$TMP/info" 2>&1
grep -q 'conv10/relu' "$TMP/info"; ok $? "record named after the CAM layer"
grep -q '1000 14 14\|1000x14x14' "$TMP/info"; ok $? "CAM layer is 1000x14x14 at 227"
h=$(tensor-info -header "$TMP/one.ts" 2>/dev/null)
for kv in "kind features" "source $TMP/cat.ppm" "source_index 0" "image_width 512" "image_height 341" \
          "input_width 227" "input_height 227" "model $M" "layer conv10/relu" "axes C H W"; do
    printf '%s\n' "$h" | grep -qx "$kv"; ok $? "metadata: $kv"
done
printf '%s\n' "$h" | grep -q "^model_sha256 [0-9a-f]\{64\}$"; ok $? "metadata: model_sha256"

# stdin, a pipe, and a multi-image stream of three kinds of netpbm
cat "$TMP/cat.ppm" | cnn-features -m "$M" > "$TMP/pipe.ts"
tensor-info -header "$TMP/pipe.ts" | grep -qx 'source -'; ok $? "stdin through a pipe: source is -"
tail -c 784000 "$TMP/one.ts" > "$TMP/p1"
tail -c 784000 "$TMP/pipe.ts" | cmp -s - "$TMP/p1"; ok $? "stdin and file give the same payload"
{ cat "$TMP/cat.ppm"; ppmtopgm "$TMP/cat.ppm"; pamtopnm -plain "$TMP/cat.ppm" 2>/dev/null || cat "$TMP/cat.ppm"; } > "$TMP/three.pnm"
cnn-features -m "$M" < "$TMP/three.pnm" > "$TMP/three.ts"; ok $? "multi-image stream"
n=$("$TOOLS/ttopk" "$TMP/three.ts" | wc -l); is "$n" 3 "three images, three records"
"$TOOLS/ttopk" "$TMP/three.ts" | awk '{print $2}' | tr '\n' ' ' > "$TMP/si"
is "$(cat "$TMP/si")" "0 1 2 " "source_index counts images within the file"
cnn-features -m "$M" "$TMP/cat.ppm" - < "$TMP/cat.ppm" > "$TMP/two.ts"; ok $? "a file and stdin"
is "$("$TOOLS/ttopk" "$TMP/two.ts" | wc -l)" 2 "two files, two records"

# A named pipe (not seekable): images and tensor records
mkfifo "$TMP/fifo"
cat "$TMP/cat.ppm" "$TMP/cat.ppm" > "$TMP/fifo" &
cnn-features -m "$M" "$TMP/fifo" > "$TMP/fifo.ts"; ok $? "images through a named pipe"
is "$("$TOOLS/ttopk" "$TMP/fifo.ts" | wc -l)" 2 "named pipe: two records"
wait
tensor-npy "$SHARED/golden/squeezenet1.1-bvlc/cat/input.npy" > "$TMP/fifo" &
cnn-features -m "$M" "$TMP/fifo" > "$TMP/fifo2.ts"; ok $? "tensor records through a named pipe"
is "$("$TOOLS/ttopk" "$TMP/fifo2.ts" | wc -l)" 1 "named pipe: one record"
wait

# -layer, several, and -list
cnn-features -m "$M" -layer pool10/flat -layer conv10/relu "$TMP/cat.ppm" > "$TMP/l.ts"; ok $? "-layer twice"
record_names() { tensor-info -header "$@" | awk '$1 == "name" { printf "%s ", $2 }'; }
record_names "$TMP/l.ts" > "$TMP/names"
is "$(cat "$TMP/names")" "pool10/flat conv10/relu " "layers in the order given"
tensor-info -header "$TMP/l.ts" | grep -q '^kind tensor$'; ok $? "a layer that is not the CAM layer is kind tensor"
fails 2 "unknown -layer" cnn-features -m "$M" -layer nosuch "$TMP/cat.ppm"
cnn-features -m "$M" -list > "$TMP/list"; ok $? "-list"
grep -q "^conv10/relu	1 1000 14 14	features$" "$TMP/list"; ok $? "-list marks the CAM layer with its shape"
grep -q "	logits$" "$TMP/list"; ok $? "-list marks the logits"

# options that override the model's preprocessing
G=$SHARED/models/googlenet-bvlc.onnx
cnn-features -m "$G" "$TMP/cat.ppm" | tail -c 200704 > "$TMP/g1"
cnn-features -m "$G" -bgr -mean 104,117,123 -std 1,1,1 "$TMP/cat.ppm" | tail -c 200704 > "$TMP/g2"
cmp -s "$TMP/g1" "$TMP/g2"; ok $? "-bgr -mean -std equal to the model's own metadata"
cnn-features -m "$G" -rgb "$TMP/cat.ppm" | tail -c 200704 > "$TMP/g3"
cmp -s "$TMP/g1" "$TMP/g3"; [ $? = 1 ]; ok $? "-rgb changes the features"
cnn-features -m "$G" -mean 0,0,0 "$TMP/cat.ppm" | tail -c 200704 > "$TMP/g4"
cmp -s "$TMP/g1" "$TMP/g4"; [ $? = 1 ]; ok $? "-mean changes the features"
cnn-features -m "$M" -size 259x195 "$TMP/cat.ppm" > "$TMP/sz.ts"; ok $? "-size on a fully convolutional model"
h=$(tensor-info -header "$TMP/sz.ts")
printf '%s\n' "$h" | grep -qx "input_width 259" && printf '%s\n' "$h" | grep -qx "input_height 195"; ok $? "-size: input 259x195 in the metadata"
printf '%s\n' "$h" | grep -qx "shape 1000 12 16"; ok $? "-size: conv10 is 1000x12x16 ($(printf '%s\n' "$h" | grep '^shape'))"
cnn-features -m "$M" -size 227x227 "$TMP/cat.ppm" | tail -c 784000 | cmp -s - "$TMP/p1"; ok $? "-size equal to the model's: same as without"

# the output pipe grown to hold whole records (F_GETPIPE_SZ is 1032),
# asked once the first byte has come
psz=$(cnn-features -m "$M" "$TMP/cat.ppm" | perl -e 'read(STDIN, my $b, 1); print fcntl(STDIN, 1032, 0) + 0; 1 while read(STDIN, $b, 65536)')
if [ "$(id -u)" = 0 ] || [ "$(cat /proc/sys/fs/pipe-max-size 2>/dev/null || echo 0)" -ge 1048576 ]; then
    is "$psz" 1048576 "output pipe of 1 MB"
else
    skip "pipes of 1 MB not allowed here"
fi

# -z and -f16
cnn-features -m "$M" -z "$TMP/cat.ppm" > "$TMP/z.ts"; ok $? "-z"
is "$(head -c 2 "$TMP/z.ts" | od -An -tx1 | tr -d ' ')" "1f8b" "-z writes gzip"
cnn-features -m "$M" -f16 "$TMP/cat.ppm" | tensor-info -header | grep -q '^dtype f16$'; ok $? "-f16 payloads"

# -bench
line=$(cnn-features -m "$M" -threads 1 -bench 2 "$TMP/cat.ppm")
printf '%s\n' "$line" | grep -q "^$M	1	[0-9.]*	[0-9.]*	[0-9.]*$"; ok $? "-bench line: $line"

# -batch: the same records, N images to a run; the rest one at a time
D=$SHARED/data/ilsvrc-dev/images
set -- $(ls "$D" | head -5)
five="$D/$1 $D/$2 $D/$3 $D/$4 $D/$5"
cnn-features -m "$G" $five > "$TMP/b1.ts"
cnn-features -m "$G" -batch 2 $five > "$TMP/b2.ts"; ok $? "-batch 2 on 5 images"
cmp -s "$TMP/b1.ts" "$TMP/b2.ts"; ok $? "-batch 2: the same bytes as one at a time"
cnn-features -m "$G" -batch 4 -threads 2 "$TMP/cat.ppm" $five > "$TMP/b4.ts"
cnn-features -m "$G" -threads 2 "$TMP/cat.ppm" $five > "$TMP/b0.ts"
cmp -s "$TMP/b0.ts" "$TMP/b4.ts"; ok $? "-batch 4, 2 threads: the same bytes"
line=$(cnn-features -m "$G" -threads 1 -batch 2 -bench 2 "$TMP/cat.ppm")
printf '%s\n' "$line" | grep -q "^$G	1	[0-9.]*	[0-9.]*	[0-9.]*$"; ok $? "-batch 2 -bench line: $line"
# images read before a bad one still get their records
printf 'P6\n4 4\n255\n\001\002\003' > "$TMP/bt.ppm"
cnn-features -m "$G" -batch 4 "$D/$1" "$D/$2" "$TMP/bt.ppm" "$D/$3" > "$TMP/bb.ts" 2>"$TMP/err"
is "$?" 1 "-batch 4, a bad third image: exit 1"
cnn-features -m "$G" "$D/$1" "$D/$2" > "$TMP/b12.ts"
cmp -s "$TMP/b12.ts" "$TMP/bb.ts"; ok $? "the two images before it are written, complete"
# a model with no layer that gains (the integer MobileNetV2): one at a
# time, the same records, nothing said
Q=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
cnn-features -m "$Q" "$D/$1" "$D/$2" > "$TMP/q1.ts"
cnn-features -m "$Q" -batch 2 "$D/$1" "$D/$2" > "$TMP/q2.ts" 2>"$TMP/err"; ok $? "-batch 2 on the uint8 MobileNetV2"
is "$(cat "$TMP/err")" "" "nothing on standard error"
cmp -s "$TMP/q1.ts" "$TMP/q2.ts"; ok $? "same records"
# the records of a layer past the classifier's Flatten, 2 at a time
cnn-features -m "$G" -layer prob "$D/$1" "$D/$2" "$D/$3" > "$TMP/p1.ts"
cnn-features -m "$G" -layer prob -batch 2 "$D/$1" "$D/$2" "$D/$3" > "$TMP/p2.ts"
cmp -s "$TMP/p1.ts" "$TMP/p2.ts"; ok $? "-batch 2 -layer prob: the same bytes"

# -queue: two processes sharing one list of the five images and a blank
# line, one taking at most 2: every image once, the same records
printf '%s\n' "$D/$1" "$D/$2" "" "$D/$3" "$D/$4" "$D/$5" > "$TMP/list"
cnn-features -m "$G" -threads 1 -queue "$TMP/list" -take 2 > "$TMP/qa.ts" &
cnn-features -m "$G" -threads 1 -batch 2 -queue "$TMP/list" > "$TMP/qb.ts"; ok $? "-queue, second process"
wait $!; ok $? "-queue -take 2, first process"
srcs() { tensor-info "$1" | grep -o 'source=[^ 	]*' | sort; }
is "$( (srcs "$TMP/qa.ts"; srcs "$TMP/qb.ts") | sort | tr '\n' ' ')" "$(srcs "$TMP/b1.ts" | tr '\n' ' ')" \
    "-queue: each image in exactly one process's records"
t "-take 2: at most 2 images" test "$(srcs "$TMP/qa.ts" | wc -l)" -le 2
is "$(cat "$TMP/list.pos")" "$(wc -c < "$TMP/list" | tr -d ' ')" "-queue: the position at the end of the list"
cnn-features -m "$G" -queue "$TMP/list" > "$TMP/qc.ts"; ok $? "-queue: nothing left"
is "$(wc -c < "$TMP/qc.ts" | tr -d ' ')" 0 "no record"
printf '0\n' > "$TMP/list.pos"
cnn-features -m "$G" -queue "$TMP/list" > "$TMP/qd.ts"; ok $? "-queue from the start again"
cmp -s "$TMP/qd.ts" "$TMP/b1.ts"; ok $? "one process: the same bytes as the files given"
fails 1 "-queue: a missing list" cnn-features -m "$G" -queue "$TMP/nolist"
grep -q "nolist: No such file" "$TMP/ferr"; ok $? "message names the list: $(cat "$TMP/ferr")"
printf '%s\n' "$D/$1" "$TMP/none.ppm" "$D/$2" > "$TMP/list2"
cnn-features -m "$G" -queue "$TMP/list2" > "$TMP/qe.ts" 2>"$TMP/err"
is "$?" 1 "-queue: a missing image: exit 1"
grep -q "none.ppm" "$TMP/err"; ok $? "message names the image: $(cat "$TMP/err")"
cnn-features -m "$G" "$D/$1" > "$TMP/qf.ts"
cmp -s "$TMP/qe.ts" "$TMP/qf.ts"; ok $? "the image before it is written, complete"

# ---- bad input
printf 'P6\n4 4\n255\n\001\002\003' > "$TMP/trunc.ppm"
fails 1 "truncated image" cnn-features -m "$M" "$TMP/trunc.ppm"
grep -q "trunc.ppm: image 0" "$TMP/ferr"; ok $? "message names file and image index"
printf 'P6\n0 0\n255\n' > "$TMP/zero.ppm"
fails 1 "0x0 image" cnn-features -m "$M" "$TMP/zero.ppm"
printf 'P6\n100000 100000\n255\n' > "$TMP/huge.ppm"
fails 1 "huge header" cnn-features -m "$M" "$TMP/huge.ppm"
printf 'GIF89a' > "$TMP/gif"
fails 1 "not an image" cnn-features -m "$M" "$TMP/gif"
fails 1 "missing input file" cnn-features -m "$M" "$TMP/nofile.ppm"
{ printf 'CAMTENSOR 1\nname x\ndtype f32\nshape 3 2 2\nENDHDR\n'; head -c 48 /dev/zero; } > "$TMP/small.ts"
fails 1 "tensor record of the wrong size" cnn-features -m "$M" "$TMP/small.ts"
grep -q "record 0 ('x')" "$TMP/ferr"; ok $? "message names the record"
cat "$TMP/small.ts" | cnn-features -m "$M" >/dev/null 2>"$TMP/err"; [ $? = 1 ]; ok $? "wrong-size record through a pipe"

# An error in the second image: the first record stays, complete.
{ cat "$TMP/cat.ppm"; cat "$TMP/trunc.ppm"; } > "$TMP/goodbad.pnm"
cnn-features -m "$M" "$TMP/goodbad.pnm" > "$TMP/gb.ts" 2>"$TMP/err"; st=$?
is "$st" 1 "good image then a bad one: exit 1"
grep -q "image 1" "$TMP/err"; ok $? "the bad one is image 1"
is "$("$TOOLS/ttopk" "$TMP/gb.ts" | wc -l)" 1 "the first record is complete"

# Records from a pipe are processed as they arrive: the writer holds back
# the second input until the first feature record has come out (or gives
# up after 60 s, which fails the test), so no timing is involved.
tensor-npy -name x "$SHARED/golden/squeezenet1.1-bvlc/cat/input.npy" > "$TMP/in1.ts"
rm -f "$TMP/got_first" "$TMP/gave_up"
( cat "$TMP/in1.ts"
  i=0; while [ ! -e "$TMP/got_first" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  [ -e "$TMP/got_first" ] || touch "$TMP/gave_up"
  cat "$TMP/in1.ts" ) | cnn-features -m "$M" 2>/dev/null |
    { head -c 11 > "$TMP/first"; touch "$TMP/got_first"; cat > /dev/null; }
is "$(cat "$TMP/first")" "CAMTENSOR 1" "pipe: a record arrives"
[ ! -e "$TMP/gave_up" ]; ok $? "pipe: the first record comes before the input ends"

if cache_room "$TMP" 50; then
# The packed-weight cache: the first run writes it, the next ones map it;
# the records are the same bytes either way, and with CAM_NO_CACHE=1.
C=$TMP/cache
CAM_CACHE_DIR=$C cnn-features -m "$M" "$TMP/cat.ppm" > "$TMP/c1.ts" 2>"$TMP/err"; st1=$?
n=$(ls "$C" | grep -c '^packed-')
is "$st1 $n" "0 1" "cache: the first run writes one packed-weight file"
CAM_CACHE_DIR=$C cnn-features -m "$M" "$TMP/cat.ppm" > "$TMP/c2.ts" 2>"$TMP/err"
cmp -s "$TMP/c1.ts" "$TMP/c2.ts"; ok $? "cache: the next run gives the same bytes"
CAM_CACHE_DIR=$C CAM_NO_CACHE=1 cnn-features -m "$M" "$TMP/cat.ppm" > "$TMP/c3.ts" 2>"$TMP/err"
cmp -s "$TMP/c1.ts" "$TMP/c3.ts"; ok $? "cache: CAM_NO_CACHE=1 gives the same bytes"
rm -rf "$TMP/nc"
CAM_CACHE_DIR=$TMP/nc CAM_NO_CACHE=1 cnn-features -m "$M" "$TMP/cat.ppm" > /dev/null 2>&1
[ ! -e "$TMP/nc" ]; ok $? "cache: CAM_NO_CACHE=1 writes nothing"
f=$(ls "$C"/packed-* | head -1)
head -c 5000 "$f" > "$TMP/half" && cat "$TMP/half" > "$f"
CAM_CACHE_DIR=$C cnn-features -m "$M" "$TMP/cat.ppm" > "$TMP/c4.ts" 2>"$TMP/err"; st=$?
cmp -s "$TMP/c1.ts" "$TMP/c4.ts"; ok $? "cache: a damaged file is packed anew, same bytes (exit $st)"
[ "$(wc -c < "$f")" -gt 5000 ]; ok $? "cache: ... and the file written again"
# One writer at a time: a fresh lock (another process writing) leaves the
# file to that process; a stale one (a writer that died) is taken over.
rm -f "$C"/packed-*
CAM_CACHE_DIR=$C cnn-features -m "$M" "$TMP/cat.ppm" > /dev/null 2>&1
f=$(ls "$C"/packed-* | head -1); rm -f "$f"
: > "$f.lock"
CAM_CACHE_DIR=$C cnn-features -m "$M" "$TMP/cat.ppm" > "$TMP/c6.ts" 2>"$TMP/err"; st=$?
[ $st = 0 ] && [ ! -e "$f" ] && [ -e "$f.lock" ]; ok $? "cache: another writer's lock: no file written (exit $st)"
cmp -s "$TMP/c1.ts" "$TMP/c6.ts"; ok $? "cache: ... same bytes"
touch -d '10 minutes ago' "$f.lock"
CAM_CACHE_DIR=$C cnn-features -m "$M" "$TMP/cat.ppm" > /dev/null 2>&1
[ -s "$f" ] && [ ! -e "$f.lock" ]; ok $? "cache: a stale lock is taken over, the file written"
# The file is written while the first images run: a first run that ends
# on a bad image right after planning still leaves the whole file, and
# nothing half written.
printf 'P6\n4 4\n255\n\001' > "$TMP/cut.ppm"
CAM_CACHE_DIR=$TMP/c7 cnn-features -m "$M" "$TMP/cut.ppm" > /dev/null 2>&1; st=$?
is "$st $(ls "$TMP/c7" | grep -c '^packed-[0-9a-f]*$') $(ls "$TMP/c7" | grep -c '\.tmp$\|\.lock$')" "1 1 0" \
    "cache: an error exit after planning: the file written, no temporary or lock left"
CAM_CACHE_DIR=$TMP/c7 cnn-features -m "$M" "$TMP/cat.ppm" > "$TMP/c7.ts" 2>"$TMP/err"
cmp -s "$TMP/c1.ts" "$TMP/c7.ts"; ok $? "cache: ... and the next run maps it, same bytes"
printf 'a file, not a directory' > "$TMP/notdir"
CAM_CACHE_DIR=$TMP/notdir/sub cnn-features -m "$M" "$TMP/cat.ppm" > "$TMP/c5.ts" 2>"$TMP/err"; st=$?
is "$st" 0 "cache: a directory that cannot be made: still runs"
cmp -s "$TMP/c1.ts" "$TMP/c5.ts"; ok $? "cache: ... same bytes"
else
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do skip "too little free space for packed-weight cache files"; done
fi

# a closed pipe ends quietly
cnn-features -m "$M" "$TMP/three.pnm" 2>"$TMP/err" | head -c 10 >/dev/null
[ ! -s "$TMP/err" ]; ok $? "closed pipe: no message"

done_testing
