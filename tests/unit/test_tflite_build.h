/* test_tflite_build.h - writes small TFLite flatbuffers for tests: a
 * generic flatbuffer serialiser (tables, vectors, strings) and a model
 * builder on top of it (tensors, buffers, operator codes, operators).
 *
 * Field ids follow tensorflow/lite/schema/schema.fbs.  Tables are written
 * with the vtable before the table and children after their parent, so
 * every uoffset points forward as the format requires.
 */
#ifndef TEST_TFLITE_BUILD_H
#define TEST_TFLITE_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FBK_TABLE, FBK_BYTES, FBK_OBJS };

typedef struct fbo fbo;
typedef struct {
    int      id;
    int      size;      /* 1, 2, 4, 8: scalar; 0: offset to ref */
    uint64_t bits;
    fbo     *ref;
} fbo_field;

struct fbo {
    int            kind;
    int            nf;
    fbo_field      f[16];
    unsigned char *bytes;       /* FBK_BYTES: len elements of elsize bytes */
    int            elsize, len, nul;
    fbo          **objs;        /* FBK_OBJS */
    fbo           *next;        /* every object, for fb_free_all */
};

static fbo *fb_all;

static fbo *fb_new(int kind)
{
    fbo *o = calloc(1, sizeof *o);
    o->kind = kind;
    o->next = fb_all;
    fb_all = o;
    return o;
}

__attribute__((unused)) static void fb_free_all(void)
{
    while (fb_all) {
        fbo *n = fb_all->next;
        free(fb_all->bytes);
        free(fb_all->objs);
        free(fb_all);
        fb_all = n;
    }
}

static fbo *fb_table(void) { return fb_new(FBK_TABLE); }

static void fb_scalar(fbo *t, int id, int size, uint64_t bits)
{
    fbo_field *f = &t->f[t->nf++];
    f->id = id;
    f->size = size;
    f->bits = bits;
}
__attribute__((unused)) static void fb_i8(fbo *t, int id, int v) { fb_scalar(t, id, 1, (uint8_t)v); }
__attribute__((unused)) static void fb_i32(fbo *t, int id, int32_t v) { fb_scalar(t, id, 4, (uint32_t)v); }
__attribute__((unused)) static void fb_u64(fbo *t, int id, uint64_t v) { fb_scalar(t, id, 8, v); }
__attribute__((unused)) static void fb_f32(fbo *t, int id, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    fb_scalar(t, id, 4, u);
}
static void fb_ref(fbo *t, int id, fbo *child)
{
    fbo_field *f = &t->f[t->nf++];
    f->id = id;
    f->size = 0;
    f->ref = child;
}

static fbo *fb_bytes(const void *p, int elsize, int len, int nul)
{
    fbo *o = fb_new(FBK_BYTES);
    o->bytes = malloc((size_t)elsize * len + 1);
    if (len) memcpy(o->bytes, p, (size_t)elsize * len);
    o->elsize = elsize;
    o->len = len;
    o->nul = nul;
    return o;
}
__attribute__((unused)) static fbo *fb_vi32(int n, const int32_t *v) { return fb_bytes(v, 4, n, 0); }
__attribute__((unused)) static fbo *fb_vi64(int n, const int64_t *v) { return fb_bytes(v, 8, n, 0); }
__attribute__((unused)) static fbo *fb_vf32(int n, const float *v) { return fb_bytes(v, 4, n, 0); }
__attribute__((unused)) static fbo *fb_vu8(int n, const void *v) { return fb_bytes(v, 1, n, 0); }
__attribute__((unused)) static fbo *fb_str(const char *s) { return fb_bytes(s, 1, (int)strlen(s), 1); }

static fbo *fb_vobj(int n, fbo **objs)
{
    fbo *o = fb_new(FBK_OBJS);
    o->objs = malloc(sizeof(fbo *) * (size_t)(n ? n : 1));
    if (n) memcpy(o->objs, objs, sizeof(fbo *) * (size_t)n);
    o->len = n;
    return o;
}

typedef struct {
    unsigned char *b;
    size_t n, cap;
} fb_buf;

static void fb_put(fb_buf *w, const void *p, size_t n)
{
    while (w->n + n > w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->b = realloc(w->b, w->cap);
    }
    if (p) memcpy(w->b + w->n, p, n);
    else memset(w->b + w->n, 0, n);
    w->n += n;
}
static void fb_put32(fb_buf *w, uint32_t v)
{
    unsigned char c[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    fb_put(w, c, 4);
}
static void fb_patch32(fb_buf *w, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++) w->b[at + i] = (unsigned char)(v >> 8 * i);
}
static void fb_align(fb_buf *w, size_t a)
{
    while (w->n % a) fb_put(w, NULL, 1);
}

/* Writes o; returns its position (table start, or vector length word). */
static size_t fb_write(fb_buf *w, fbo *o)
{
    if (o->kind == FBK_BYTES) {
        fb_align(w, o->elsize == 8 ? 8 : 4);
        if (o->elsize == 8 && w->n % 8 == 0) { fb_put(w, NULL, 4); }
        size_t pos = w->n;
        fb_put32(w, (uint32_t)o->len);
        fb_put(w, o->bytes, (size_t)o->elsize * o->len);
        if (o->nul) fb_put(w, NULL, 1);
        return pos;
    }
    if (o->kind == FBK_OBJS) {
        fb_align(w, 4);
        size_t pos = w->n;
        fb_put32(w, (uint32_t)o->len);
        fb_put(w, NULL, 4 * (size_t)o->len);
        for (int i = 0; i < o->len; i++) {
            size_t c = fb_write(w, o->objs[i]);
            size_t slot = pos + 4 + 4 * (size_t)i;
            fb_patch32(w, slot, (uint32_t)(c - slot));
        }
        return pos;
    }
    /* table: vtable, then the table, then its children */
    int maxid = -1;
    unsigned tsize = 4;
    unsigned off[16];
    for (int i = 0; i < o->nf; i++) {
        if (o->f[i].id > maxid) maxid = o->f[i].id;
        off[i] = tsize;
        tsize += o->f[i].size ? (unsigned)o->f[i].size : 4;
    }
    unsigned vtsize = 4 + 2 * (unsigned)(maxid + 1);
    fb_align(w, 2);
    size_t vt = w->n;
    fb_put(w, NULL, vtsize);
    w->b[vt] = (unsigned char)vtsize;
    w->b[vt + 1] = (unsigned char)(vtsize >> 8);
    w->b[vt + 2] = (unsigned char)tsize;
    w->b[vt + 3] = (unsigned char)(tsize >> 8);
    for (int i = 0; i < o->nf; i++) {
        w->b[vt + 4 + 2 * o->f[i].id] = (unsigned char)off[i];
        w->b[vt + 5 + 2 * o->f[i].id] = (unsigned char)(off[i] >> 8);
    }
    fb_align(w, 4);
    size_t pos = w->n;
    fb_put32(w, (uint32_t)(pos - vt));
    for (int i = 0; i < o->nf; i++) {
        if (o->f[i].size == 0) {
            fb_put32(w, 0);
            continue;
        }
        unsigned char c[8];
        for (int k = 0; k < 8; k++) c[k] = (unsigned char)(o->f[i].bits >> 8 * k);
        fb_put(w, c, (size_t)o->f[i].size);
    }
    for (int i = 0; i < o->nf; i++) {
        if (o->f[i].size) continue;
        size_t c = fb_write(w, o->f[i].ref);
        fb_patch32(w, pos + off[i], (uint32_t)(c - (pos + off[i])));
    }
    return pos;
}

/* ---- TFLite models ---- */

enum { TT_F32 = 0, TT_I32 = 2, TT_U8 = 3, TT_I64 = 4, TT_STRING = 5, TT_I8 = 9 };

typedef struct {
    fbo *tensors[256], *ops[128], *bufs[256], *codes[64];
    int  code_of[64];
    int  nt, nop, nbuf, ncode;
    int  in[8], out[8], nin, nout;
    int  version;
} tfl_model;

static void tm_init(tfl_model *m)
{
    memset(m, 0, sizeof *m);
    m->version = 3;
    m->bufs[m->nbuf++] = fb_table();    /* the empty sentinel */
}

/* A tensor; data NULL: activation.  nscale 0: not quantised; qdim for
 * per-channel scales. */
__attribute__((unused))
static int tm_tensor_q(tfl_model *m, const char *name, int type, int ndim, const int32_t *dims,
                       const void *data, size_t nbytes, int nscale, const float *scale,
                       const int64_t *zp, int qdim)
{
    fbo *t = fb_table();
    fb_ref(t, 0, fb_vi32(ndim, dims));
    fb_i8(t, 1, type);
    if (data) {
        fbo *b = fb_table();
        fb_ref(b, 0, fb_vu8((int)nbytes, data));
        fb_i32(t, 2, m->nbuf);
        m->bufs[m->nbuf++] = b;
    }
    if (name) fb_ref(t, 3, fb_str(name));
    if (nscale) {
        fbo *q = fb_table();
        fb_ref(q, 2, fb_vf32(nscale, scale));
        fb_ref(q, 3, fb_vi64(nscale, zp));
        if (qdim) fb_i32(q, 6, qdim);
        fb_ref(t, 4, q);
    }
    m->tensors[m->nt] = t;
    return m->nt++;
}

__attribute__((unused))
static int tm_tensor(tfl_model *m, const char *name, int type, int ndim, const int32_t *dims,
                     const void *data, size_t nbytes)
{
    return tm_tensor_q(m, name, type, ndim, dims, data, nbytes, 0, NULL, NULL, 0);
}

static int tm_code(tfl_model *m, int code, const char *custom)
{
    for (int i = 0; i < m->ncode; i++)
        if (m->code_of[i] == code && !custom) return i;
    fbo *c = fb_table();
    fb_i8(c, 0, code < 127 ? code : 127);
    if (custom) fb_ref(c, 1, fb_str(custom));
    fb_i32(c, 2, 1);
    fb_i32(c, 3, code);
    m->code_of[m->ncode] = code;
    m->codes[m->ncode] = c;
    return m->ncode++;
}

/* An operator; opts may be NULL (then opt_type is still written if > 0). */
__attribute__((unused))
static fbo *tm_op(tfl_model *m, int code, const char *custom, int nin, const int32_t *in, int nout,
                  const int32_t *out, int opt_type, fbo *opts)
{
    fbo *o = fb_table();
    fb_i32(o, 0, tm_code(m, code, custom));
    fb_ref(o, 1, fb_vi32(nin, in));
    fb_ref(o, 2, fb_vi32(nout, out));
    if (opt_type) fb_i8(o, 3, opt_type);
    if (opts) fb_ref(o, 4, opts);
    m->ops[m->nop++] = o;
    return o;
}

__attribute__((unused))
static unsigned char *tm_finish(tfl_model *m, size_t *n)
{
    fbo *sg = fb_table();
    fb_ref(sg, 0, fb_vobj(m->nt, m->tensors));
    fb_ref(sg, 1, fb_vi32(m->nin, m->in));
    fb_ref(sg, 2, fb_vi32(m->nout, m->out));
    fb_ref(sg, 3, fb_vobj(m->nop, m->ops));
    fb_ref(sg, 4, fb_str("main"));
    fbo *model = fb_table();
    fb_i32(model, 0, m->version);
    fb_ref(model, 1, fb_vobj(m->ncode, m->codes));
    fb_ref(model, 2, fb_vobj(1, &sg));
    fb_ref(model, 3, fb_str("test model"));
    fb_ref(model, 4, fb_vobj(m->nbuf, m->bufs));
    fb_buf w = { 0 };
    fb_put32(&w, 0);
    fb_put(&w, "TFL3", 4);
    size_t root = fb_write(&w, model);
    fb_patch32(&w, 0, (uint32_t)root);
    fb_free_all();
    *n = w.n;
    return w.b;
}

#endif
