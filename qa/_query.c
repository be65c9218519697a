/* BM25 top-k over term-major postings: rank-bm25's sums to the last bit, with MaxScore pruning.
 *
 * A passage's score is the sum of its query terms' contributions (impact * weight) added one after
 * the other in QUERY ORDER from 0.0, as rank-bm25 adds term after term: any other order can change
 * the last bits. Pruning only decides which passages get that exact sum:
 *
 * - Terms are sorted by their largest contribution (upper bound). Once the k best so far are known,
 *   the terms whose bounds add up to at most the k-th best score are "non-essential": a passage that
 *   has only those cannot enter, so only the postings of the other, essential terms are walked.
 * - Passages are taken in windows of consecutive ids (WINDOW by default). The essential terms'
 *   postings in the window are summed into a small accumulator (in query order, so with every term
 *   essential the sums are already the exact scores). Non-essential terms are summed in too while
 *   that is cheaper than looking them up passage by passage; the rest are looked up (binary search)
 *   only for passages whose bound can still reach the k-th best, and those that still can are
 *   scored exactly.
 * - A passage is skipped only when its bound plus a slack far above any rounding error is at most the
 *   k-th best score, so a passage tied with the k-th best is never skipped; the k best are kept by
 *   (score desc, id asc), so the cut at the k-th place takes the lowest ids among ties.
 *
 * No global state: every buffer is allocated per call, and the search runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Slack on score bounds, relative to the sum of the terms' largest |contribution|: the rounding error
 * of a sum of n doubles is below n * 1.2e-16 of that. */
#define SLACK 1e-9

typedef struct {
    double score;
    int32_t doc;
} Entry;

/* ---- buffers ------------------------------------------------------------------------------------- */

static char kind_of(const char *format) {
    if (format == NULL) return 'B';
    while (*format == '<' || *format == '=' || *format == '@' || *format == '|') format++;
    return format[1] == '\0' ? format[0] : '\0';
}

/* A read-only, C-contiguous, one-dimensional view of `obj` whose items are `itemsize` bytes of one of
 * the format characters in `kinds`; sets a TypeError naming `name` otherwise. */
static int get_view(PyObject *obj, Py_buffer *view, const char *kinds, Py_ssize_t itemsize, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    char kind = kind_of(view->format);
    if (view->ndim > 1 || view->itemsize != itemsize || kind == '\0' || strchr(kinds, kind) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous 1-d array of %zd-byte items of kind '%s', got '%s'",
                     name, itemsize, kinds, view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void release(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++)
        if (views[i].obj != NULL) PyBuffer_Release(&views[i]);
}

/* Term ids of a Python sequence, each checked against the offsets; NULL with an exception set on error. */
static int64_t *term_ids(PyObject *terms, const int64_t *offsets, Py_ssize_t n_offsets, Py_ssize_t n_postings,
                         Py_ssize_t *n_out) {
    PyObject *seq = PySequence_Fast(terms, "terms must be a sequence of term ids");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int64_t *ids = PyMem_Malloc((n ? n : 1) * sizeof(int64_t));
    if (ids == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long long t = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (t == -1 && PyErr_Occurred()) goto fail;
        if (t < 0 || t + 1 >= n_offsets) {
            PyErr_Format(PyExc_IndexError, "term id %lld out of range (%zd terms)", t, n_offsets - 1);
            goto fail;
        }
        if (offsets[t] < 0 || offsets[t] > offsets[t + 1] || offsets[t + 1] > n_postings) {
            PyErr_Format(PyExc_ValueError, "offsets of term %lld are outside the postings", t);
            goto fail;
        }
        ids[i] = t;
    }
    Py_DECREF(seq);
    *n_out = n;
    return ids;
fail:
    Py_DECREF(seq);
    PyMem_Free(ids);
    return NULL;
}

/* ---- the k best, worst at the root --------------------------------------------------------------- */

static inline int worse(const Entry *a, const Entry *b) {
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static void sift_down(Entry *heap, Py_ssize_t n, Py_ssize_t i) {
    for (;;) {
        Py_ssize_t l = 2 * i + 1, w = i;
        if (l < n && worse(&heap[l], &heap[w])) w = l;
        if (l + 1 < n && worse(&heap[l + 1], &heap[w])) w = l + 1;
        if (w == i) return;
        Entry tmp = heap[i];
        heap[i] = heap[w];
        heap[w] = tmp;
        i = w;
    }
}

static void sift_up(Entry *heap, Py_ssize_t i) {
    while (i > 0) {
        Py_ssize_t parent = (i - 1) / 2;
        if (!worse(&heap[i], &heap[parent])) return;
        Entry tmp = heap[i];
        heap[i] = heap[parent];
        heap[parent] = tmp;
        i = parent;
    }
}

static int best_first(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

/* First position in [lo, hi) whose passage is >= d (postings sorted by passage): galloping, then binary. */
static inline int64_t seek(const int32_t *docs, int64_t lo, int64_t hi, int64_t d) {
    if (lo >= hi || docs[lo] >= d) return lo;
    int64_t below = lo, step = 1, probe = lo + 1;
    while (probe < hi && docs[probe] < d) {
        below = probe;
        step <<= 1;
        probe = below + step;
    }
    if (probe > hi) probe = hi;
    lo = below + 1;
    while (lo < probe) {
        int64_t mid = lo + (probe - lo) / 2;
        if (docs[mid] < d) lo = mid + 1;
        else probe = mid;
    }
    return lo;
}

/* ---- the search ---------------------------------------------------------------------------------- */

/* Passages per window: its accumulator (32 KB of doubles) stays in the first-level cache. */
#define WINDOW 4096
/* A look-up of one passage in a term's postings costs about as much as summing this many postings
 * (measured at 1M passages: 8 to 64 do equally well, 2 and "never look up" are slower). */
#define PROBE_COST 32

typedef struct {
    const int32_t *docs;
    const double *impacts;
    Py_ssize_t n;       /* terms, sorted by upper bound ascending (ties in query order) */
    int64_t *pos, *end; /* each term's cursor in the postings, and where its postings end */
    int64_t *lo, *hi;   /* each term's postings inside the current window (lo < 0: not looked up yet) */
    double *weight;
    double *ub;         /* the term's largest contribution, at least 0 */
    double *prefix;     /* prefix[j]: the sum of ub[0..j) */
    double *density;    /* postings per passage of the term's range of passages */
    double *contrib;    /* a probed term's contribution to the passage in stamp */
    int32_t *stamp;
    int *by_query;      /* sorted index of each query position (terms without postings left out) */
    char *accumulated;  /* is the term summed into the window's accumulator (else probed per passage) */
    double slack;       /* far above the rounding error of any sum of these contributions */
    Py_ssize_t window;  /* passages per window */
    double *acc;        /* the window's partial sums, zero outside a window's processing */
    unsigned char *mark;
    int32_t *touched;
    const int32_t *chunk_report; /* NULL: every passage may answer */
    Py_ssize_t n_chunk_report;
    const unsigned char *allowed;
    Py_ssize_t n_allowed;
    Entry *heap;
    Py_ssize_t k, size;
    int bad_doc;        /* a passage outside chunk_report, or its report outside allowed */
} Search;

static int allowed_doc(Search *s, int32_t d) {
    if (s->chunk_report == NULL) return 1;
    if (d < 0 || d >= s->n_chunk_report || s->chunk_report[d] < 0 || s->chunk_report[d] >= s->n_allowed) {
        s->bad_doc = 1;
        return 0;
    }
    return s->allowed[s->chunk_report[d]] != 0;
}

/* Position of passage d in docs[lo, hi), or -1. */
static inline int64_t find(const int32_t *docs, int64_t lo, int64_t hi, int32_t d) {
    if (lo >= hi) return -1;
    const int32_t *at = docs + lo;
    for (int64_t len = hi - lo; len > 1; len -= len / 2) at = at[len / 2] < d ? at + len / 2 : at;
    at += *at < d;
    return at < docs + hi && *at == d ? at - docs : -1;
}

/* The window's postings of term j, found by galloping from its cursor. */
static void window_range(Search *s, Py_ssize_t j, int32_t base, int64_t wend) {
    s->lo[j] = seek(s->docs, s->pos[j], s->end[j], base);
    s->hi[j] = s->pos[j] = seek(s->docs, s->lo[j], s->end[j], wend);
}

/* Passage d of window [base, wend), whose accumulated terms sum to a: probed terms are looked up,
 * largest bound first, while d can still reach theta; then d's exact score, summed in query order.
 * 0: d cannot enter the k best. */
static int rescore(Search *s, int32_t d, int32_t base, int64_t wend, double a, double probe_ub, double theta,
                   double *score) {
    const int32_t *docs = s->docs;
    double bound = a + probe_ub;
    for (Py_ssize_t j = s->n - 1; j >= 0; j--) {
        if (s->accumulated[j]) continue;
        if (s->lo[j] < 0) window_range(s, j, base, wend);
        int64_t p = find(docs, s->lo[j], s->hi[j], d);
        bound -= s->ub[j];
        if (p >= 0) {
            s->contrib[j] = s->impacts[p] * s->weight[j];
            s->stamp[j] = d;
            bound += s->contrib[j];
        }
        if (bound + s->slack <= theta) return 0;
    }
    double sum = 0.0;
    for (Py_ssize_t i = 0; i < s->n; i++) {
        Py_ssize_t j = s->by_query[i];
        if (s->accumulated[j]) {
            int64_t p = find(docs, s->lo[j], s->hi[j], d);
            if (p >= 0) sum += s->impacts[p] * s->weight[j];
        } else if (s->stamp[j] == d) {
            sum += s->contrib[j];
        }
    }
    *score = sum;
    return 1;
}

/* Offer (score, d) to the k best; 1 when it entered. */
static int offer(Search *s, double score, int32_t d) {
    Entry entry = {score, d};
    if (s->size < s->k) {
        if (!(score > 0.0)) return 0;
        s->heap[s->size] = entry;
        sift_up(s->heap, s->size++);
        return 1;
    }
    if (!worse(&s->heap[0], &entry)) return 0;
    s->heap[0] = entry;
    sift_down(s->heap, s->size, 0);
    return 1;
}

/* Touched passages of the window whose bound (partial sum + upper bounds of the terms not summed)
 * can still reach theta. */
static Py_ssize_t candidates(Search *s, Py_ssize_t nt, double rest, double theta) {
    Py_ssize_t c = 0;
    for (Py_ssize_t t = 0; t < nt; t++) c += s->acc[s->touched[t]] + rest + s->slack > theta;
    return c;
}

static void run(Search *s) {
    const int32_t *docs = s->docs;
    Py_ssize_t n = s->n, ne = 0; /* terms [0, ne) are non-essential: on their own they cannot reach theta */
    double theta = 0.0;          /* the k-th best score once there are k; below it nothing can enter */
    for (;;) {
        int32_t base = INT32_MAX;
        for (Py_ssize_t j = ne; j < n; j++)
            if (s->pos[j] < s->end[j] && docs[s->pos[j]] < base) base = docs[s->pos[j]];
        if (base == INT32_MAX) break;
        int64_t wend = (int64_t)base + s->window;
        int exact = ne == 0; /* every term summed in query order: the sums are the scores */
        for (Py_ssize_t j = 0; j < n; j++) {
            s->lo[j] = -1;
            s->accumulated[j] = j >= ne;
        }
        Py_ssize_t nt = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t j = s->by_query[i];
            if (!s->accumulated[j]) continue;
            window_range(s, j, base, wend);
            const double w = s->weight[j];
            for (int64_t p = s->lo[j]; p < s->hi[j]; p++) {
                int32_t off = docs[p] - base;
                s->touched[nt] = off;
                nt += !s->mark[off];
                s->mark[off] = 1;
                s->acc[off] += s->impacts[p] * w;
            }
        }
        /* Non-essential terms, largest bound first: summed into the touched passages while that is
         * cheaper than looking them up for every passage that may still reach theta. */
        Py_ssize_t probed = ne;
        while (probed > 0) {
            Py_ssize_t c = candidates(s, nt, s->prefix[probed], theta), j = probed - 1;
            if (c == 0) break;
            window_range(s, j, base, wend);
            if (s->hi[j] - s->lo[j] > PROBE_COST * c) break;
            const double w = s->weight[j];
            for (int64_t p = s->lo[j]; p < s->hi[j]; p++) {
                int32_t off = docs[p] - base;
                s->acc[off] += s->impacts[p] * w * s->mark[off];
            }
            s->accumulated[j] = 1;
            probed = j;
        }
        double rest = s->prefix[probed];
        for (Py_ssize_t t = 0; t < nt; t++) {
            int32_t off = s->touched[t], d = base + off;
            double a = s->acc[off], score;
            s->acc[off] = 0.0;
            s->mark[off] = 0;
            if (a + rest + s->slack <= theta || !allowed_doc(s, d)) continue;
            if (exact) score = a;
            else if (!rescore(s, d, base, wend, a, rest, theta, &score)) continue;
            if (offer(s, score, d) && s->size == s->k) {
                theta = s->heap[0].score;
                while (ne < n && s->prefix[ne + 1] + s->slack <= theta) ne++;
            }
        }
    }
}

static PyObject *top_k(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"offsets", "doc_ids", "impacts", "terms", "weights", "bounds", "k",
                             "chunk_report", "allowed_reports", "window", NULL};
    PyObject *o_offsets, *o_docs, *o_impacts, *o_terms, *o_weights, *o_bounds, *o_report = Py_None,
             *o_allowed = Py_None;
    Py_ssize_t k, window = WINDOW;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOn|OOn:top_k", kwlist, &o_offsets, &o_docs, &o_impacts,
                                     &o_terms, &o_weights, &o_bounds, &k, &o_report, &o_allowed, &window))
        return NULL;
    if (window < 1 || window > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "window must be 1 to 2**24 passages");
        return NULL;
    }
    if ((o_report == Py_None) != (o_allowed == Py_None)) {
        PyErr_SetString(PyExc_TypeError, "chunk_report and allowed_reports go together");
        return NULL;
    }
    Py_buffer v[5] = {{0}};
    PyObject *result = NULL, *w_seq = NULL, *b_seq = NULL;
    int64_t *ids = NULL;
    void *arena = NULL, *scratch = NULL;
    Search s = {0};
    s.window = window;
    Py_ssize_t n = 0;
    if (get_view(o_offsets, &v[0], "qln", 8, "offsets") < 0 || get_view(o_docs, &v[1], "il", 4, "doc_ids") < 0 ||
        get_view(o_impacts, &v[2], "d", 8, "impacts") < 0)
        goto done;
    if (o_report != Py_None &&
        (get_view(o_report, &v[3], "il", 4, "chunk_report") < 0 ||
         get_view(o_allowed, &v[4], "?bB", 1, "allowed_reports") < 0))
        goto done;
    Py_ssize_t n_postings = v[1].len / 4;
    if (v[2].len / 8 != n_postings) {
        PyErr_SetString(PyExc_ValueError, "doc_ids and impacts differ in length");
        goto done;
    }
    const int64_t *offsets = v[0].buf;
    ids = term_ids(o_terms, offsets, v[0].len / 8, n_postings, &n);
    if (ids == NULL) goto done;
    w_seq = o_weights == Py_None ? NULL : PySequence_Fast(o_weights, "weights must be a sequence or None");
    b_seq = PySequence_Fast(o_bounds, "bounds must be a sequence of (largest impact, largest |impact|)");
    if ((o_weights != Py_None && w_seq == NULL) || b_seq == NULL) goto done;
    if ((w_seq && PySequence_Fast_GET_SIZE(w_seq) != n) || PySequence_Fast_GET_SIZE(b_seq) != n) {
        PyErr_SetString(PyExc_ValueError, "terms, weights and bounds differ in length");
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) total += offsets[ids[i] + 1] - offsets[ids[i]];
    s.k = k < total ? k : total;
    if (s.k < 0) s.k = 0;
    /* one block: int64/double arrays of n (prefix n + 1), then the int32/int ones */
    arena = PyMem_Calloc(n + 1, 9 * 8 + 4 + 4 + 1);
    s.heap = PyMem_Calloc(s.k + 1, sizeof(Entry));
    scratch = PyMem_Calloc(s.window + 1, sizeof(double) + sizeof(int32_t) + 1);
    if (arena == NULL || s.heap == NULL || scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t stride = n + 1;
    s.pos = (int64_t *)arena;
    s.end = s.pos + stride;
    s.lo = s.end + stride;
    s.hi = s.lo + stride;
    s.weight = (double *)(s.hi + stride);
    s.ub = s.weight + stride;
    s.prefix = s.ub + stride;
    s.density = s.prefix + stride;
    s.contrib = s.density + stride;
    s.stamp = (int32_t *)(s.contrib + stride);
    s.by_query = (int *)(s.stamp + stride);
    s.accumulated = (char *)(s.by_query + stride);
    s.acc = (double *)scratch;
    s.touched = (int32_t *)(s.acc + s.window);
    s.mark = (unsigned char *)(s.touched + s.window + 1); /* touched[window]: the branch-free append's spare */
    double magnitude = 0.0;
    Py_ssize_t m = 0; /* terms with postings and a non-zero weight, in query order; the others add nothing */
    for (Py_ssize_t i = 0; i < n; i++) {
        double w = w_seq ? PyFloat_AsDouble(PySequence_Fast_GET_ITEM(w_seq, i)) : 1.0;
        double hi, absmax;
        if (w == -1.0 && PyErr_Occurred()) goto done;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(b_seq, i), "dd;a bound is (largest impact, largest |impact|)",
                              &hi, &absmax))
            goto done;
        if (!(w >= 0.0) || isinf(w)) {
            PyErr_SetString(PyExc_ValueError, "weights must be finite and non-negative");
            goto done;
        }
        if (offsets[ids[i]] == offsets[ids[i] + 1] || w == 0.0) continue;
        double ub = hi * w > 0.0 ? hi * w : 0.0;
        Py_ssize_t j = m++; /* insertion by upper bound, ascending, stable */
        for (; j > 0 && s.ub[j - 1] > ub; j--) {
            s.pos[j] = s.pos[j - 1];
            s.end[j] = s.end[j - 1];
            s.weight[j] = s.weight[j - 1];
            s.ub[j] = s.ub[j - 1];
            s.by_query[j] = s.by_query[j - 1];
        }
        s.pos[j] = offsets[ids[i]];
        s.end[j] = offsets[ids[i] + 1];
        s.weight[j] = w;
        s.ub[j] = ub;
        s.by_query[j] = (int)(m - 1);
        magnitude += absmax * w;
    }
    s.n = m;
    const int32_t *docs = v[1].buf;
    int *sorted_at = (int *)s.contrib; /* query position -> sorted index, before contrib is used */
    for (Py_ssize_t j = 0; j < m; j++) {
        s.prefix[j + 1] = s.prefix[j] + s.ub[j];
        s.density[j] = (double)(s.end[j] - s.pos[j]) / ((double)docs[s.end[j] - 1] - docs[s.pos[j]] + 1.0);
        s.stamp[j] = -1;
        sorted_at[s.by_query[j]] = (int)j;
    }
    for (Py_ssize_t i = 0; i < m; i++) s.by_query[i] = sorted_at[i];
    s.slack = SLACK * magnitude;
    s.docs = v[1].buf;
    s.impacts = v[2].buf;
    if (o_report != Py_None) {
        s.chunk_report = v[3].buf;
        s.n_chunk_report = v[3].len / 4;
        s.allowed = v[4].buf;
        s.n_allowed = v[4].len;
    }
    if (s.k > 0 && s.n > 0) {
        Py_BEGIN_ALLOW_THREADS
        run(&s);
        qsort(s.heap, s.size, sizeof(Entry), best_first);
        Py_END_ALLOW_THREADS
    }
    if (s.bad_doc) {
        PyErr_SetString(PyExc_ValueError,
                        "a passage id is outside chunk_report, or its report outside allowed_reports");
        goto done;
    }
    PyObject *out_ids = PyByteArray_FromStringAndSize(NULL, s.size * 4);
    PyObject *out_scores = PyByteArray_FromStringAndSize(NULL, s.size * 8);
    if (out_ids && out_scores) {
        int32_t *pi = (int32_t *)PyByteArray_AS_STRING(out_ids);
        double *ps = (double *)PyByteArray_AS_STRING(out_scores);
        for (Py_ssize_t i = 0; i < s.size; i++) {
            pi[i] = s.heap[i].doc;
            memcpy(&ps[i], &s.heap[i].score, sizeof(double));
        }
        result = PyTuple_Pack(2, out_ids, out_scores);
    }
    Py_XDECREF(out_ids);
    Py_XDECREF(out_scores);
done:
    release(v, 5);
    Py_XDECREF(w_seq);
    Py_XDECREF(b_seq);
    PyMem_Free(ids);
    PyMem_Free(arena);
    PyMem_Free(scratch);
    PyMem_Free(s.heap);
    return result;
}

static PyObject *term_bounds(PyObject *self, PyObject *args) {
    PyObject *o_offsets, *o_impacts, *o_terms;
    if (!PyArg_ParseTuple(args, "OOO:term_bounds", &o_offsets, &o_impacts, &o_terms)) return NULL;
    Py_buffer v[2] = {{0}};
    PyObject *result = NULL;
    int64_t *ids = NULL;
    double *hi = NULL, *absmax = NULL;
    Py_ssize_t n = 0;
    if (get_view(o_offsets, &v[0], "qln", 8, "offsets") < 0 || get_view(o_impacts, &v[1], "d", 8, "impacts") < 0)
        goto done;
    const int64_t *offsets = v[0].buf;
    const double *impacts = v[1].buf;
    ids = term_ids(o_terms, offsets, v[0].len / 8, v[1].len / 8, &n);
    if (ids == NULL) goto done;
    hi = PyMem_Calloc(n + 1, sizeof(double));
    absmax = PyMem_Calloc(n + 1, sizeof(double));
    if (!hi || !absmax) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        double top = -INFINITY, low = INFINITY;
        for (int64_t p = offsets[ids[i]]; p < offsets[ids[i] + 1]; p++) {
            double x = impacts[p];
            top = x > top ? x : top;
            low = x < low ? x : low;
        }
        hi[i] = top == -INFINITY ? 0.0 : top;
        absmax[i] = top == -INFINITY ? 0.0 : fmax(fabs(top), fabs(low));
    }
    Py_END_ALLOW_THREADS
    result = PyList_New(n);
    for (Py_ssize_t i = 0; result && i < n; i++) {
        PyObject *pair = Py_BuildValue("(dd)", hi[i], absmax[i]);
        if (pair == NULL) Py_CLEAR(result);
        else PyList_SET_ITEM(result, i, pair);
    }
done:
    release(v, 2);
    PyMem_Free(ids);
    PyMem_Free(hi);
    PyMem_Free(absmax);
    return result;
}

static PyMethodDef methods[] = {
    {"top_k", (PyCFunction)(void (*)(void))top_k, METH_VARARGS | METH_KEYWORDS,
     "top_k(offsets, doc_ids, impacts, terms, weights, bounds, k, chunk_report=None, allowed_reports=None,\n"
     "      window=4096)\n"
     "-> (bytearray of int32 passage ids, bytearray of float64 scores): the k best passages with a positive\n"
     "score, best first, ties by lower id; scores summed in query order. bounds[i] is term_bounds' pair for\n"
     "terms[i]. With chunk_report (report of each passage) and allowed_reports (one flag per report), only\n"
     "passages of allowed reports."},
    {"term_bounds", term_bounds, METH_VARARGS,
     "term_bounds(offsets, impacts, terms) -> [(largest impact, largest |impact|) of each term]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_query", "BM25 top-k, exact and pruned.", -1, methods};

PyMODINIT_FUNC PyInit__query(void) { return PyModule_Create(&module); }
