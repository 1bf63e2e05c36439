# cam-lib.sh - helpers for the CAM stage tests (sourced after tap.sh).

# mkrec NAME H W [KEY=VALUE ...] V1 V2 ...: one f32 map record on stdout.
mkrec() {
    perl -e 'my ($name, $h, $w, @v) = @ARGV; my @m;
             while (@v && $v[0] =~ /=/) { push @m, shift @v }
             print "CAMTENSOR 1\nname $name\ndtype f32\nshape $h $w\n";
             for (@m) { my ($k, $x) = split /=/, $_, 2; print "$k $x\n" }
             print "ENDHDR\n", pack("f<*", @v)' "$@"
}

# mknpy FILE H W V1 V2 ...: a float32 C-order .npy file.
mknpy() {
    perl -e 'my ($f, $h, $w, @v) = @ARGV;
             my $d = "{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': ($h, $w), }";
             my $len = 10 + length($d) + 1; my $pad = (64 - $len % 64) % 64;
             open(my $o, ">", $f) or die; binmode $o;
             print $o "\x93NUMPY\x01\x00", pack("v", length($d) + $pad + 1), $d, " " x $pad, "\n", pack("f<*", @v);
             close $o' "$@"
}

# boxes: the x0 y0 x1 y1 columns of cam-bbox output, one box per line as
# "[x0,y0,x1,y1]", joined by spaces
boxes() { awk -F'\t' '{ printf "%s[%s,%s,%s,%s]", (NR > 1 ? " " : ""), $3, $4, $5, $6 }'; }

# npyrec FILE NAME [KEY=VALUE ...]: a record from a little-endian f32 .npy
# (format 1.0/2.0), without tensor-npy
npyrec() {
    perl -e 'my ($f, $name, @m) = @ARGV; open(my $i, "<", $f) or die "$f: $!"; binmode $i;
             local $/; my $b = <$i>; my $v = ord(substr($b, 6, 1));
             my ($hl, $off) = $v == 1 ? (unpack("v", substr($b, 8, 2)), 10) : (unpack("V", substr($b, 8, 4)), 12);
             my $h = substr($b, $off, $hl); $h =~ /<f4/ or die "$f: not <f4";
             $h =~ /shape.: \(([^)]*)\)/ or die; my @s = grep { length } map { s/\s//gr } split /,/, $1;
             print "CAMTENSOR 1\nname $name\ndtype f32\nshape @s\n";
             for (@m) { my ($k, $x) = split /=/, $_, 2; print "$k $x\n" }
             print "ENDHDR\n", substr($b, $off + $hl)' "$@"
}

# nthrec N < STREAM: record N (0-based) of a plain f32 stream, as it is
nthrec() {
    perl -e 'binmode STDIN; binmode STDOUT; local $/; my $s = <STDIN>; my $i = 0;
             while ($s =~ /\G(CAMTENSOR 1\n.*?ENDHDR\n)/gs) { my $h = $1; my $start = pos($s) - length($h);
                 $h =~ /^shape ?(.*)$/m; my $n = 4; $n *= $_ for split / /, $1; pos($s) = pos($s) + $n;
                 if ($i++ == $ARGV[0]) { print substr($s, $start, pos($s) - $start); exit 0 } } exit 1' "$1"
}

# reldiff A B: max |a - b| / max |b| over the payloads of the first record
# of two plain f32 streams
reldiff() {
    perl -e 'sub pl { open(my $i, "<", $_[0]) or die; binmode $i; local $/; my $s = <$i>; $s =~ /ENDHDR\n/g or die;
                     return [unpack("f<*", substr($s, pos($s)))] }
             my ($a, $b) = (pl($ARGV[0]), pl($ARGV[1])); die "sizes differ" if @$a != @$b; my ($md, $mb) = (0, 0);
             for (0..$#$a) { my $d = abs($a->[$_] - $b->[$_]); $md = $d if $d > $md; $mb = abs($b->[$_]) if abs($b->[$_]) > $mb }
             printf "%.3g", $mb ? $md / $mb : $md' "$1" "$2"
}
