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
