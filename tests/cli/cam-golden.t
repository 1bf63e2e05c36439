#!/bin/sh
# The CAM stages against ../shared/golden: for every model and image, the
# golden features.npy as a feature record ->
#   cam-map       = cam.npy (ONNX: max|d|/max|golden| <= 1e-4; TFLite: corr >= 0.99)
#   mean(map) + bias = the record's logit
#   cam-bbox      = box.json (within 2 px)
#   gap-classify  top-5 = meta.json's top-5
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"
G=$SHARED/golden
[ -f "$G/index.json" ] && have_shared || skip_all "no $G (set CAM_SHARED)"

export SHARED
for mdir in "$G"/*/; do
    m=$(basename "$mdir")
    : > "$TMP/feat.t"
    for d in "$mdir"*/; do
        im=$(basename "$d")
        set -- $(perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); my $mf = $j->{model}; $mf =~ s|^shared/|$ENV{SHARED}/|;
                 print "$mf $j->{model_sha256} $j->{image_size_wh}[0] $j->{image_size_wh}[1]"' < "$d/meta.json")
        npyrec "$d/features.npy" features kind=features model="$1" model_sha256="$2" \
            source="$im" image_width="$3" image_height="$4" >> "$TMP/feat.t"
    done
    case $m in *quant*) tflite=1 ;; *) tflite=0 ;; esac

    cam-map "$TMP/feat.t" > "$TMP/maps.t" 2> "$TMP/err"
    ok $? "$m: cam-map runs"; sed 's/^/# /' "$TMP/err"
    gap-classify -k 5 "$TMP/feat.t" > "$TMP/top5" 2> "$TMP/err"
    ok $? "$m: gap-classify runs"; sed 's/^/# /' "$TMP/err"
    cam-bbox "$TMP/maps.t" > "$TMP/boxes"

    # one perl pass over the map records compares with the goldens
    perl -MJSON::PP -e '
        my ($maps, $gdir, $tflite, $m, $boxes, $top5) = @ARGV;
        sub npy { my $f = shift; open(my $i, "<", $f) or die "$f: $!"; binmode $i; local $/; my $b = <$i>;
                  my $hl = unpack("v", substr($b, 8, 2)); return [unpack("f<*", substr($b, 10 + $hl))]; }
        sub js { my $f = shift; open(my $i, "<", $f) or die; local $/; return decode_json(<$i>); }
        open(my $in, "<", $maps) or die; binmode $in; local $/; my $s = <$in>;
        my %box; open(my $bf, "<", $boxes) or die; { local $/ = "\n"; while (<$bf>) { chomp; my @f = split /\t/; $box{$f[0]} = [@f[2..5]]; } }
        my %top; open(my $tf, "<", $top5) or die; { local $/ = "\n"; while (<$tf>) { chomp; my @f = split /\t/; push @{$top{$f[0]}}, $f[2]; } }
        my $n = 0;
        while ($s =~ /\G(CAMTENSOR 1\n.*?ENDHDR\n)/gs) {
            my $h = $1; my %k = map { /^(\S+) ?(.*)$/ ? ($1, $2) : () } split /\n/, $h;
            my @sh = split / /, $k{shape}; my $cnt = 1; $cnt *= $_ for @sh;
            my $p = pos($s); my @v = unpack("f<*", substr($s, $p, 4 * $cnt)); pos($s) = $p + 4 * $cnt;
            my $d = "$gdir/$k{source}"; my $meta = js("$d/meta.json"); my $g = npy("$d/cam.npy");
            my $tag = "$m/$k{source}"; $n++;
            print(($k{class} == $meta->{cam_class} ? "" : "not "), "ok - $tag: top-1 class $k{class} (golden $meta->{cam_class})\n");
            if ($tflite) {
                my ($ma, $mb) = (0, 0); $ma += $_ for @v; $mb += $_ for @$g; $ma /= @v; $mb /= @$g;
                my ($sab, $saa, $sbb) = (0, 0, 0);
                for my $i (0..$#v) { my ($a, $b) = ($v[$i] - $ma, $g->[$i] - $mb); $sab += $a*$b; $saa += $a*$a; $sbb += $b*$b; }
                my $corr = $sab / sqrt($saa * $sbb);
                printf("%sok - %s: CAM correlation %.6f >= 0.99\n", $corr >= 0.99 ? "" : "not ", $tag, $corr);
            } else {
                my ($md, $mg) = (0, 0);
                for my $i (0..$#v) { my $x = abs($v[$i] - $g->[$i]); $md = $x if $x > $md; $mg = abs($g->[$i]) if abs($g->[$i]) > $mg; }
                printf("%sok - %s: CAM max|d|/max|g| = %.3g <= 1e-4\n", $md / $mg <= 1e-4 ? "" : "not ", $tag, $md / $mg);
            }
            my $mean = 0; $mean += $_ for @v; $mean /= @v;
            my $lhs = $mean + ($k{bias} // 0); my $tol = $tflite ? 0.05 * (abs($k{logit}) + 1) : 1e-4 * (abs($k{logit}) + 1);
            printf("%sok - %s: mean(map) + b = %.6g, logit %.6g\n", abs($lhs - $k{logit}) <= $tol ? "" : "not ", $tag, $lhs, $k{logit});
            my $gb = js("$d/box.json")->{box_xyxy_inclusive}; my $b = $box{$k{source}} || [-99, -99, -99, -99];
            my $dmax = 0; for (0..3) { my $x = abs($b->[$_] - $gb->[$_]); $dmax = $x if $x > $dmax; }
            my $lim = 2;
            printf("%sok - %s: box [%s] vs golden [%s] (max diff %d px <= %d)\n", $dmax <= $lim ? "" : "not ", $tag,
                   join(",", @$b), join(",", @$gb), $dmax, $lim);
            my $want = join(" ", map { $_->{index} } @{$meta->{top5}}); my $got = join(" ", @{$top{$k{source}} || []});
            if ($tflite) { $want = join(" ", sort split / /, $want); $got = join(" ", sort split / /, $got); }
            print(($got eq $want ? "" : "not "), "ok - $tag: gap-classify top-5 $got (golden $want)\n");
        }
        print(($n == 3 ? "" : "not "), "ok - $m: 3 maps\n");
    ' "$TMP/maps.t" "$mdir" "$tflite" "$m" "$TMP/boxes" "$TMP/top5" > "$TMP/tap"
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok 0 "${line#ok - }" ;;
        "not ok - "*) ok 1 "${line#not ok - }" ;;
        *) echo "# $line" ;;
        esac
    done < "$TMP/tap"
done
done_testing
