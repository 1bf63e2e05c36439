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
done_testing
