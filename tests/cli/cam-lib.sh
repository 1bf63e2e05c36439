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
