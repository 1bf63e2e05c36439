#!/bin/sh
# cnn-features reads JPEG files itself: the same pixels as jpegtopnm (so
# the same records, the source name aside), from a file or a pipe, mixed
# with netpbm inputs; bad JPEG data is an error naming the file.
. "$(dirname "$0")/../tap.sh"

have_shared || skip_all "shared models not found (../shared or \$CAM_SHARED)"
command -v jpegtopnm >/dev/null || skip_all "no jpegtopnm (netpbm)"
M=$SHARED/models/squeezenet1.1-bvlc.onnx
J=$SHARED/images/owl.jpg
[ -f "$J" ] || skip_all "no $J"

# payload of every record, headers without the source key
strip() { tensor-info -header "$1" | grep -v '^source ' ; }
jpegtopnm -quiet "$J" > "$TMP/owl.ppm"
t "JPEG file" cnn-features -m "$M" -threads 1 "$J"
cp "$TMP/out" "$TMP/j.t"
t "the same image through jpegtopnm" cnn-features -m "$M" -threads 1 "$TMP/owl.ppm"
cp "$TMP/out" "$TMP/p.t"
tail -c 784000 "$TMP/j.t" > "$TMP/j.pay"; tail -c 784000 "$TMP/p.t" > "$TMP/p.pay"
cmp -s "$TMP/j.pay" "$TMP/p.pay"; ok $? "same features as from jpegtopnm's pixels"
is "$(strip "$TMP/j.t" | grep -c .)" "$(strip "$TMP/p.t" | grep -c .)" "same header lines"
grep -a -q "^source $J\$" "$TMP/j.t"; ok $? "source is the JPEG file as given"
w=$(pamfile "$TMP/owl.ppm" | sed -n 's/.* \([0-9]*\) by \([0-9]*\) .*/image_width \1 image_height \2/p')
is "$(grep -a '^image_width \|^image_height ' "$TMP/j.t" | tr '\n' ' ')" "$w " "image size of the photograph: $w"

t "JPEG on a pipe" sh -c "cat '$J' | cnn-features -m '$M' -threads 1 > '$TMP/s.t'"
tail -c 784000 "$TMP/s.t" | cmp -s - "$TMP/j.pay"; ok $? "same features from the pipe"

# progressive and greyscale files decode as jpegtopnm decodes them
pnmtojpeg -progressive "$TMP/owl.ppm" > "$TMP/prog.jpg" 2>/dev/null
ppmtopgm "$TMP/owl.ppm" | pnmtojpeg > "$TMP/grey.jpg" 2>/dev/null
for f in prog grey; do
    jpegtopnm -quiet "$TMP/$f.jpg" > "$TMP/$f.pnm"
    cnn-features -m "$M" -threads 1 "$TMP/$f.jpg" "$TMP/$f.pnm" > "$TMP/$f.t"
    n=$(tensor-info "$TMP/$f.t" | grep -c .)
    tail -c 784000 "$TMP/$f.t" > "$TMP/b.pay"
    head -c $(( $(wc -c < "$TMP/$f.t") / 2 )) "$TMP/$f.t" | tail -c 784000 > "$TMP/a.pay"
    cmp -s "$TMP/a.pay" "$TMP/b.pay" && [ "$n" = 2 ]; ok $? "$f JPEG: same features as its jpegtopnm output"
done

# CMYK and YCCK files, with and without the Adobe marker: jpegtopnm reads
# them all as inverted CMYK
TOOLS=${CAM_TEST_TOOLS:-$TOP/build/rel/tools}
if [ -x "$TOOLS/tjpegcmyk" ]; then
    for kind in "cmyk adobe" "cmyk plain" "ycck adobe"; do
        set -- $kind
        "$TOOLS/tjpegcmyk" $1 $2 > "$TMP/$1$2.jpg"
        jpegtopnm -quiet "$TMP/$1$2.jpg" > "$TMP/$1$2.ppm"
        cnn-features -m "$M" -threads 1 "$TMP/$1$2.jpg" "$TMP/$1$2.ppm" > "$TMP/$1$2.t"
        n=$(tensor-info "$TMP/$1$2.t" | grep -c .)
        tail -c 784000 "$TMP/$1$2.t" > "$TMP/b.pay"
        head -c $(( $(wc -c < "$TMP/$1$2.t") / 2 )) "$TMP/$1$2.t" | tail -c 784000 > "$TMP/a.pay"
        cmp -s "$TMP/a.pay" "$TMP/b.pay" && [ "$n" = 2 ]; ok $? "$1 JPEG ($2): same features as its jpegtopnm output"
    done
else
    skip "no $TOOLS/tjpegcmyk (make check builds it)"
fi

# a JPEG among netpbm files: one record each, in order
cnn-features -m "$M" -threads 1 "$TMP/owl.ppm" "$J" "$TMP/owl.ppm" > "$TMP/mix.t"
is "$(tensor-info "$TMP/mix.t" | grep -c .)" 3 "JPEG between two PPM files: three records"

# bad data
printf '\377\330\377\340garbage' > "$TMP/bad.jpg"
fails 1 "JPEG header then garbage" cnn-features -m "$M" "$TMP/bad.jpg"
grep -q "bad.jpg: image 0: bad JPEG data" "$TMP/ferr"; ok $? "message names the file: $(cat "$TMP/ferr")"
head -c 300 "$J" > "$TMP/cut.jpg"
cnn-features -m "$M" "$TMP/owl.ppm" "$TMP/cut.jpg" > "$TMP/o.t" 2> "$TMP/e"; st=$?
n=$(tensor-info "$TMP/o.t" 2>/dev/null | grep -c .)
[ $st = 1 ] && [ "$n" = 1 ] && [ -s "$TMP/e" ]; ok $? "a JPEG cut in its header: exit 1 after the complete record before it ($(cat "$TMP/e"))"
done_testing
