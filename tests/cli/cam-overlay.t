#!/bin/sh
# cam-overlay: sizes, colours (RGB, OpenCV JET), boxes, bad input.
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/cam-lib.sh"

ppmmake rgb:00/00/00 12 8 > "$TMP/black.ppm" 2>/dev/null
# a 1x2 map over a 12x8 image: left half 0, right half 1
mkrec m 1 2 kind=map source="$TMP/black.ppm" image_width=12 image_height=8 class=3 0 1 > "$TMP/m.t"

cam-overlay -interp nearest -alpha 1 < "$TMP/m.t" > "$TMP/o.ppm"; ok $? "overlay runs"
is "$(pnmfile < "$TMP/o.ppm" | cut -f2)" "PPM raw, 12 by 8  maxval 255" "PPM at the image's size"
# pixel (0,0) is jet(0) = (0,0,128) and (11,7) is jet(255) = (128,0,0), in RGB order
px() { pnmcut -left "$2" -top "$3" -width 1 -height 1 "$1" | pnmtoplainpnm | tail -1 | tr -s ' ' | sed 's/^ //; s/ $//'; }
is "$(px "$TMP/o.ppm" 0 0)" "0 0 128" "low end is dark blue (RGB)"
is "$(px "$TMP/o.ppm" 11 7)" "128 0 0" "high end is dark red (RGB)"
cam-overlay -interp nearest -alpha 1 -cmap viridis < "$TMP/m.t" > "$TMP/v.ppm"
is "$(px "$TMP/v.ppm" 11 7)" "253 231 37" "viridis high end"
cam-overlay -interp nearest -alpha 0.5 < "$TMP/m.t" > "$TMP/h.ppm"
is "$(px "$TMP/h.ppm" 11 7)" "64 0 0" "blend 0.5 over black"

# boxes from cam-bbox output drawn in the given colour
printf '%s\t3\t2\t2\t5\t5\t0.2\t-\t1\n' "$TMP/black.ppm" > "$TMP/b.txt"
cam-overlay -alpha 0 -boxes "$TMP/b.txt" -color 255,255,255 -thick 1 < "$TMP/m.t" > "$TMP/b.ppm"
is "$(px "$TMP/b.ppm" 2 2) / $(px "$TMP/b.ppm" 3 3) / $(px "$TMP/b.ppm" 5 4)" "255 255 255 / 0 0 0 / 255 255 255" \
   "box outline drawn, inside untouched"
printf 'other.ppm\t3\t2\t2\t5\t5\n' > "$TMP/b2.txt"
cam-overlay -alpha 0 -boxes "$TMP/b2.txt" < "$TMP/m.t" > "$TMP/b2.ppm"
is "$(px "$TMP/b2.ppm" 2 2)" "0 0 0" "boxes of other images are not drawn"

# IMAGE given on the command line, two maps in one stream, any netpbm input
pgmmake 0.5 12 8 > "$TMP/grey.pgm" 2>/dev/null
cat "$TMP/m.t" "$TMP/m.t" | cam-overlay "$TMP/grey.pgm" > "$TMP/two.ppm"
is "$(pnmsplit "$TMP/two.ppm" "$TMP/split%d.ppm" 2>/dev/null; ls "$TMP"/split*.ppm | wc -l)" 2 "one PPM per map"
# a tall, odd-sized image
ppmmake rgb:10/20/30 5 13 > "$TMP/tall.ppm" 2>/dev/null
mkrec t 3 2 kind=map image_width=5 image_height=13 1 2 3 4 5 6 > "$TMP/t.t"
is "$(cam-overlay "$TMP/tall.ppm" < "$TMP/t.t" | pnmfile | cut -f2)" "PPM raw, 5 by 13  maxval 255" "tall image"

# a non-netpbm source goes through anytopnm
if command -v ppmtobmp >/dev/null; then
    ppmtobmp "$TMP/black.ppm" > "$TMP/black.bmp" 2>/dev/null
    mkrec m 1 2 kind=map source="$TMP/black.bmp" image_width=12 image_height=8 0 1 > "$TMP/bmp.t"
    cam-overlay -interp nearest -alpha 1 < "$TMP/bmp.t" > "$TMP/bmp.ppm"
    is "$(px "$TMP/bmp.ppm" 11 7)" "128 0 0" "BMP source converted"
else
    skip "ppmtobmp not installed"
fi

# bad input
ppmmake red 10 8 > "$TMP/small.ppm" 2>/dev/null
fails 1 "image size does not match the record" cam-overlay -in "$TMP/m.t" "$TMP/small.ppm"
fails 1 "image size does not match the record (positional)" sh -c "cam-overlay '$TMP/small.ppm' < '$TMP/m.t'"
grep -q "10x8" "$TMP/ferr"; ok $? "message gives both sizes"
mkrec m 1 2 kind=map source="$TMP/missing.ppm" 0 1 > "$TMP/miss.t"
fails 1 "missing image" cam-overlay -in "$TMP/miss.t"
mkrec m 1 2 kind=map 0 1 > "$TMP/nosrc.t"
fails 1 "no image named at all" cam-overlay -in "$TMP/nosrc.t"
mkrec f 1 2 kind=features 0 1 > "$TMP/f.t"
fails 1 "wrong kind" cam-overlay -in "$TMP/f.t" "$TMP/black.ppm"
printf 'garbage\n' > "$TMP/g.pgm"
fails 1 "not an image" cam-overlay -in "$TMP/m.t" "$TMP/g.pgm"
printf 'x\t1\t2\n' > "$TMP/badbox.txt"
fails 1 "malformed boxes file" cam-overlay -boxes "$TMP/badbox.txt" -in "$TMP/m.t"
fails 2 "unknown colour map" cam-overlay -cmap rainbow -in "$TMP/m.t"
fails 2 "alpha out of range" cam-overlay -alpha 2 -in "$TMP/m.t"
fails 2 "two images" cam-overlay a.ppm b.ppm
done_testing
