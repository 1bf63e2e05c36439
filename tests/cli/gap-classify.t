#!/bin/sh
# gap-classify: top-K lines, scores and logits records, the model's own
# logits, bad input.
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"

mkrec m 2 2 kind=map model=x.onnx 1 2 3 4 > "$TMP/map.t"
fails 1 "a map record into gap-classify" gap-classify "$TMP/map.t"
grep -q "kind 'map'" "$TMP/ferr"; ok $? "message names the kind"
mkrec f 2 2 kind=features 1 2 3 4 > "$TMP/nomodel.t"
fails 1 "no model" gap-classify "$TMP/nomodel.t"
printf 'CAMTENSOR 1\nname x\n' > "$TMP/trunc.t"
fails 1 "truncated stream" gap-classify "$TMP/trunc.t"
fails 2 "-k 0" gap-classify -k 0 "$TMP/nomodel.t"
fails 2 "-tensor with -logits" gap-classify -tensor -logits "$TMP/nomodel.t"
fails 2 "unknown option" gap-classify -x

F=$SHARED/golden/googlenet-bvlc/cat
if [ -f "$F/features.npy" ] && [ -f "$SHARED/models/googlenet-bvlc.onnx" ]; then
    npyrec "$F/features.npy" concat_24 kind=features model="$SHARED/models/googlenet-bvlc.onnx" source=cat.bmp > "$TMP/f.t"
    gap-classify "$TMP/f.t" > "$TMP/top5"
    is "$(wc -l < "$TMP/top5")" 5 "five lines by default"
    is "$(head -1 "$TMP/top5" | cut -f1-3,5)" "$(printf 'cat.bmp\t1\t285\tn02124075 Egyptian cat')" \
       "name, rank, class, label"
    is "$(head -1 "$TMP/top5" | awk -F'\t' '{ d = $4 - 0.570096; print (d < 1e-4 && d > -1e-4) ? "near" : $4 }')" near \
       "probability 0.570096 (ONNX Runtime's softmax)"
    is "$(cat "$TMP/f.t" "$TMP/f.t" | gap-classify -k 1 | cut -f2,3 | tr '\n' ' ')" "1	285 1	285 " "-k 1, two records"
    # the logits equal the full forward pass (ONNX Runtime's logits.npy)
    d=$(gap-classify -logits "$TMP/f.t" | perl -e 'local $/; my $s = <STDIN>; $s =~ /ENDHDR\n/g; my @v = unpack("f<*", substr($s, pos($s)));
        open(my $i, "<", $ARGV[0]); binmode $i; my $b = <$i>; my $hl = unpack("v", substr($b, 8, 2));
        my @g = unpack("f<*", substr($b, 10 + $hl)); die "count" if @g != @v; my ($md, $mg) = (0, 0);
        for (0..$#v) { my $x = abs($v[$_] - $g[$_]); $md = $x if $x > $md; $mg = abs($g[$_]) if abs($g[$_]) > $mg }
        print $md / $mg <= 1e-5 ? "ok" : "rel diff " . $md / $mg' "$F/logits.npy")
    is "$d" "ok" "logits equal ONNX Runtime's full forward pass (1e-5 relative)"
    sum=$(gap-classify -tensor "$TMP/f.t" | perl -e 'local $/; my $s = <STDIN>; $s =~ /^kind (\S+)$/m or die; my $k = $1;
        $s =~ /ENDHDR\n/g; my $t = 0; $t += $_ for unpack("f<*", substr($s, pos($s))); printf "%s %.4f", $k, $t')
    is "$sum" "scores 1.0000" "-tensor: a scores record of probabilities"
    fails 1 "features of the wrong width" gap-classify -m "$SHARED/models/squeezenet1.1-bvlc.onnx" "$TMP/f.t"
else
    skip "no googlenet golden in $SHARED"
fi

# the head's logits equal our own full forward pass: cnn-features writes
# the CAM layer and the logits of one run; gap-classify -logits on the
# first must give the second
for case in "googlenet-bvlc googlenet-bvlc.onnx concat_24 loss3/classifier" \
            "mobilenet_v2_1.0_224_quant mobilenet_v2_1.0_224_quant.tflite T168 T172" \
            "squeezenet1.1-bvlc squeezenet1.1-bvlc.onnx conv10/relu pool10/flat"; do
    set -- $case
    if [ ! -x "$BIN/cnn-features" ] || [ ! -f "$SHARED/golden/$1/cat/input.npy" ]; then
        skip "$1: no cnn-features or golden input"
        continue
    fi
    tensor-npy "$SHARED/golden/$1/cat/input.npy" |
        cnn-features -m "$SHARED/models/$2" -layer "$3" -layer "$4" > "$TMP/both.t"
    nthrec 0 < "$TMP/both.t" | gap-classify -logits > "$TMP/head.t"
    nthrec 1 < "$TMP/both.t" > "$TMP/full.t"
    d=$(reldiff "$TMP/head.t" "$TMP/full.t")
    is "$(awk -v d="$d" 'BEGIN { print (d <= 1e-5) ? "ok" : d }')" ok "$1: head logits = full forward pass (max rel diff $d)"
done

# -labels FILE replaces the names the model carries; a wrong line count is an error
if [ -f "$F/features.npy" ] && [ -f "$SHARED/models/googlenet-bvlc.onnx" ]; then
    awk '{print "class" NR - 1}' "$SHARED/models/synset_words.txt" > "$TMP/names.txt"
    is "$(gap-classify -k 1 -labels "$TMP/names.txt" "$TMP/f.t" | cut -f3,5)" "285	class285" \
       "-labels replaces the model's own labels"
    head -5 "$TMP/names.txt" > "$TMP/five.txt"
    fails 1 "-labels with the wrong number of lines" gap-classify -labels "$TMP/five.txt" "$TMP/f.t"
    fails 1 "-labels naming a missing file" gap-classify -labels "$TMP/nonexistent.txt" "$TMP/f.t"
else
    skip "no googlenet golden in $SHARED"
fi

# a head file of gap-train instead of the model's head
fails 2 "-m with -head" gap-classify -m a.onnx -head h.t
fails 1 "missing head file" gap-classify -head "$TMP/nonexistent.t" "$TMP/nomodel.t"
if [ -f "$F/features.npy" ] && [ -x "$BIN/gap-train" ]; then
    : > "$TMP/tr.t"
    for im in cat bird grace_hopper; do
        npyrec "$SHARED/golden/googlenet-bvlc/$im/features.npy" concat_24 kind=features source=$im.ppm layer=concat_24 >> "$TMP/tr.t"
    done
    printf 'name,label\ncat.ppm,animal\nbird.ppm,animal\ngrace_hopper.ppm,person\n' > "$TMP/lab.csv"
    gap-train -k 0 -labels "$TMP/lab.csv" -o "$TMP/h.t" "$TMP/tr.t" >/dev/null 2>&1
    is "$(gap-classify -head "$TMP/h.t" -k 1 "$TMP/tr.t" | cut -f1,3,5 | tr '\t\n' ', ')" \
       "cat.ppm,0,animal bird.ppm,0,animal grace_hopper.ppm,1,person " "-head: the trained head's classes and labels"
    npyrec "$SHARED/golden/googlenet-bvlc/cat/features.npy" concat_24 kind=features layer=other > "$TMP/other.t"
    fails 1 "features of another layer than the head's" gap-classify -head "$TMP/h.t" "$TMP/other.t"
else
    skip "no golden features or gap-train"
fi
done_testing
