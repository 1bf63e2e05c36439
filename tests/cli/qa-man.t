#!/bin/sh
# Man pages as a reader sees them: quotes that open also close (an mdoc
# enclosure such as .Ql or .Pq runs to the end of its line and swallows
# what follows, e.g. ".Pq Ql - No for stdin" renders "(‘- for stdin’)").
. "$(dirname "$0")/../tap.sh"
command -v mandoc >/dev/null 2>&1 || skip_all "no mandoc"
for f in "$TOP"/man/*.[1-8]; do
    got=$(mandoc -Tutf8 "$f" | col -b | tr -d '\n' |
          perl -CS -ne 'my $o = () = /\x{2018}/g; my $c = () = /\x{2019}/g; my $n = () = /\x{2018}[^\x{2019}]*\x{2018}/g; print "$o $c $n"')
    set -- $got
    [ "$1" = "$2" ] && [ "$3" = 0 ]; ok $? "$(basename "$f"): single quotes balanced, none nested (open $1, close $2, nested $3)"
    # a quoted lone '-' that swallowed the words after it
    ! mandoc -Tutf8 "$f" | col -b | grep -q "$(printf '\342\200\230')- "; ok $? "$(basename "$f"): '-' quoted alone"
done
# gap-classify(1)'s folder example, as printed, names each image's line
M=$SHARED/models/googlenet-bvlc.onnx
if [ -f "$M" ] && command -v parallel >/dev/null 2>&1 && command -v cjpeg >/dev/null 2>&1; then
    mkdir -p "$TMP/ex"
    for i in cat bird; do bmptopnm "$SHARED/images/$i.bmp" 2>/dev/null | cjpeg > "$TMP/ex/$i.jpg"; done
    ln -s "$M" "$TMP/ex/googlenet-bvlc.onnx"
    mandoc -Tutf8 "$TOP/man/gap-classify.1" | col -b |
        awk '/^[ \t]*ls \*\.jpg \| parallel/ { p = 1 } p { print } p && /> top1\.tsv/ { exit }' > "$TMP/ex/cmd.sh"
    (cd "$TMP/ex" && sh cmd.sh 2>/dev/null)
    is "$(cut -f1 "$TMP/ex/top1.tsv" 2>/dev/null | sort | tr '\n' ' ')" "bird.jpg cat.jpg " \
       "gap-classify(1) folder example: each line names its image"
else
    skip "no googlenet-bvlc.onnx, parallel or cjpeg"
fi

done_testing
