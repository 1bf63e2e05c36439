/* tjpegcmyk - writes a small CMYK or YCCK JPEG file (libjpeg), with or
 * without the Adobe marker, for the tests of the JPEG reader: netpbm's
 * pnmtojpeg cannot write one.
 *
 *   tjpegcmyk cmyk|ycck adobe|plain > out.jpg */
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "cmyk") && strcmp(argv[1], "ycck")) ||
        (strcmp(argv[2], "adobe") && strcmp(argv[2], "plain"))) {
        fprintf(stderr, "usage: tjpegcmyk cmyk|ycck adobe|plain > out.jpg\n");
        return 2;
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr je;
    unsigned char row[37 * 4];
    c.err = jpeg_std_error(&je);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, stdout);
    c.image_width = 37;
    c.image_height = 23;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, strcmp(argv[1], "ycck") ? JCS_CMYK : JCS_YCCK);
    c.write_Adobe_marker = strcmp(argv[2], "adobe") == 0;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < 37 * 4; x++)
            row[x] = (unsigned char)((x * 7 + c.next_scanline * 13) % 256);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fflush(stdout) == 0 ? 0 : 1;
}
