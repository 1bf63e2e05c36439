/* tcompare - test helper: compares one record of a tensor stream with a
 * golden .npy file and prints the figures.
 *
 *   tcompare [-record N] [-rel MAX] [-corr MIN] [-top1] STREAM GOLDEN.npy
 *
 * Prints "rel=R corr=C argmax=A/G n=N" where R = max|got - golden| /
 * max|golden|, C = Pearson correlation of the flattened values, A and G the
 * index of the largest value of each.  Exit 0 when every requested bound
 * holds (-rel: R <= MAX; -corr: C >= MIN; -top1: A == G), 1 when one does
 * not or on a data error, 2 on bad usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "npy.h"
#include "tstream.h"

static const char usage[] = "tcompare [-record N] [-rel MAX] [-corr MIN] [-top1] STREAM GOLDEN.npy";

static size_t argmax(const float *v, size_t n)
{
    size_t a = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[a])
            a = i;
    return a;
}

int main(int argc, char **argv)
{
    long record = 0;
    double maxrel = -1, mincorr = -2;
    int top1 = 0, i, k;
    tensor got, gold;
    err_t e;
    tsr *r;

    cli_init(argc, argv);
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-record") == 0 && i + 1 < argc)
            record = cli_long(usage, argv[i], argv[i + 1], 0, 1000000), i++;
        else if (strcmp(argv[i], "-rel") == 0 && i + 1 < argc)
            maxrel = cli_double(usage, argv[i], argv[i + 1], 0, 1e30), i++;
        else if (strcmp(argv[i], "-corr") == 0 && i + 1 < argc)
            mincorr = cli_double(usage, argv[i], argv[i + 1], -1, 1), i++;
        else if (strcmp(argv[i], "-top1") == 0)
            top1 = 1;
        else
            cli_usage(usage, "unknown option %s", argv[i]);
    }
    if (argc - i != 2)
        cli_usage(usage, "need a stream and a golden .npy");

    tensor_init(&got);
    tensor_init(&gold);
    if (!(r = tsr_open(argv[i], &e)))
        cli_die_err(EXIT_DATA, &e);
    for (long n = 0; n <= record; n++) {
        k = tsr_next(r, &got, &e);
        if (k < 0)
            cli_die_err(EXIT_DATA, &e);
        if (k == 0)
            cli_die(EXIT_DATA, "%s: no record %ld", argv[i], record);
    }
    tsr_close(r);
    if (npy_read_file(argv[i + 1], &gold, &e) < 0)
        cli_die_err(EXIT_DATA, &e);
    if (tensor_to_f32(&got, &e) < 0 || tensor_to_f32(&gold, &e) < 0)
        cli_die_err(EXIT_DATA, &e);
    if (got.nbytes != gold.nbytes)
        cli_die(EXIT_DATA, "%zu values against %zu golden values", got.nbytes / 4, gold.nbytes / 4);

    size_t n = got.nbytes / 4;
    const float *a = got.data, *g = gold.data;
    double maxd = 0, maxg = 0, sa = 0, sg = 0, saa = 0, sgg = 0, sag = 0;
    for (size_t j = 0; j < n; j++) {
        double d = fabs((double)a[j] - g[j]);
        if (d > maxd || isnan(d))
            maxd = d;
        if (fabs(g[j]) > maxg)
            maxg = fabs(g[j]);
        sa += a[j];
        sg += g[j];
    }
    double ma = sa / n, mg = sg / n;
    for (size_t j = 0; j < n; j++) {
        saa += (a[j] - ma) * (a[j] - ma);
        sgg += (g[j] - mg) * (g[j] - mg);
        sag += (a[j] - ma) * (g[j] - mg);
    }
    double rel = maxg > 0 ? maxd / maxg : maxd;
    double corr = saa > 0 && sgg > 0 ? sag / sqrt(saa * sgg) : (saa == sgg ? 1 : 0);
    size_t am = argmax(a, n), gm = argmax(g, n);
    printf("rel=%.3g corr=%.6f argmax=%zu/%zu n=%zu\n", rel, corr, am, gm, n);
    int ok = !(maxrel >= 0 && !(rel <= maxrel)) && !(mincorr > -2 && !(corr >= mincorr)) && !(top1 && am != gm);
    tensor_free(&got);
    tensor_free(&gold);
    cli_close_stdout();
    return ok ? 0 : 1;
}
