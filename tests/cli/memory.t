#!/bin/sh
# Peak memory of loading a model and running it: cnn-features within
# 1.5 x (weights + the two largest activations) on GoogLeNet and ResNet-18
# (the bounds of the "Faster than ONNX Runtime" issue), the MobileNetV2
# TFLite model and the head-only tools well under what they took when the
# weights were copied several times (47 MB and 81 MB), also with two
# threads packing at once, and -list well under them.  Peak RSS from
# GNU time; skipped under sanitizers, whose shadow memory counts too.
. "$(dirname "$0")/../tap.sh"

have_shared || skip_all "shared models not found (../shared or \$CAM_SHARED)"
[ -x /usr/bin/time ] || skip_all "no /usr/bin/time (Debian package time)"
grep -q __asan_init "$BIN/cnn-features" && skip_all "sanitizer build: RSS is not comparable"
M=$SHARED/models
bmptopnm "$SHARED/images/cat.bmp" 2>/dev/null > "$TMP/cat.ppm"

# peak MODEL [THREADS]: peak RSS in KB of one image through cnn-features
# (features to $TMP/f.t), one thread unless told: the larger of a first
# run (packing, writing the packed-weight cache) and a second one (mapping
# the cache file), in a cache directory of their own
peak() {
    rm -rf "$TMP/cache"
    a=$(CAM_CACHE_DIR=$TMP/cache /usr/bin/time -f %M -o "$TMP/rss" \
            cnn-features -threads "${2:-1}" -m "$1" "$TMP/cat.ppm" > "$TMP/f.t" && tail -1 "$TMP/rss") &&
    b=$(CAM_CACHE_DIR=$TMP/cache /usr/bin/time -f %M -o "$TMP/rss" \
            cnn-features -threads "${2:-1}" -m "$1" "$TMP/cat.ppm" > "$TMP/f.t" && tail -1 "$TMP/rss") &&
    { [ "$a" -ge "$b" ] && echo "$a" || echo "$b"; }
}
# under KB GOT DESC
under() { if [ -n "$2" ] && [ "$2" -le "$1" ]; then ok 0 "$3 ($2 KB)"; else ok 1 "$3 (${2:-no figure} KB, limit $1)"; fi; }

# GoogLeNet: 28.0 MB of weights, two 64x112x112 activations of 3.2 MB
under 52000 "$(peak "$M/googlenet-bvlc.onnx")" "cnn-features googlenet-bvlc.onnx within 52 MB"
kb=$(CAM_MODELS=$M /usr/bin/time -f %M -o "$TMP/rss" gap-classify "$TMP/f.t" > /dev/null && tail -1 "$TMP/rss")
under 35000 "$kb" "gap-classify on its features within 35 MB"
kb=$(CAM_MODELS=$M /usr/bin/time -f %M -o "$TMP/rss" cam-map "$TMP/f.t" > /dev/null && tail -1 "$TMP/rss")
under 35000 "$kb" "cam-map on its features within 35 MB"
# ResNet-18: 46.7 MB of weights, two 64x112x112 activations
under 75000 "$(peak "$M/random/resnet18_bn.onnx")" "cnn-features resnet18_bn.onnx within 75 MB"
under 36000 "$(peak "$M/mobilenet_v2_1.0_224_quant.tflite")" "cnn-features mobilenet_v2 quant TFLite within 36 MB"
# Two threads pack the weights in parallel, each staging one layer's raw
# weights at a time: the same bounds hold.
under 52000 "$(peak "$M/googlenet-bvlc.onnx" 2)" "cnn-features -threads 2 googlenet-bvlc.onnx within 52 MB"
under 75000 "$(peak "$M/random/resnet18_bn.onnx" 2)" "cnn-features -threads 2 resnet18_bn.onnx within 75 MB"
# -list packs nothing: about a third of what running takes (46 MB)
kb=$(/usr/bin/time -f %M -o "$TMP/rss" cnn-features -m "$M/googlenet-bvlc.onnx" -list > /dev/null && tail -1 "$TMP/rss")
under 26000 "$kb" "cnn-features -list googlenet-bvlc.onnx within 26 MB (no weights packed)"
done_testing
