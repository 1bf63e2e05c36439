#!/bin/sh
# gap-train: a head from pooled features and string labels; the report,
# the head file, determinism, and every kind of bad input.
. "$(dirname "$0")/../tap.sh"

# feat N K H W SEED CLASSES...: N feature records, class i%len separable
# on channel (class index), labels written to $TMP/labels.csv.
feat() {
    perl -e '
        my ($n, $k, $h, $w, $seed, @lab) = @ARGV; srand($seed);
        open L, ">", "'"$TMP"'/labels.csv" or die; print L "name,label\n";
        for my $i (0 .. $n - 1) {
            my $c = $i % @lab; print L "dir/img$i.JPEG,$lab[$c]\n";
            print "CAMTENSOR 1\nname f\ndtype f32\nshape $k $h $w\naxes C H W\nkind features\n",
                  "source /tmp/img$i.ppm\nlayer pool5\nmodel m.onnx\nmodel_sha256 ab12\nENDHDR\n";
            for my $ch (0 .. $k - 1) { for (1 .. $h * $w) {
                print pack("f<", ($ch == $c ? 2 : 0) + 3 * rand() + 10 * $ch) } }
        }' "$@"
}
feat 60 6 3 3 1 dog cat "bird, small" >"$TMP/f.t"
t "train" gap-train -labels "$TMP/labels.csv" -o "$TMP/head.t" "$TMP/f.t"
cp "$TMP/out" "$TMP/rep"
metric() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$2"; }
is "$(metric images "$TMP/rep")" 60 "60 images"
is "$(metric classes "$TMP/rep")" 3 "3 classes"
is "$(metric features "$TMP/rep")" 6 "6 features"
is "$(metric cv_folds "$TMP/rep")" 5 "5 folds by default"
tr=$(metric train_acc "$TMP/rep"); cv=$(metric cv_acc "$TMP/rep")
t "CV accuracy below or at training accuracy ($cv <= $tr), above chance" \
    awk -v a="$cv" -v b="$tr" 'BEGIN { exit !(a <= b && a > 0.5) }'
is "$(grep -c '^class	' "$TMP/rep")" 3 "one line per class"
is "$(awk -F'\t' '$1 == "class" && $2 == "bird, small" { print $3 }' "$TMP/rep")" 20 "labels are strings, commas kept"
t "head file readable" tensor-info "$TMP/head.t"
is "$(cut -f2,3,4 "$TMP/out" | tr '\t\n' ' ')" "weights f32 3x6 bias f32 3 labels u8 20 " "weights, bias, labels records"
tensor-info -header "$TMP/head.t" >"$TMP/hdr"
is "$(grep -c '^kind head$' "$TMP/hdr")" 3 "kind=head on every record"
is "$(grep '^layer ' "$TMP/hdr")" "layer pool5" "layer kept"
is "$(grep '^model_sha256 ' "$TMP/hdr")" "model_sha256 ab12" "model digest kept"

t "same seed, same head" gap-train -labels "$TMP/labels.csv" -o "$TMP/head2.t" "$TMP/f.t"
t "identical files" cmp "$TMP/head.t" "$TMP/head2.t"
t "from stdin, SVM, 3 folds" sh -c "gap-train -svm -k 3 -labels '$TMP/labels.csv' -o '$TMP/h3.t' < '$TMP/f.t'"
is "$(metric cv_folds "$TMP/out")" 3 "3 folds"
t "head to stdout, report on stderr" sh -c "gap-train -k 0 -labels '$TMP/labels.csv' -o - '$TMP/f.t' > '$TMP/h4.t'"
is "$(metric images "$TMP/err")" 60 "report on stderr"
is "$(metric cv_acc "$TMP/err")" "" "-k 0: no cross-validation"
t "head on stdout is a stream" tensor-info "$TMP/h4.t"

# The head file in use: gap-classify -head agrees with the training accuracy.
t "gap-classify -head" gap-classify -head "$TMP/head.t" -k 1 "$TMP/f.t"
acc=$(awk -F'\t' 'NR == FNR { if (FNR > 1) { s = $0; sub(/,.*/, "", s); sub(/.*\//, "", s); sub(/\.[^.]*$/, "", s)
                                   l = $0; sub(/^[^,]*,/, "", l); lab[s] = l }; next }
                  { s = $1; sub(/.*\//, "", s); sub(/\.[^.]*$/, "", s); n++; ok += lab[s] == $5 }
                  END { printf "%.4f", ok / n }' "$TMP/labels.csv" "$TMP/out")
is "$acc" "$tr" "its top-1 matches the labels as often as train_acc says"
t "cam-map -head by label" cam-map -head "$TMP/head.t" -c "bird, small" "$TMP/f.t"
is "$(tensor-info "$TMP/out" | grep -c 'label=bird, small')" 60 "one map of the named class per record"

# Bad input.
cp "$TMP/labels.csv" "$TMP/good.csv"
echo "ghost.JPEG,dog" >>"$TMP/labels.csv"
fails 1 "label for an image without features" gap-train -labels "$TMP/labels.csv" -o "$TMP/x.t" "$TMP/f.t"
case $(cat "$TMP/ferr") in *"'ghost.JPEG' is labelled but has no feature record"*) ok 0 "names it";; *) ok 1 "names it: $(cat "$TMP/ferr")";; esac
t "-missing-ok skips it" gap-train -missing-ok -labels "$TMP/labels.csv" -o "$TMP/x.t" "$TMP/f.t"
grep -v img7.JPEG "$TMP/good.csv" >"$TMP/l2.csv"
fails 1 "features without a label" gap-train -labels "$TMP/l2.csv" -o "$TMP/x.t" "$TMP/f.t"
case $(cat "$TMP/ferr") in *"record 7: image '/tmp/img7.ppm' has no label"*) ok 0 "names the record";; *) ok 1 "names the record: $(cat "$TMP/ferr")";; esac
sed 's/,cat$/,dog/; s/,bird, small$/,dog/' "$TMP/good.csv" >"$TMP/one.csv"
fails 1 "a single class" gap-train -labels "$TMP/one.csv" -o "$TMP/x.t" "$TMP/f.t"
{ cat "$TMP/good.csv"; echo "img3.png,cat"; } >"$TMP/dup.csv"
fails 1 "an image labelled twice" gap-train -labels "$TMP/dup.csv" -o "$TMP/x.t" "$TMP/f.t"
feat 60 6 3 3 1 dog cat "bird, small" >"$TMP/f1.t"
feat 60 7 3 3 2 dog cat "bird, small" | perl -e 'local $/; $_ = <STDIN>; s/img(\d+)/imgb$1/g; print' >"$TMP/f2.t"
perl -e 'for (0..59) { print "dir/imgb$_.JPEG,", ("dog","cat","bird, small")[$_ % 3], "\n" }' >>"$TMP/good.csv"
fails 1 "mixed feature shapes" gap-train -labels "$TMP/good.csv" -o "$TMP/x.t" "$TMP/f1.t" "$TMP/f2.t"
case $(cat "$TMP/ferr") in *"record 0: feature shape differs"*) ok 0 "names the record";; *) ok 1 "names the record: $(cat "$TMP/ferr")";; esac
t "no half-written head after an error" test ! -e "$TMP/x.t.tmp"
printf 'CAMTENSOR 1\nname m\ndtype f32\nshape 2 2\nkind map\nsource img0\nENDHDR\n' >"$TMP/map.t"
perl -e 'print pack("f<*", 1, 2, 3, 4)' >>"$TMP/map.t"
fails 1 "a map is not features" gap-train -labels "$TMP/good.csv" -o "$TMP/x.t" "$TMP/map.t"
head -c 300 "$TMP/f.t" >"$TMP/trunc.t"
fails 1 "truncated stream" gap-train -labels "$TMP/good.csv" -o "$TMP/x.t" "$TMP/trunc.t"
printf 'a.JPEG dog\n' >"$TMP/bad.csv"
fails 1 "labels line without a comma" gap-train -labels "$TMP/bad.csv" -o "$TMP/x.t" "$TMP/f.t"
case $(cat "$TMP/ferr") in *"bad.csv:1: expected name,label"*) ok 0 "names file:line";; *) ok 1 "names file:line";; esac

fails 2 "no -labels" gap-train -o "$TMP/x.t" "$TMP/f.t"
fails 2 "no -o" gap-train -labels "$TMP/good.csv" "$TMP/f.t"
fails 2 "1 fold" gap-train -k 1 -labels "$TMP/good.csv" -o "$TMP/x.t" "$TMP/f.t"
fails 2 "bad lambda" gap-train -lambda -1 -labels "$TMP/good.csv" -o "$TMP/x.t" "$TMP/f.t"
fails 2 "unknown option" gap-train -bogus -labels "$TMP/good.csv" -o "$TMP/x.t" "$TMP/f.t"

# -o onto something that is not a regular file (a FIFO here; /dev/full or
# /dev/stdout alike) writes into it rather than renaming a temporary file
# over it
feat 60 6 3 3 1 dog cat "bird, small" >"$TMP/f.t"
if mkfifo "$TMP/fifo" 2>/dev/null; then
    cat "$TMP/fifo" > "$TMP/fromfifo" & catpid=$!
    timeout 60 gap-train -k 0 -labels "$TMP/labels.csv" -o "$TMP/fifo" "$TMP/f.t" > /dev/null 2>&1
    [ -p "$TMP/fifo" ]; ok $? "-o FIFO: the FIFO is still there"
    sleep 1; kill "$catpid" 2>/dev/null; wait "$catpid" 2>/dev/null
    is "$(tensor-info "$TMP/fromfifo" 2>/dev/null | cut -f2 | tr '\n' ' ')" "weights bias labels " "-o FIFO: the head went through it"
else
    skip "no mkfifo"; skip "no mkfifo"
fi

done_testing
