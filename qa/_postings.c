/* The index build's inner loops: token strings -> term ids, document frequencies, and term-major BM25
 * postings by a counting sort. Called from qa/bm25.py, which computes idf in numpy between the steps.
 *
 * Impacts are evaluated in exactly the order of the numpy expression they replace (and setup.py forbids
 * FMA contraction), so they are bit-identical to it and the scores stay rank-bm25's:
 *     idf[t] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)))
 * Outputs of unknown size come back as Block objects (malloc'd memory exposing the buffer protocol) that
 * np.frombuffer wraps without a copy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Block: an owned memory block numpy can wrap ------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    char *data;
    Py_ssize_t size;
} Block;

static void block_dealloc(Block *self) {
    free(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int block_getbuffer(Block *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->size, 0, flags);
}

static PyBufferProcs block_as_buffer = {(getbufferproc)block_getbuffer, NULL};

static PyTypeObject BlockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "qa._postings.Block",
    .tp_basicsize = sizeof(Block),
    .tp_dealloc = (destructor)block_dealloc,
    .tp_as_buffer = &block_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Memory owned by the extension, exposed as a writable byte buffer (np.frombuffer wraps it).",
};

/* A growable array. With glibc, realloc of a large block remaps its pages (mremap) instead of copying
 * them, so growing does not double the resident memory, and unused capacity is never touched. */
typedef struct {
    char *data;
    size_t len, cap, item;
} Vec;

static int vec_reserve(Vec *v, size_t need) {
    if (need <= v->cap)
        return 0;
    size_t cap = v->cap ? v->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = realloc(v->data, cap * v->item);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = p;
    v->cap = cap;
    return 0;
}

/* Hands the vector's memory, trimmed to its length, to a new Block (the vector is emptied either way). */
static PyObject *vec_to_block(Vec *v) {
    size_t size = v->len * v->item;
    char *p = realloc(v->data, size ? size : 1);
    if (p == NULL)
        p = v->data;
    v->data = NULL;
    v->len = v->cap = 0;
    Block *block = PyObject_New(Block, &BlockType);
    if (block == NULL) {
        free(p);
        return NULL;
    }
    block->data = p;
    block->size = (Py_ssize_t)size;
    return (PyObject *)block;
}

/* ---- term_ids --------------------------------------------------------------------------------------- */

/* The vocabulary: terms (strong references, in id order) found through two open-addressing tables of
 * power-of-two size, kept at most half full. `by_object` maps the address of each term's first-seen str
 * object to its id: when passages share str objects (interned or deduplicated tokens) a lookup is one
 * probe without reading the token. `by_hash` maps the str hash to ids and finds equal strs that are other
 * objects. When most tokens are distinct objects (token lists decoded from JSON), by_object only costs a
 * cache miss per token, so it is no longer consulted once it has missed more often than it has hit. */
typedef struct {
    PyObject *key;
    int32_t id;
} ObjectSlot;

typedef struct {
    Py_hash_t hash;
    int32_t id; /* -1: empty */
} HashSlot;

typedef struct {
    PyObject **terms;
    Py_ssize_t n, cap; /* terms; slots per table (a power of two) */
    ObjectSlot *by_object;
    HashSlot *by_hash;
    Py_ssize_t object_hits, object_misses; /* while by_object is consulted; it stops being when it mostly misses */
} Vocab;

static inline int consult_objects(const Vocab *v) { return v->object_misses <= v->object_hits + 4096; }

static inline size_t object_slot(const PyObject *key, Py_ssize_t cap) {
    return (size_t)(((uintptr_t)key >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 20) & (size_t)(cap - 1);
}

static void vocab_free(Vocab *v) {
    for (Py_ssize_t i = 0; i < v->n; i++)
        Py_DECREF(v->terms[i]);
    free(v->terms);
    free(v->by_object);
    free(v->by_hash);
}

static void place_object(ObjectSlot *table, Py_ssize_t cap, PyObject *key, int32_t id) {
    size_t mask = (size_t)cap - 1, i = object_slot(key, cap);
    while (table[i].key != NULL)
        i = (i + 1) & mask;
    table[i] = (ObjectSlot){key, id};
}

static void place_hash(HashSlot *table, Py_ssize_t cap, Py_hash_t hash, int32_t id) {
    size_t mask = (size_t)cap - 1, i = (size_t)hash & mask;
    while (table[i].id >= 0)
        i = (i + 1) & mask;
    table[i] = (HashSlot){hash, id};
}

/* Doubles both tables (or makes the first ones) and moves every entry over. */
static int vocab_grow(Vocab *v) {
    Py_ssize_t cap = v->cap ? 2 * v->cap : 1 << 12;
    ObjectSlot *by_object = calloc(cap, sizeof(ObjectSlot));
    HashSlot *by_hash = malloc(cap * sizeof(HashSlot));
    PyObject **terms = realloc(v->terms, (cap / 2) * sizeof(PyObject *));
    if (terms != NULL)
        v->terms = terms;
    if (by_object == NULL || by_hash == NULL || terms == NULL) {
        free(by_object);
        free(by_hash);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < cap; i++)
        by_hash[i].id = -1;
    for (Py_ssize_t i = 0; i < v->cap; i++) {
        if (v->by_object[i].key != NULL)
            place_object(by_object, cap, v->by_object[i].key, v->by_object[i].id);
        if (v->by_hash[i].id >= 0)
            place_hash(by_hash, cap, v->by_hash[i].hash, v->by_hash[i].id);
    }
    free(v->by_object);
    free(v->by_hash);
    v->by_object = by_object;
    v->by_hash = by_hash;
    v->cap = cap;
    return 0;
}

/* The id of token `tok`, a new one (the next) when it was not seen before; -1 with an exception set. */
static int32_t vocab_id(Vocab *v, PyObject *tok) {
    size_t mask = (size_t)v->cap - 1, i;
    if (consult_objects(v)) {
        for (i = object_slot(tok, v->cap); v->by_object[i].key != NULL; i = (i + 1) & mask) {
            if (v->by_object[i].key == tok) {
                v->object_hits++;
                return v->by_object[i].id;
            }
        }
        v->object_misses++;
    }
    if (!PyUnicode_Check(tok)) {
        PyErr_Format(PyExc_TypeError, "tokens must be str, not %.100s", Py_TYPE(tok)->tp_name);
        return -1;
    }
    Py_hash_t hash = PyObject_Hash(tok);
    if (hash == -1)
        return -1;
    for (i = (size_t)hash & mask; v->by_hash[i].id >= 0; i = (i + 1) & mask) {
        if (v->by_hash[i].hash == hash) {
            int eq = PyObject_RichCompareBool(v->terms[v->by_hash[i].id], tok, Py_EQ);
            if (eq < 0)
                return -1;
            if (eq)
                return v->by_hash[i].id;
        }
    }
    if (v->n >= INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**31 - 1 distinct terms");
        return -1;
    }
    if (2 * (v->n + 1) > v->cap && vocab_grow(v) < 0)
        return -1;
    int32_t id = (int32_t)v->n;
    v->terms[v->n++] = Py_NewRef(tok);
    place_object(v->by_object, v->cap, tok, id);
    place_hash(v->by_hash, v->cap, hash, id);
    return id;
}

static PyObject *vocab_to_list(Vocab *v) {
    PyObject *list = PyList_New(v->n);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < v->n; i++)
        PyList_SET_ITEM(list, i, Py_NewRef(v->terms[i]));
    return list;
}

static PyObject *term_ids(PyObject *self, PyObject *passages) {
    Vocab vocab = {NULL, 0, 0, NULL, NULL, 0, 0};
    Vec ids = {NULL, 0, 0, sizeof(int32_t)}, starts = {NULL, 0, 0, sizeof(int64_t)};
    PyObject *it = PyObject_GetIter(passages), *item, *terms = NULL, *ids_block = NULL, *starts_block = NULL;
    if (it == NULL || vocab_grow(&vocab) < 0 || vec_reserve(&starts, 1) < 0)
        goto fail;
    ((int64_t *)starts.data)[starts.len++] = 0;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *seq = PyUnicode_Check(item) ? NULL : PySequence_Fast(item, "a passage must be a sequence of str");
        if (seq == NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a passage must be a sequence of str, not one str");
        Py_DECREF(item);
        if (seq == NULL)
            goto fail;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        PyObject **toks = PySequence_Fast_ITEMS(seq);
        if (vec_reserve(&ids, ids.len + (size_t)n) < 0 || vec_reserve(&starts, starts.len + 1) < 0) {
            Py_DECREF(seq);
            goto fail;
        }
        int32_t *out = (int32_t *)ids.data + ids.len;
        if (consult_objects(&vocab)) /* the passage's cache misses overlap: 20% faster */
            for (Py_ssize_t i = 0; i < n; i++)
                __builtin_prefetch(&vocab.by_object[object_slot(toks[i], vocab.cap)]);
        for (Py_ssize_t i = 0; i < n; i++) {
            if ((out[i] = vocab_id(&vocab, toks[i])) < 0) {
                Py_DECREF(seq);
                goto fail;
            }
        }
        Py_DECREF(seq);
        ids.len += (size_t)n;
        ((int64_t *)starts.data)[starts.len++] = (int64_t)ids.len;
    }
    if (PyErr_Occurred())
        goto fail;
    if (starts.len - 1 > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**31 - 1 passages");
        goto fail;
    }
    Py_CLEAR(it);
    if ((terms = vocab_to_list(&vocab)) == NULL || (ids_block = vec_to_block(&ids)) == NULL ||
        (starts_block = vec_to_block(&starts)) == NULL)
        goto fail;
    vocab_free(&vocab);
    return Py_BuildValue("NNN", terms, ids_block, starts_block);
fail:
    Py_XDECREF(it);
    Py_XDECREF(terms);
    Py_XDECREF(ids_block);
    Py_XDECREF(starts_block);
    vocab_free(&vocab);
    free(ids.data);
    free(starts.data);
    return NULL;
}

/* ---- doc_freqs and fill ----------------------------------------------------------------------------- */

/* A C-contiguous 1-D buffer of `itemsize`-byte items of kind 'i' (signed integer) or 'f' (float). */
static int get_array(PyObject *obj, Py_buffer *view, const char *name, char kind, Py_ssize_t itemsize,
                     int writable) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    int ok = view->ndim == 1 && view->itemsize == itemsize && *f != '\0' && f[1] == '\0' &&
             (kind == 'f' ? *f == 'd' : strchr("bhilq", *f) != NULL);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous 1-D array of %s%d", name,
                     kind == 'f' ? "float" : "int", (int)(8 * itemsize));
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ids/starts as a passage-major token stream: checks that starts rise from 0 to len(ids). */
static int check_stream(Py_buffer *ids, Py_buffer *starts) {
    const int64_t *s = starts->buf;
    Py_ssize_t n_docs = starts->len / 8 - 1, n_ids = ids->len / 4;
    if (n_docs < 0 || s[0] != 0 || s[n_docs] != n_ids) {
        PyErr_SetString(PyExc_ValueError, "starts must run from 0 to len(ids)");
        return -1;
    }
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        if (s[d + 1] < s[d]) {
            PyErr_SetString(PyExc_ValueError, "starts must not decrease");
            return -1;
        }
    }
    if (n_docs > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**31 - 1 passages");
        return -1;
    }
    return 0;
}

static PyObject *doc_freqs(PyObject *self, PyObject *args) {
    PyObject *ids_obj, *starts_obj, *df_obj;
    if (!PyArg_ParseTuple(args, "OOO", &ids_obj, &starts_obj, &df_obj))
        return NULL;
    Py_buffer ids, starts, df;
    if (get_array(ids_obj, &ids, "ids", 'i', 4, 0) < 0)
        return NULL;
    if (get_array(starts_obj, &starts, "starts", 'i', 8, 0) < 0) {
        PyBuffer_Release(&ids);
        return NULL;
    }
    if (get_array(df_obj, &df, "df", 'i', 8, 1) < 0) {
        PyBuffer_Release(&ids);
        PyBuffer_Release(&starts);
        return NULL;
    }
    PyObject *result = NULL;
    if (check_stream(&ids, &starts) < 0)
        goto done;
    const int32_t *t = ids.buf;
    const int64_t *s = starts.buf;
    int64_t *out = df.buf;
    Py_ssize_t n_terms = df.len / 8, n_docs = starts.len / 8 - 1, n_ids = ids.len / 4;
    int32_t *last = malloc((n_terms ? n_terms : 1) * sizeof(int32_t));
    if (last == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_ids; i++)
        bad |= (uint32_t)t[i] >= (uint64_t)n_terms;
    if (!bad) {
        memset(out, 0, n_terms * sizeof(int64_t));
        for (Py_ssize_t i = 0; i < n_terms; i++)
            last[i] = -1;
        for (Py_ssize_t d = 0; d < n_docs; d++) {
            for (int64_t k = s[d]; k < s[d + 1]; k++) {
                int32_t term = t[k];
                if (last[term] != (int32_t)d) {
                    last[term] = (int32_t)d;
                    out[term]++;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS
    free(last);
    if (bad)
        PyErr_SetString(PyExc_ValueError, "a term id is outside 0 .. len(df) - 1");
    else
        result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ids);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&df);
    return result;
}

typedef struct {
    int32_t term, doc;
    double impact;
} Pair;

enum { BLOCK_PAIRS = 1 << 21, MAX_BUCKETS = 1024 };
enum { FILL_OK, FILL_BAD_TERM, FILL_BAD_OFFSETS, FILL_NO_MEMORY };

/* The postings, passage block after passage block. A block's (term, passage, impact) triples are made in
 * passage order, partitioned (stably) into at most MAX_BUCKETS ranges of terms, then copied into their
 * terms' slices range after range. Writing each triple straight into its term's slice would cost a cache
 * miss for nearly every pair of a rare term; this way the writes of a block go to a few hundred places at
 * a time (2x faster at 1M passages, for 2 * 16 bytes * BLOCK_PAIRS of buffers). */
static int fill_blocks(const int32_t *ids, const int64_t *starts, Py_ssize_t n_docs, Py_ssize_t n_terms,
                       const double *idf, const int64_t *offsets, int32_t *doc_ids, double *impacts, double k1,
                       double b, double avgdl, size_t block_pairs) {
    const double k1_plus_1 = k1 + 1, one_minus_b = 1 - b;
    size_t cap = (size_t)starts[n_docs] < block_pairs ? (size_t)starts[n_docs] : block_pairs;
    if (cap == 0)
        cap = 1;
    for (Py_ssize_t d = 0; d < n_docs; d++)
        if ((size_t)(starts[d + 1] - starts[d]) > cap)
            cap = (size_t)(starts[d + 1] - starts[d]);
    int shift = 0;
    while (((size_t)n_terms >> shift) >= MAX_BUCKETS)
        shift++;
    const size_t n_buckets = ((size_t)n_terms >> shift) + 1;
    Pair *made = malloc(cap * sizeof(Pair)), *sorted = malloc(cap * sizeof(Pair));
    size_t *bucket = malloc((n_buckets + 1) * sizeof(size_t));
    int32_t *count = calloc(n_terms + 1, sizeof(int32_t));
    int64_t *cursor = malloc((n_terms + 1) * sizeof(int64_t));
    int status = FILL_OK;
    if (made == NULL || sorted == NULL || bucket == NULL || count == NULL || cursor == NULL) {
        status = FILL_NO_MEMORY;
        goto done;
    }
    memcpy(cursor, offsets, n_terms * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < starts[n_docs]; i++) {
        if ((uint32_t)ids[i] >= (uint64_t)n_terms) {
            status = FILL_BAD_TERM;
            goto done;
        }
    }
    for (Py_ssize_t d = 0; d < n_docs;) {
        size_t n = 0;
        memset(bucket, 0, (n_buckets + 1) * sizeof(size_t));
        for (; d < n_docs && n + (size_t)(starts[d + 1] - starts[d]) <= cap; d++) {
            const int64_t lo = starts[d], hi = starts[d + 1];
            if (lo == hi)
                continue;
            const double norm = k1 * (one_minus_b + b * (double)(hi - lo) / avgdl);
            for (int64_t k = lo; k < hi; k++)
                count[ids[k]]++;
            for (int64_t k = lo; k < hi; k++) {
                const int32_t term = ids[k], c = count[term];
                if (c == 0)
                    continue;
                count[term] = 0;
                const double tf = (double)c;
                made[n++] = (Pair){term, (int32_t)d, idf[term] * (tf * k1_plus_1 / (tf + norm))};
                bucket[((size_t)term >> shift) + 1]++;
            }
        }
        for (size_t i = 1; i <= n_buckets; i++)
            bucket[i] += bucket[i - 1];
        for (size_t j = 0; j < n; j++)
            sorted[bucket[(size_t)made[j].term >> shift]++] = made[j];
        for (size_t j = 0; j < n; j++) {
            const Pair p = sorted[j];
            const int64_t pos = cursor[p.term]++;
            if (pos >= offsets[p.term + 1]) {
                status = FILL_BAD_OFFSETS;
                goto done;
            }
            doc_ids[pos] = p.doc;
            impacts[pos] = p.impact;
        }
    }
    for (Py_ssize_t t = 0; t < n_terms; t++)
        if (cursor[t] != offsets[t + 1])
            status = FILL_BAD_OFFSETS;
done:
    free(made);
    free(sorted);
    free(bucket);
    free(count);
    free(cursor);
    return status;
}

static PyObject *fill(PyObject *self, PyObject *args) {
    PyObject *objs[6];
    double k1, b, avgdl;
    Py_ssize_t block_pairs = BLOCK_PAIRS;
    if (!PyArg_ParseTuple(args, "OOOOOOddd|n", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5], &k1, &b,
                          &avgdl, &block_pairs))
        return NULL;
    if (block_pairs < 1) {
        PyErr_SetString(PyExc_ValueError, "block_pairs must be at least 1");
        return NULL;
    }
    static const char *names[6] = {"ids", "starts", "idf", "offsets", "doc_ids", "impacts"};
    static const char kinds[6] = {'i', 'i', 'f', 'i', 'i', 'f'};
    static const Py_ssize_t sizes[6] = {4, 8, 8, 8, 4, 8};
    Py_buffer v[6];
    int got = 0, status;
    PyObject *result = NULL;
    for (; got < 6; got++)
        if (get_array(objs[got], &v[got], names[got], kinds[got], sizes[got], got >= 4) < 0)
            goto done;
    if (check_stream(&v[0], &v[1]) < 0)
        goto done;
    const int64_t *offsets = v[3].buf;
    Py_ssize_t n_docs = v[1].len / 8 - 1, n_terms = v[2].len / 8, n_pairs = v[4].len / 4;
    if (v[3].len / 8 != n_terms + 1 || offsets[0] != 0 || offsets[n_terms] != n_pairs || v[5].len / 8 != n_pairs) {
        PyErr_SetString(PyExc_ValueError, "offsets must be len(idf) + 1 long, from 0 to len(doc_ids) == len(impacts)");
        goto done;
    }
    for (Py_ssize_t t = 0; t < n_terms; t++) {
        if (offsets[t + 1] < offsets[t]) {
            PyErr_SetString(PyExc_ValueError, "offsets must not decrease");
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    status = fill_blocks(v[0].buf, v[1].buf, n_docs, n_terms, v[2].buf, offsets, v[4].buf, v[5].buf, k1, b, avgdl,
                         (size_t)block_pairs);
    Py_END_ALLOW_THREADS
    if (status == FILL_BAD_TERM)
        PyErr_SetString(PyExc_ValueError, "a term id is outside 0 .. len(idf) - 1");
    else if (status == FILL_BAD_OFFSETS)
        PyErr_SetString(PyExc_ValueError, "offsets do not match the document frequencies of ids");
    else if (status == FILL_NO_MEMORY)
        PyErr_NoMemory();
    else
        result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"term_ids", term_ids, METH_O,
     "term_ids(passages) -> (terms, ids, starts)\n\n"
     "Term ids of an iterable of token sequences (str), numbered in first-seen order: terms (list of str),\n"
     "ids (Block of int32, passage after passage) and starts (Block of int64, len(passages) + 1 offsets)."},
    {"doc_freqs", doc_freqs, METH_VARARGS,
     "doc_freqs(ids, starts, df)\n\nFills df (int64, one per term) with the number of passages holding each term."},
    {"fill", fill, METH_VARARGS,
     "fill(ids, starts, idf, offsets, doc_ids, impacts, k1, b, avgdl[, block_pairs])\n\n"
     "Fills doc_ids (int32) and impacts (float64), term-major with passages ascending within a term, by a\n"
     "counting sort of each passage's term frequencies into the slots offsets gives each term, block_pairs\n"
     "(term, passage) pairs at a time."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_postings", "The index build's inner loops.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__postings(void) {
    if (PyType_Ready(&BlockType) < 0)
        return NULL;
    return PyModule_Create(&module);
}
