#!/bin/sh
# tensor-npy: .npy -> stream -> .npy bit-exact, extraction naming, options,
# bad files and usage errors.
. "$(dirname "$0")/../tap.sh"

cd "$TMP" || exit 1

# npy DICT DATA-PRINTF-FORMAT: a version 1.0 .npy file exactly as NumPy
# writes it (header padded with spaces to a multiple of 64, then '\n').
npy() {
    h=$1
    len=$(( ${#h} + 1 ))
    pad=$(( (64 - (10 + len) % 64) % 64 ))
    hl=$(( len + pad ))
    printf '\223NUMPY\001\000'
    printf "\\$(printf %03o $((hl % 256)))\\$(printf %03o $((hl / 256)))"
    printf '%s%*s\n' "$h" "$pad" ''
    printf "$2"
}
g20='                    '   # NumPy's spare room after a 1-digit first dimension

npy "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }$g20" \
    '\000\000\200\077\000\000\000\100\000\000\100\100\000\000\200\100\000\000\240\100\000\000\300\177' >m.npy
npy "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }$g20" 'abcd' >bytes.npy
npy "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }$g20" '\000\074\000\300' >half.npy

t "npy to stream" tensor-npy m.npy
cp "$TMP/out" m.t
is "$(tensor-info m.t | cut -f2-4)" "$(printf 'm\tf32\t2x3')" "record named after the file, f32 2x3"
t "extract" tensor-npy -x x m.t
cmp -s m.npy x/0000.npy; ok $? "npy -> stream -> npy is bit-exact (cmp)"
tensor-npy bytes.npy half.npy m.npy | tensor-npy -x y
is "$(cd y && echo *)" "0000.npy 0001.npy 0002.npy" "-x names files 0000.npy, 0001.npy, ... in stream order"
# a shorter stream into the same directory: the older files stay, and a
# warning says they are not records of this stream
tensor-npy m.npy | tensor-npy -x y 2>err; st=$?
is "$st:$(cd y && echo *)" "0:0000.npy 0001.npy 0002.npy" "-x into a used directory: exit 0, nothing removed"
grep -q "2 .npy files from an earlier extraction (0001.npy and after)" err; ok $? "... and a warning names them: $(cat err)"
tensor-npy bytes.npy half.npy m.npy | tensor-npy -x y 2>err
[ ! -s err ]; ok $? "-x over as many records: no warning"
cmp -s bytes.npy y/0000.npy && cmp -s half.npy y/0001.npy && cmp -s m.npy y/0002.npy; ok $? "u1, f2, f4 all bit-exact"
is "$(ls -A y | wc -l)" 3 "no temporary files left behind"
is "$(tensor-npy half.npy | tensor-info | cut -f3,5,6)" "$(printf 'f16\t-2\t1')" "f2 npy is an f16 record"

# -f16, -z, -name, -meta
is "$(tensor-npy -f16 m.npy | tensor-info | cut -f3,5,6)" "$(printf 'f16\t1\t5')" "-f16 stores f32 as f16"
tensor-npy -f16 m.npy | tensor-npy -x h
is "$(od -An -c h/0000.npy | head -2 | tr -s ' ' | head -c 40)" "$(od -An -c m.npy | head -2 | tr -s ' ' | sed "s/f 4/f 2/" | head -c 40)" \
   "an f16 record extracts as '<f2'"
tensor-npy -z m.npy bytes.npy >z.t
is "$(head -c 2 z.t | od -An -tx1 | tr -d ' ')" "1f8b" "-z writes gzip"
is "$(gzip -dc z.t | od -c)" "$(tensor-npy m.npy bytes.npy | od -c)" "-z: gunzip gives the plain stream"
is "$(tensor-npy -name concat_24 -meta kind=features -meta 'label=tabby, tabby cat' -meta class=281 m.npy | tensor-info -header)" \
   "$(printf 'CAMTENSOR 1\nname concat_24\ndtype f32\nshape 2 3\nkind features\nlabel tabby, tabby cat\nclass 281\nENDHDR')" \
   "-name and -meta (in the order given)"
is "$(tensor-npy -meta flag= m.npy | tensor-info -header | grep flag)" "flag" "-meta key= gives an empty value"
cp m.npy 'dir.x.npy'
is "$(tensor-npy ./dir.x.npy | tensor-info | cut -f2)" "dir.x" "name: basename without .npy"
is "$(tensor-npy - <m.npy | tensor-info | cut -f2)" "stdin" "- reads a .npy from stdin"

# Fortran order and big-endian are converted
npy "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2), }$g20" '\000\001\000\002\000\003\000\004' >f.npy
tensor-npy f.npy | tensor-npy -x f
npy "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 2), }$g20" '\001\000\003\000\002\000\004\000' >want.npy
cmp -s want.npy f/0000.npy; ok $? "Fortran order, big-endian: stored as C order little-endian"

if have_shared && [ -f "$SHARED/golden/googlenet-bvlc/cat/features.npy" ]; then
    F=$SHARED/golden/googlenet-bvlc/cat/features.npy
    tensor-npy "$F" | tensor-npy -x g
    cmp -s "$F" g/0000.npy; ok $? "golden GoogLeNet features: npy -> stream -> npy bit-exact"
    tensor-npy -z "$F" | tensor-npy -x gz
    cmp -s "$F" gz/0000.npy; ok $? "the same through a gzip stream"
    # -f16 rounding against Python's own binary16 packing (round to nearest even)
    if command -v python3 >/dev/null 2>&1; then
        tensor-npy -f16 "$F" | tensor-npy -x g16
        python3 - "$F" g16/0000.npy <<'PY'
import struct, sys
def payload(p):
    b = open(p, 'rb').read()
    return b[10 + struct.unpack('<H', b[8:10])[0]:]
a, h = payload(sys.argv[1]), payload(sys.argv[2])
n = len(a) // 4
f = struct.unpack('<%df' % n, a)
sys.exit(0 if len(h) == 2 * n and struct.pack('<%de' % n, *f) == h else 1)
PY
        ok $? "-f16 of the golden features equals Python's binary16 rounding (50176 values)"
    else
        skip "no python3"
    fi
else
    skip "no shared data"; skip "no shared data"; skip "no shared data"
fi

# ---- bad input: exit 1, one-line message
fails 1 "missing file" tensor-npy nonexistent.npy
is "$(cat "$TMP/ferr")" "tensor-npy: nonexistent.npy: cannot open: No such file or directory" "missing file: message"
printf 'not npy at all' >bad.npy
fails 1 "not a .npy file" tensor-npy bad.npy
head -c 140 m.npy >short.npy
fails 1 "truncated .npy" tensor-npy short.npy
is "$(cat "$TMP/ferr")" "tensor-npy: short.npy: npy: data truncated (got 12 of 24 bytes)" "truncated: message"
npy "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }$g20" 'abcd' >u4.npy
fails 1 "unsupported dtype" tensor-npy u4.npy
tensor-npy m.npy short.npy bytes.npy >out 2>err; st=$?
is "$st:$(wc -l <err)" "1:1" "error in the second file: exit 1, one message"
cmp -s out m.t; ok $? "error in the second file: the first record stays, nothing more"
tensor-npy -z m.npy short.npy >out.gz 2>/dev/null
is "$(tensor-info out.gz 2>&1 | cut -f2)" "m" "-z: the stream is properly finished after an error"
{ cat m.t; printf 'CAMTENSOR 1\nname q\ndtype u8\nshape 5\nENDHDR\nab'; } | tensor-npy -x e 2>err; st=$?
is "$st:$(cd e && echo *)" "1:0000.npy" "-x: error in record 1 keeps 0000.npy"
is "$(cat err)" "tensor-npy: stdin: record 1: payload truncated (got 2 of 5 bytes)" "-x: message names the record"
: >file
fails 1 "-x onto a file" tensor-npy -x file m.t

# ---- usage: exit 2
fails 2 "no arguments" tensor-npy
fails 2 "unknown option" tensor-npy -q m.npy
fails 2 "-name with two files" tensor-npy -name a m.npy m.npy
fails 2 "-meta without =" tensor-npy -meta kind m.npy
fails 2 "-meta with a bad key" tensor-npy -meta 'a b=1' m.npy
fails 2 "-meta with a reserved key" tensor-npy -meta shape=1 m.npy
fails 2 "-x without a directory" tensor-npy -x
fails 2 "-x with -z" tensor-npy -x d -z m.t
fails 2 "-x with two streams" tensor-npy -x d m.t m.t

# ---- a closed pipe downstream ends quietly
if have_shared && [ -f "$SHARED/golden/googlenet-bvlc/cat/features.npy" ]; then big=$SHARED/golden/googlenet-bvlc/cat/features.npy; else big=m.npy; fi
tensor-npy "$big" "$big" "$big" 2>err | head -c 10 >/dev/null
is "$(cat err)" "" "| head -c 10: no message"
(trap '' PIPE; tensor-npy "$big" "$big" "$big" 2>err | head -c 10 >/dev/null; exit 0)
is "$(cat err)" "" "| head -c 10 with SIGPIPE ignored: no message"
sh -c 'trap "" PIPE; exec tensor-npy "$1" "$1" "$1"' sh "$big" 2>err | head -c 10 >/dev/null
is "$(cat err)" "" "EPIPE: no message"

done_testing
