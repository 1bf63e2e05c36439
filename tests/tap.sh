# tap.sh - TAP helpers for CLI tests.  Source it from tests/cli/*.t:
#   . "$(dirname "$0")/../tap.sh"
# Runs from the project root; tools are in $BIN (default ./bin).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$TOP/bin}
SHARED=${CAM_SHARED:-$TOP/../shared}
export PATH="$BIN:$PATH"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/camtest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
_n=0; _fail=0

ok()   { _n=$((_n+1)); if [ "$1" = 0 ]; then echo "ok $_n - $2"; else echo "not ok $_n - $2"; _fail=$((_fail+1)); fi; }
# t DESC CMD...: passes when CMD exits 0
t()    { d=$1; shift; if "$@" >"$TMP/out" 2>"$TMP/err"; then ok 0 "$d"; else ok 1 "$d"; sed 's/^/# /' "$TMP/err" | head -5; fi; }
# is GOT WANT DESC
is()   { if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got: '$1'"; echo "#  want: '$2'"; fi; }
# fails STATUS DESC CMD...: CMD must exit STATUS, print nothing on stdout
# and a one-line "prog: ..." message on stderr
fails() {
    want=$1; d=$2; shift 2
    "$@" >"$TMP/fout" 2>"$TMP/ferr"; st=$?
    if [ "$st" = "$want" ] && [ ! -s "$TMP/fout" ] && [ -s "$TMP/ferr" ]; then ok 0 "$d"
    else ok 1 "$d"; echo "#   status $st (want $want), stdout $(wc -c <"$TMP/fout") bytes, stderr: $(head -c 300 "$TMP/ferr")"; fi
}
skip() { _n=$((_n+1)); echo "ok $_n # skip $1"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
have_shared() { [ -d "$SHARED/models" ]; }
# cache_room DIR MB: DIR's file system takes MB more of packed-weight cache
# files (they are written only if 256 MB and 1 % of it stay free)
cache_room() {
    df -P -k "$1" | awk -v mb="$2" 'NR == 2 { left = $4 * 1024 - mb * 1e6
        exit !(left >= 256 * 1048576 && left >= $2 * 1024 * 0.01) }'
}
done_testing() { echo "1..$_n"; [ "$_fail" = 0 ]; }
