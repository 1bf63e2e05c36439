/* ttopk - test helper: the K largest values of every record of a tensor
 * stream, one line per record: "index source_index i1 i2 ... iK"
 * (indices into the flattened payload, largest first, ties to the lower
 * index).
 *
 *   ttopk [-k K] [STREAM]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "tstream.h"

static const char usage[] = "ttopk [-k K] [STREAM]";

int main(int argc, char **argv)
{
    long k = 5, n = 0, si;
    const char *path = "-";
    tensor t;
    err_t e;
    tsr *r;
    int i, rc;

    cli_init(argc, argv);
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            k = cli_long(usage, argv[i], argv[i + 1], 1, 100), i++;
        else
            cli_usage(usage, "unknown option %s", argv[i]);
    }
    if (i < argc)
        path = argv[i++];
    if (i < argc)
        cli_usage(usage, "one stream at most");
    if (!(r = tsr_open(path, &e)))
        cli_die_err(EXIT_DATA, &e);
    tensor_init(&t);
    while ((rc = tsr_next(r, &t, &e)) == 1) {
        size_t m;
        const float *v;
        int top[100];
        if (tensor_to_f32(&t, &e) < 0)
            cli_die_err(EXIT_DATA, &e);
        m = t.nbytes / 4;
        v = t.data;
        if (tensor_meta_long(&t, "source_index", &si) < 0)
            si = -1;
        printf("%ld %ld", n++, si);
        for (long j = 0; j < k && j < (long)m; j++) {
            int best = -1;
            for (size_t x = 0; x < m; x++) {
                int used = 0;
                for (long q = 0; q < j; q++)
                    used |= top[q] == (int)x;
                if (!used && (best < 0 || v[x] > v[best]))
                    best = (int)x;
            }
            top[j] = best;
            printf(" %d", best);
        }
        putchar('\n');
    }
    if (rc < 0)
        cli_die_err(EXIT_DATA, &e);
    tsr_close(r);
    tensor_free(&t);
    cli_close_stdout();
    return 0;
}
