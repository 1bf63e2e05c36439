#!/bin/sh
# tensor-info: line format, headers, several files, and every kind of bad
# stream (exit 1, one-line message, only complete earlier records shown).
. "$(dirname "$0")/../tap.sh"

cd "$TMP" || exit 1

# rec NAME DTYPE SHAPE [EXTRA-HEADER-LINES]: a header (the payload follows)
rec() { printf 'CAMTENSOR 1\nname %s\ndtype %s\nshape %s\n%bENDHDR\n' "$1" "$2" "$3" "${4:-}"; }

{ rec a u8 "2 3" 'axes H W\nkind map\nlabel tabby, tabby cat\nclass 281\nother x\n'; printf '\001\002\003\004\005\006'; } >a.t
{ rec b f32 "2" 'kind scores\n'; printf '\000\000\200\077\000\000\300\177'; } >b.t   # 1.0, NaN
rec s i16 "" >s.t; printf '\377\377' >>s.t                                           # scalar -1

tensor-info a.t >out 2>err; st=$?
is "$st" 0 "exit 0 on a good stream"
is "$(cat out)" "$(printf '0\ta\tu8\t2x3\t1\t6\t3.5\tkind=map\tclass=281\tlabel=tabby, tabby cat')" \
   "line: index name dtype shape min max mean, then the metadata that matters"
is "$(tensor-info <b.t)" "$(printf '0\tb\tf32\t2\t1\t1\t1\tkind=scores\tnan=1')" "NaN counted, left out of min/max/mean"
is "$(tensor-info s.t)" "$(printf '0\ts\ti16\tscalar\t-1\t-1\t-1')" "scalar"
is "$(cat a.t b.t | tensor-info - | cut -f1,2)" "$(printf '0\ta\n1\tb')" "records numbered from 0"
is "$(tensor-info a.t b.t | cut -f1-3)" "$(printf 'a.t\t0\ta\nb.t\t0\tb')" "several files: lines start with the file name"
is "$(tensor-info -header a.t | od -c)" "$(rec a u8 "2 3" 'axes H W\nkind map\nlabel tabby, tabby cat\nclass 281\nother x\n' | od -c)" \
   "-header prints the header exactly"
printf 'CAMTENSOR 1\nshape 1\nzz top\ndtype u8\nname odd\nENDHDR\nx' >odd.t
is "$(tensor-info -header odd.t)" "$(head -c 52 odd.t)" "-header keeps the original order"
is "$(tensor-info -header a.t b.t | grep -c '^==> ')" 2 "-header with several files: a ==> file <== line each"
: >empty.t
t "empty stream: exit 0" tensor-info empty.t
is "$(wc -c <"$TMP/out")" 0 "empty stream: no output"
gzip -c a.t >a.t.gz; gzip -c b.t >b.t.gz
is "$(cat a.t.gz b.t.gz | tensor-info | cut -f2)" "$(printf 'a\nb')" "concatenated gzip members"
is "$(cat a.t.gz b.t a.t.gz | tensor-info | cut -f2)" "$(printf 'a\nb\na')" "gzip, plain, gzip"

# ---- bad streams: exit 1, nothing on stdout, a one-line message naming record and field
badcase() {   # badcase DESC EXPECTED-MESSAGE-PART FILE
    tensor-info "$3" >out 2>err; st=$?
    if [ "$st" = 1 ] && [ ! -s out ] && [ "$(wc -l <err)" = 1 ] && grep -q "^tensor-info: $2" err; then
        ok 0 "$1"
    else
        ok 1 "$1"; echo "#   status $st, stdout $(wc -c <out) bytes, stderr: $(cat err)"
    fi
}
printf 'CAMTENSOR 2\n' >x.t;                        badcase "wrong version" "x.t: record 0: unsupported format version" x.t
printf 'P6\n1 1\n255\nabc' >x.t;                    badcase "wrong magic" "x.t: record 0: wrong magic" x.t
printf 'CAMTENSOR 1\nname a\ndtype u8\n' >x.t;      badcase "truncated header" "x.t: record 0: header truncated" x.t
{ rec a f32 "1000"; printf 'abcd'; } >x.t;         badcase "truncated payload" "x.t: record 0: payload truncated (got 4 of 4000 bytes)" x.t
{ rec a f8 "1"; printf x; } >x.t;                   badcase "unknown dtype" "x.t: record 0: field 'dtype': unknown type 'f8'" x.t
{ rec a u8 "1024 7 x"; } >x.t;                      badcase "shape not a number" "x.t: record 0: field 'shape': dimension 2 is not a number" x.t
{ rec a u8 "3 -1"; } >x.t;                          badcase "negative dimension" "x.t: record 0: field 'shape': dimension 1 is negative" x.t
{ rec a u8 "1 1 1 1 1 1 1 1 1"; } >x.t;             badcase "too many dimensions" "x.t: record 0: field 'shape': more than 8" x.t
{ rec a u8 "2 2" 'axes C H W\n'; } >x.t;            badcase "axes count" "x.t: record 0: field 'axes': 3 names for 2 dimensions" x.t
{ rec a f64 "4294967296 4294967296"; } >x.t;        badcase "byte size overflow" "x.t: record 0: field 'shape': byte size overflows" x.t
{ rec a f32 "65536 65536"; } >x.t;                  badcase "over the 4 GiB cap" "x.t: record 0: field 'shape': payload of 17179869184 bytes exceeds" x.t
{ rec a u8 "1" 'bad:key 1\n'; printf x; } >x.t;     badcase "bad key" "x.t: record 0: header line 5: bad key 'bad:key'" x.t
{ rec a u8 "1" 'k 1\nk 2\n'; printf x; } >x.t;      badcase "duplicate key" "x.t: record 0: duplicate key 'k'" x.t
{ printf 'CAMTENSOR 1\nname a\nk '; head -c 70000 /dev/zero | tr '\0' v; printf '\nENDHDR\n'; } >x.t
badcase "header too long" "x.t: record 0: header too long" x.t
gzip -c a.t | head -c 30 >x.t;                      badcase "compressed stream cut short" "x.t: record 0: compressed stream cut short" x.t
printf 'junk' | tensor-info >out 2>err; is "$(cat err)" "tensor-info: stdin: record 0: wrong magic (not a tensor stream: expected 'CAMTENSOR 1')" "stdin is named stdin"

# ---- an error in record N: the complete earlier records stay
partial() {   # partial DESC EXPECTED-MESSAGE-PART FILE GOOD-LINES
    tensor-info "$3" >out 2>err; st=$?
    if [ "$st" = 1 ] && [ "$(wc -l <out)" = "$4" ] && [ "$(wc -l <err)" = 1 ] && grep -q "^tensor-info: $2" err; then
        ok 0 "$1"
    else
        ok 1 "$1"; echo "#   status $st, stdout $(wc -l <out) lines, stderr: $(cat err)"
    fi
}
{ cat a.t b.t; printf '\n'; } >x.t;                 partial "garbage between records" "x.t: record 2: garbage after the previous record" x.t 2
{ cat a.t b.t; rec c u8 "9"; printf 'abc'; } >x.t;  partial "truncated payload in record 2" "x.t: record 2: payload truncated (got 3 of 9 bytes)" x.t 2
{ cat a.t; rec c u8 "1 x"; } >x.t;                  partial "bad shape in record 1" "x.t: record 1: field 'shape': dimension 1 is not a number" x.t 1
cat a.t b.t a.t | gzip -c >x.gz; n=$(wc -c <x.gz); head -c $((n - 6)) x.gz >x.t
partial "gzip cut in its trailer" "x.t: record 3: compressed stream cut short" x.t 3
tensor-info a.t nonexistent.t b.t >out 2>err; st=$?
is "$st:$(wc -l <out):$(cat err)" "1:2:tensor-info: nonexistent.t: cannot open: No such file or directory" \
   "a missing file is reported, the other files are still listed"

# ---- usage
fails 2 "unknown option: exit 2" tensor-info -x a.t
fails 2 "-help: exit 2 with the usage" tensor-info -help

# ---- a closed pipe downstream ends quietly
i=0; while [ $i -lt 300 ]; do cat a.t; i=$((i + 1)); done >many.t
tensor-info many.t 2>err | head -c 10 >/dev/null
is "$(cat err)" "" "| head -c 10: no message"
(trap '' PIPE; tensor-info many.t 2>err | head -c 10 >/dev/null; exit 0)
is "$(cat err)" "" "| head -c 10 with SIGPIPE ignored: no message"

# ---- records are shown as they arrive (no read-ahead)
mkfifo fifo
tensor-info <fifo >live 2>&1 &
pid=$!
exec 3>fifo
cat a.t >&3
i=0; while [ $i -lt 100 ] && [ ! -s live ]; do sleep 0.1; i=$((i + 1)); done
is "$(cut -f2 live)" "a" "a record is listed before the writer closes the pipe"
gzip -c b.t >&3
exec 3>&-
wait $pid
is "$(cut -f2 live | tr '\n' ' ')" "a b " "then the rest of the stream (gzip after plain)"

done_testing
