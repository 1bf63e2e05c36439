#!/bin/sh
# cnn-features against the goldens of ../shared/golden (ONNX Runtime and the
# TFLite interpreter): features and logits from the goldens' preprocessed
# input.npy, and from the original images with our own preprocessing.
# Tolerances of golden/README.md: ONNX max|d|/max|golden| <= 1e-4;
# TFLite feature correlation >= 0.99 and the same top-1.
. "$(dirname "$0")/../tap.sh"
TOOLS=${CAM_TEST_TOOLS:-$TOP/build/rel/tools}
have_shared || skip_all "no shared models at $SHARED"
[ -d "$SHARED/golden" ] || skip_all "no goldens at $SHARED/golden"
G=$SHARED/golden
IMGS="cat bird grace_hopper"

# The features and logits of the three images (records in pairs) in
# stream $1 against the goldens of $stem, within $bound / $lbound; $2
# names the stream in the test names.
check3() {
    r=0
    for i in $IMGS; do
        f=$("$TOOLS/tcompare" -record $r $bound "$1" "$G/$stem/$i/features.npy"); ok $? "$stem $i $2: features $f"
        l=$("$TOOLS/tcompare" -record $((r + 1)) $lbound -top1 "$1" "$G/$stem/$i/logits.npy"); ok $? "$stem $i $2: logits $l"
        r=$((r + 2))
    done
}

# model-stem  model-file  feature-layer  logits-layer  kind
while read -r stem file feat logits kind; do
    M=$SHARED/models/$file
    if [ ! -f "$M" ]; then skip "$stem: no model"; continue; fi
    if [ "$kind" = onnx ]; then bound="-rel 1e-4"; else bound="-corr 0.99"; fi
    lbound=$bound; [ "$kind" = tflite ] && lbound="-corr 0.95"
    if [ "$feat" = - ]; then
        feat=$(cnn-features -m "$M" -list | awk -F'\t' '$3 == "features" { print $1; exit }')
        [ -n "$feat" ]; ok $? "$stem: -list names the CAM layer '$feat'"
    fi

    # 1. the goldens' input.npy, all three in one stream
    set --
    for i in $IMGS; do set -- "$@" "$G/$stem/$i/input.npy"; done
    tensor-npy "$@" | cnn-features -m "$M" -layer "$feat" -layer "$logits" > "$TMP/npy.ts" 2>"$TMP/err"
    ok $? "$stem: input.npy x3 through cnn-features"
    check3 "$TMP/npy.ts" input.npy

    # 1b. -fast (every Winograd layer keeps its transformed filters): other
    # sums, the same bounds
    tensor-npy "$@" | cnn-features -fast -m "$M" -layer "$feat" -layer "$logits" > "$TMP/fast.ts" 2>"$TMP/err"
    ok $? "$stem: input.npy x3 through cnn-features -fast"
    check3 "$TMP/fast.ts" -fast

    # 2. the original images, our preprocessing, as one multi-image stream
    for i in $IMGS; do bmptopnm "$SHARED/images/$i.bmp" 2>/dev/null; done |
        cnn-features -m "$M" -layer "$feat" -layer "$logits" > "$TMP/img.ts" 2>"$TMP/err"
    ok $? "$stem: images x3 through cnn-features"
    check3 "$TMP/img.ts" image

    # 3. the same top-5 (ONNX: in order; TFLite: as a set)
    "$TOOLS/ttopk" -k 5 "$TMP/img.ts" | awk 'NR % 2 == 0' | cut -d' ' -f3- > "$TMP/ours5"
    for i in $IMGS; do tensor-npy "$G/$stem/$i/logits.npy" | "$TOOLS/ttopk" -k 5 | cut -d' ' -f3-; done > "$TMP/gold5"
    if [ "$kind" = tflite ]; then
        for f in ours5 gold5; do
            while read -r l; do echo $l | tr ' ' '\n' | sort -n | tr '\n' ' '; echo; done < "$TMP/$f" > "$TMP/$f.set"
            mv "$TMP/$f.set" "$TMP/$f"
        done
    fi
    is "$(wc -l < "$TMP/gold5")$(wc -w < "$TMP/ours5")" "315" "$stem: three top-5 lists"
    is "$(cat "$TMP/ours5")" "$(cat "$TMP/gold5")" "$stem: top-5 of the three images as the reference's"
done <<'LIST'
googlenet-bvlc googlenet-bvlc.onnx concat_24 loss3/classifier onnx
squeezenet1.1-bvlc squeezenet1.1-bvlc.onnx conv10/relu pool10/flat onnx
mobilenet_v2_bn random/mobilenet_v2_bn.onnx - logits onnx
resnet18_bn random/resnet18_bn.onnx - logits onnx
mobilenet_v2_1.0_224_quant mobilenet_v2_1.0_224_quant.tflite T168 T172 tflite
mobilenet_v2_1.0_224_inat_bird_quant mobilenet_v2_1.0_224_inat_bird_quant.tflite T167 T170 tflite
LIST

# The default record is the CAM layer: same as naming it.
M=$SHARED/models/googlenet-bvlc.onnx
tensor-npy "$G/googlenet-bvlc/cat/input.npy" | cnn-features -m "$M" > "$TMP/d.ts"
f=$("$TOOLS/tcompare" -rel 1e-4 "$TMP/d.ts" "$G/googlenet-bvlc/cat/features.npy"); ok $? "default layer = concat_24: $f"
done_testing
