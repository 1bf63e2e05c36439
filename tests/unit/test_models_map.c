/* test_models_map.c - cam_classifier_map gives cam_map_linear's maps to
 * the bit (the same sums in the same order, read along rows), for small
 * and large maps (past its on-stack buffer), and copies a channel for an
 * identity head. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "cam.h"
#include "models.h"

static uint32_t rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFF) / 65536.0f - 0.3f;
}

int main(void)
{
    static const int shapes[][3] = { {1024, 7, 7}, {512, 14, 14}, {3, 1, 1}, {64, 33, 40}, {1, 5, 3} };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int K = shapes[s][0], h = shapes[s][1], w = shapes[s][2], C = 4;
        size_t n = (size_t)h * w;
        float *f = malloc(sizeof *f * K * n), *W = malloc(sizeof *W * K * C);
        float *a = malloc(sizeof *a * n), *b = malloc(sizeof *b * n);
        for (size_t i = 0; i < (size_t)K * n; i++)
            f[i] = frand() > 0 ? frand() * 10 : 0;     /* ReLU-like, many zeros */
        for (int i = 0; i < K * C; i++)
            W[i] = frand();
        cam_classifier c;
        memset(&c, 0, sizeof c);
        c.head.K = K;
        c.head.nclasses = C;
        c.head.W = W;
        int same = 1;
        for (int cls = 0; cls < C; cls++) {
            cam_map_linear(f, K, n, W + (size_t)cls * K, a);
            cam_classifier_map(&c, f, K, h, w, cls, b, NULL);
            same &= memcmp(a, b, sizeof *a * n) == 0;
        }
        tap_ok(same, "%d x %d x %d: the same maps to the bit, 4 classes", K, h, w);
        c.head.identity = 1;
        c.head.W = NULL;
        cam_classifier_map(&c, f, K, h, w, K - 1, b, NULL);
        tap_ok(memcmp(b, f + (size_t)(K - 1) * n, sizeof *b * n) == 0, "%d x %d x %d: identity head copies the channel", K, h, w);
        free(f); free(W); free(a); free(b);
    }
    return tap_done();
}
