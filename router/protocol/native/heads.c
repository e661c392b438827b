/*
 * The router's per-head work in one C call each way (see router/protocol/native_heads.py).
 * Built by the set-up (make install), never on import.
 *
 * request(): the strict check of a client's request head (framing.check_request),
 * its framing decision, and the head the instance receives (the rewrite of
 * forwarding.request_headers written as fastproto.serialize_head writes it).
 * response(): the strict check of an instance's response head
 * (framing.check_response) and the client-facing head without its framing lines
 * (forwarding.response_headers, the first half of ClientConnection.send_response).
 *
 * request_from() and response_from() do the same on the head at the front of
 * a HeadReader's buffer (its size limits included) and take it off; relay()
 * goes one step further for a whole small response: the bytes for the client,
 * framed. Request ids come from Python (new_rid(), forwarding.new_request_id), and
 * access-log lines and Redis commands are made in Python (telemetry/).
 *
 * Each returns a ready object of a Python class handed over by setup(), or
 * None when the head is refused: the Python check then runs on the same head and
 * raises the precise error (refusals end the connection, so their cost does not
 * matter, and the error texts stay in one place). NotImplemented means "valid
 * or not, let Python decide": used for heads past this file's fixed capacities.
 * tests/router/test_native.py holds both answers to the Python implementation.
 *
 * No allocation per header: fields are (offset, length) pairs into the head on
 * the stack; only the Python objects returned are allocated.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <string.h>
#include <time.h>

/* More fields than this (or Connection tokens) go the Python way; the default
 * limit on request fields is 100, and real heads have a few dozen at most. */
#define MAX_FIELDS 256
#define MAX_TOKENS 32

typedef struct {
    const char *name;
    Py_ssize_t nlen;
    const char *value;   /* trimmed of OWS on both sides */
    Py_ssize_t vlen;
} field_t;

typedef struct {
    const char *p;
    Py_ssize_t len;
} span_t;

/*
 * Character classes of framing.py's regexes. They are not written here: setup()
 * receives them as 256-byte tables that fastproto computes from framing.py's own
 * compiled patterns (framing.char_tables), so the classes live in one place. Until
 * setup() runs they are all zero and every head is refused (left to Python).
 */
static unsigned char TCHAR[256];   /* token */
static unsigned char VCHAR[256];   /* visible or obs-text */
static unsigned char FVCHAR[256];  /* a field value byte: VCHAR, SP or HTAB */
static unsigned char HOSTCH[256];  /* reg-name of framing._HOST */
static unsigned char RIDCH[256];   /* a byte of framing._REQUEST_ID */
static unsigned char HEXCH[256];   /* [0-9A-Fa-f], whatever the locale */

static void init_tables(void)
{
    for (int c = 0; c < 256; c++)
        HEXCH[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static int copy_table(unsigned char *dst, PyObject *src)
{
    if (!PyBytes_Check(src) || PyBytes_GET_SIZE(src) != 256) {
        PyErr_SetString(PyExc_ValueError, "a character table is 256 bytes");
        return -1;
    }
    memcpy(dst, PyBytes_AS_STRING(src), 256);
    return 0;
}

/* bytes.lower() lowers ASCII only; tolower() would follow the locale. */
static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* s[0:n] lowered equals the lowercase literal lit (ASCII). */
static int eq_lower(const char *s, Py_ssize_t n, const char *lit, Py_ssize_t litlen)
{
    if (n != litlen)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

/* Two byte strings equal once both are lowered. */
static int eq_nocase(const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn)
{
    if (an != bn)
        return 0;
    for (Py_ssize_t i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

#define EQ(s, n, lit) eq_lower((s), (n), (lit), (Py_ssize_t)sizeof(lit) - 1)

/* --- field lines ------------------------------------------------------------ */

/*
 * Parse the CRLF-separated field lines of head[pos:n] (pos at a CRLF, or at n
 * when there are none) into out[]. The same language as _FIELD_RE joined by
 * CRLF: a token name, a colon, then bytes that are VCHAR, SP or HTAB only (so a
 * bare CR or LF, NUL or another control byte is refused), the value trimmed of
 * SP/HTAB. Returns the count, -1 when malformed, -2 past MAX_FIELDS.
 */
static Py_ssize_t parse_fields(const char *s, Py_ssize_t pos, Py_ssize_t n, field_t *out)
{
    Py_ssize_t count = 0;
    while (pos < n) {
        if (pos + 2 > n || s[pos] != '\r' || s[pos + 1] != '\n')
            return -1;
        pos += 2;
        Py_ssize_t start = pos;
        while (pos < n && TCHAR[(unsigned char)s[pos]])
            pos++;
        if (pos == start || pos >= n || s[pos] != ':')
            return -1;   /* empty name, space before the colon, obs-fold, no colon */
        Py_ssize_t nlen = pos - start;
        pos++;
        Py_ssize_t vstart = pos;
        while (pos < n && FVCHAR[(unsigned char)s[pos]])
            pos++;
        /* The line ends at CRLF (checked at the loop's top) or the head's end. */
        Py_ssize_t vend = pos;
        while (vstart < vend && (s[vstart] == ' ' || s[vstart] == '\t'))
            vstart++;
        while (vend > vstart && (s[vend - 1] == ' ' || s[vend - 1] == '\t'))
            vend--;
        if (count == MAX_FIELDS)
            return -2;
        out[count].name = s + start;
        out[count].nlen = nlen;
        out[count].value = s + vstart;
        out[count].vlen = vend - vstart;
        count++;
    }
    return count;
}

/* --- framing fields (framing._check_framing) --------------------------------- */

typedef struct {
    long long content_length;   /* -1: none */
    int chunked;
    int hosts;
    field_t *host;              /* the (last) Host field */
    int expect_continue;
    field_t *request_id;        /* the first sane X-Request-Id */
    span_t tokens[MAX_TOKENS];  /* Connection tokens, trimmed, case as sent */
    int ntokens;
} framing_t;

static int sane_request_id(const char *v, Py_ssize_t n)
{
    if (n < 20 || n > 200)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!RIDCH[(unsigned char)v[i]])
            return 0;
    return 1;
}

/* Split a Connection value on commas, trim SP/HTAB, keep the pieces. 0, or -2 when full. */
static int add_tokens(framing_t *fr, const char *v, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t start = i;
        while (i < n && v[i] != ',')
            i++;
        Py_ssize_t a = start, b = i;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (fr->ntokens == MAX_TOKENS)
            return -2;
        fr->tokens[fr->ntokens].p = v + a;
        fr->tokens[fr->ntokens].len = b - a;
        fr->ntokens++;
        if (i >= n)
            return 0;
        i++;   /* past the comma: "a," has an empty last piece, as in Python */
    }
}

static int has_token(const framing_t *fr, const char *name, Py_ssize_t n)
{
    for (int i = 0; i < fr->ntokens; i++)
        if (eq_nocase(fr->tokens[i].p, fr->tokens[i].len, name, n))
            return 1;
    return 0;
}

/* 1 when accepted, 0 refused, -2 past capacity. want_host: requests only. */
static int check_framing(field_t *f, Py_ssize_t count, framing_t *fr, int want_host)
{
    int te_seen = 0;
    memset(fr, 0, sizeof(*fr));
    fr->content_length = -1;
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *name = f[i].name, *v = f[i].value;
        Py_ssize_t nl = f[i].nlen, vl = f[i].vlen;
        if (EQ(name, nl, "host")) {
            if (want_host) {
                fr->hosts++;
                fr->host = &f[i];
            }
        } else if (EQ(name, nl, "content-length")) {
            /* [0-9]{1,18}: fits a long long, no sign, no list. */
            if (vl < 1 || vl > 18)
                return 0;
            long long length = 0;
            for (Py_ssize_t j = 0; j < vl; j++) {
                if (v[j] < '0' || v[j] > '9')
                    return 0;
                length = length * 10 + (v[j] - '0');
            }
            if (fr->content_length >= 0 && fr->content_length != length)
                return 0;   /* conflicting Content-Length */
            fr->content_length = length;
        } else if (EQ(name, nl, "transfer-encoding")) {
            if (te_seen || !EQ(v, vl, "chunked"))
                return 0;   /* repeated, or anything but a single chunked */
            te_seen = 1;
            fr->chunked = 1;
        } else if (EQ(name, nl, "connection")) {
            if (add_tokens(fr, v, vl) < 0)
                return -2;
        } else if (EQ(name, nl, "expect")) {
            if (EQ(v, vl, "100-continue"))
                fr->expect_continue = 1;
        } else if (EQ(name, nl, "x-request-id")) {
            if (!fr->request_id && sane_request_id(v, vl))
                fr->request_id = &f[i];
        }
    }
    if (fr->chunked && fr->content_length >= 0)
        return 0;   /* both Content-Length and Transfer-Encoding */
    if (want_host && fr->hosts != 1)
        return 0;   /* missing or repeated Host */
    return 1;
}

/* framing._HOST: reg-name or [IP-literal], then an optional :port of 0-5 digits. */
static int valid_host(const char *h, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (n > 0 && h[0] == '[') {
        i = 1;
        while (i < n && (HEXCH[(unsigned char)h[i]] || h[i] == ':' || h[i] == '.'))
            i++;
        if (i == 1 || i >= n || h[i] != ']')
            return 0;
        i++;
    } else {
        while (i < n && HOSTCH[(unsigned char)h[i]])
            i++;
        if (i == 0)
            return 0;
    }
    if (i == n)
        return 1;
    if (h[i] != ':')
        return 0;
    i++;
    Py_ssize_t digits = 0;
    while (i < n && h[i] >= '0' && h[i] <= '9') {
        i++;
        digits++;
    }
    return i == n && digits <= 5;
}

/* --- output ------------------------------------------------------------------- */

/* A bounds-checked writer into a bytes object sized for the worst case. */
typedef struct {
    char *p;
    char *end;
    int overflow;
} writer_t;

static void put(writer_t *w, const char *s, Py_ssize_t n)
{
    if (w->overflow || n > w->end - w->p) {
        w->overflow = 1;
        return;
    }
    memcpy(w->p, s, (size_t)n);
    w->p += n;
}

#define PUT(w, lit) put((w), (lit), (Py_ssize_t)sizeof(lit) - 1)

static void put_line(writer_t *w, const char *name, Py_ssize_t nl, const char *v, Py_ssize_t vl)
{
    put(w, name, nl);
    PUT(w, ": ");
    put(w, v, vl);
    PUT(w, "\r\n");
}

/* forwarding.HOP_BY_HOP */
/* Lowercase header names handed over by setup(): forwarding.HOP_BY_HOP and forwarding.REPLACED. */
static PyObject *hop_names, *replaced_names;   /* tuples of bytes */

static int named_in(PyObject *names, const char *n, Py_ssize_t l)
{
    if (names == NULL)
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (eq_lower(n, l, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)))
            return 1;
    }
    return 0;
}

static int hop_by_hop(const char *n, Py_ssize_t l)
{
    return named_in(hop_names, n, l);
}

static int replaced(const char *n, Py_ssize_t l)
{
    return named_in(replaced_names, n, l);
}

static PyObject *lowercase_names(PyObject *names)
{
    PyObject *t = PySequence_Tuple(names);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(t, i))) {
            Py_DECREF(t);
            PyErr_SetString(PyExc_TypeError, "header names are bytes");
            return NULL;
        }
    }
    return t;
}

/* Shrink a bytes object to what was written, or drop it on overflow (a bug). */
static PyObject *finish_bytes(PyObject *out, writer_t *w)
{
    if (w->overflow) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_SystemError, "native head writer overflow");
        return NULL;
    }
    if (_PyBytes_Resize(&out, w->p - PyBytes_AS_STRING(out)) < 0)
        return NULL;
    return out;
}

static const char VIA[] = "1.1 paas-router";

/* --- Python objects ------------------------------------------------------------ */

static PyTypeObject *request_type, *framing_type, *response_type;
static PyObject *s_method, *s_target, *s_framing, *s_version, *s_host, *s_content_length,
    *s_chunked, *s_header_count, *s_expect_continue, *s_request_id, *s_status, *s_reason,
    *s_raw, *s_upstream, *s_upgrade, *s_close, *s_rid, *s_status_code, *s_client_head, *s_has_cl,
    *s_v10, *s_v11, *s_empty, *s_has_body, *s_is_upgrade;

/* Set obj.name = value, taking the reference to value; -1 on error. */
static int set_steal(PyObject *obj, PyObject *name, PyObject *value)
{
    if (value == NULL)
        return -1;
    int r = PyObject_SetAttr(obj, name, value);
    Py_DECREF(value);
    return r;
}

static PyObject *new_instance(PyTypeObject *type)
{
    return type->tp_alloc(type, 0);
}

static PyObject *length_or_none(long long n)
{
    if (n < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(n);
}

/* --- request ---------------------------------------------------------------------- */

typedef struct {
    const char *method;
    Py_ssize_t mlen;
    const char *target;
    Py_ssize_t tlen;
    int minor;
    const char *host;
    Py_ssize_t hlen;
    int prefix_slash;   /* absolute-form with an empty or query-only path: "/" + path */
} reqline_t;

/* _REQUEST_LINE: token SP (VCHAR)+ SP HTTP/1.[01], the whole line. */
static int parse_request_line(const char *s, Py_ssize_t n, reqline_t *r)
{
    Py_ssize_t i = 0;
    while (i < n && TCHAR[(unsigned char)s[i]])
        i++;
    if (i == 0 || i >= n || s[i] != ' ')
        return 0;
    r->method = s;
    r->mlen = i++;
    Py_ssize_t t = i;
    while (i < n && VCHAR[(unsigned char)s[i]])
        i++;
    if (i == t || i >= n || s[i] != ' ')
        return 0;
    r->target = s + t;
    r->tlen = i - t;
    i++;
    if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || (s[i + 7] != '0' && s[i + 7] != '1'))
        return 0;
    r->minor = s[i + 7] - '0';
    return 1;
}

/* framing._resolve_target: origin-form, OPTIONS *, or absolute-form http(s)://authority[path]. */
static int resolve_target(reqline_t *r)
{
    const char *t = r->target;
    Py_ssize_t n = r->tlen;
    r->prefix_slash = 0;
    if (t[0] == '/')
        return 1;
    if (n == 1 && t[0] == '*' && r->mlen == 7 && memcmp(r->method, "OPTIONS", 7) == 0)
        return 1;
    Py_ssize_t i;
    if (n >= 7 && EQ(t, 7, "http://"))
        i = 7;
    else if (n >= 8 && EQ(t, 8, "https://"))
        i = 8;
    else
        return 0;
    Py_ssize_t a = i;
    while (i < n && t[i] != '/' && t[i] != '?' && t[i] != '#')
        i++;
    if (i == a)
        return 0;
    /* The rest is [^#]*: a fragment makes the whole target malformed. */
    if (memchr(t + i, '#', (size_t)(n - i)) != NULL)
        return 0;
    r->host = t + a;
    r->hlen = i - a;
    r->target = t + i;
    r->tlen = n - i;
    r->prefix_slash = !(r->tlen > 0 && r->target[0] == '/');
    return 1;
}

/*
 * The head the instance receives: forwarding.request_headers, serialised as
 * BackendExchange.send_request does (start line, fields, CRLF CRLF).
 */
static PyObject *upstream_head(const char *s, Py_ssize_t n, reqline_t *r, field_t *f, Py_ssize_t count,
                               framing_t *fr, int upgrade, const char *ip, Py_ssize_t iplen,
                               const char *port, Py_ssize_t portlen, const char *rid, Py_ssize_t ridlen)
{
    /* Worst case: every field kept (+3 for ": " and CRLF each) and repeated in
     * X-Forwarded-For/Via/Upgrade, plus the fixed lines; see put(). */
    Py_ssize_t bound = 4 * n + 8 * count + 2 * r->hlen + iplen + portlen + ridlen + 512;
    PyObject *out = PyBytes_FromStringAndSize(NULL, bound);
    if (out == NULL)
        return NULL;
    writer_t w = {PyBytes_AS_STRING(out), PyBytes_AS_STRING(out) + bound, 0};
    put(&w, r->method, r->mlen);
    PUT(&w, " ");
    if (r->prefix_slash)
        PUT(&w, "/");
    put(&w, r->target, r->tlen);
    PUT(&w, " HTTP/1.1\r\n");
    put_line(&w, "Host", 4, r->host, r->hlen);
    /* X-Forwarded-For values are joined in order; the last Via wins, as in Python. */
    Py_ssize_t nff = 0;
    field_t *via = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *nm = f[i].name;
        Py_ssize_t nl = f[i].nlen;
        if (EQ(nm, nl, "x-forwarded-for")) {
            nff++;
        } else if (EQ(nm, nl, "via")) {
            via = &f[i];
        } else if (!hop_by_hop(nm, nl) && !replaced(nm, nl) && !has_token(fr, nm, nl)) {
            put_line(&w, nm, nl, f[i].value, f[i].vlen);
        }
    }
    PUT(&w, "X-Forwarded-For: ");
    int joined = 0;   /* Python's "forwarded_for" is truthy: something non-empty so far */
    if (nff) {
        for (Py_ssize_t i = 0; i < count; i++) {
            if (!EQ(f[i].name, f[i].nlen, "x-forwarded-for"))
                continue;
            if (joined)
                PUT(&w, ", ");
            put(&w, f[i].value, f[i].vlen);
            joined = joined || f[i].vlen > 0;
        }
    }
    if (joined)
        PUT(&w, ", ");
    put(&w, ip, iplen);
    PUT(&w, "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: ");
    put(&w, port, portlen);
    PUT(&w, "\r\nX-Forwarded-Host: ");
    put(&w, r->host, r->hlen);
    PUT(&w, "\r\nX-Request-Id: ");
    put(&w, rid, ridlen);
    PUT(&w, "\r\nVia: ");
    if (via) {
        put(&w, via->value, via->vlen);
        PUT(&w, ", ");
    }
    PUT(&w, VIA);
    PUT(&w, "\r\n");
    if (fr->chunked) {
        PUT(&w, "Transfer-Encoding: chunked\r\n");
    } else if (fr->content_length >= 0) {
        char digits[24];
        int dl = snprintf(digits, sizeof(digits), "%lld", fr->content_length);
        PUT(&w, "Content-Length: ");
        put(&w, digits, dl);
        PUT(&w, "\r\n");
    }
    if (upgrade) {
        PUT(&w, "Connection: upgrade\r\n");
        for (Py_ssize_t i = 0; i < count; i++)
            if (EQ(f[i].name, f[i].nlen, "upgrade"))
                put_line(&w, f[i].name, f[i].nlen, f[i].value, f[i].vlen);
    }
    PUT(&w, "\r\n");
    return finish_bytes(out, &w);
}

/*
 * The joining rule above, spelled out: Python does
 *   ff = ff + b", " + value if ff else value
 * so an empty first value is replaced by the next, and a ", " is written
 * before every value once something non-empty was written.
 */

static PyObject *build_request(PyObject *head, const char *s, Py_ssize_t n, reqline_t *r,
                               field_t *f, Py_ssize_t count, framing_t *fr, PyObject *ip_obj,
                               PyObject *port_obj, PyObject *new_rid)
{
    int close;
    if (r->minor == 0)
        close = !has_token(fr, "keep-alive", 10);
    else
        close = has_token(fr, "close", 5);
    int upgrade = 0;
    if (has_token(fr, "upgrade", 7))
        for (Py_ssize_t i = 0; i < count && !upgrade; i++)
            upgrade = EQ(f[i].name, f[i].nlen, "upgrade");

    PyObject *rid_str;
    if (fr->request_id)
        rid_str = PyUnicode_DecodeASCII(fr->request_id->value, fr->request_id->vlen, NULL);
    else
        rid_str = PyObject_CallNoArgs(new_rid);
    if (rid_str == NULL)
        return NULL;
    Py_ssize_t ridlen;
    const char *rid = PyUnicode_AsUTF8AndSize(rid_str, &ridlen);
    if (rid == NULL) {
        Py_DECREF(rid_str);
        return NULL;
    }
    PyObject *upstream = upstream_head(s, n, r, f, count, fr, upgrade, PyBytes_AS_STRING(ip_obj),
                                       PyBytes_GET_SIZE(ip_obj), PyBytes_AS_STRING(port_obj),
                                       PyBytes_GET_SIZE(port_obj), rid, ridlen);
    if (upstream == NULL) {
        Py_DECREF(rid_str);
        return NULL;
    }
    PyObject *fo = new_instance(framing_type);
    if (fo == NULL) {
        Py_DECREF(rid_str);
        Py_DECREF(upstream);
        return NULL;
    }
    PyObject *target;
    if (r->prefix_slash) {
        target = PyBytes_FromStringAndSize(NULL, r->tlen + 1);
        if (target) {
            PyBytes_AS_STRING(target)[0] = '/';
            memcpy(PyBytes_AS_STRING(target) + 1, r->target, (size_t)r->tlen);
        }
    } else {
        target = PyBytes_FromStringAndSize(r->target, r->tlen);
    }
    PyObject *method = PyBytes_FromStringAndSize(r->method, r->mlen);
    if (method == NULL || target == NULL
        || PyObject_SetAttr(fo, s_method, method) < 0
        || PyObject_SetAttr(fo, s_target, target) < 0
        || PyObject_SetAttr(fo, s_version, r->minor ? s_v11 : s_v10) < 0
        || set_steal(fo, s_host, PyBytes_FromStringAndSize(r->host, r->hlen)) < 0
        || set_steal(fo, s_content_length, length_or_none(fr->content_length)) < 0
        || PyObject_SetAttr(fo, s_chunked, fr->chunked ? Py_True : Py_False) < 0
        || set_steal(fo, s_header_count, PyLong_FromSsize_t(count)) < 0
        || PyObject_SetAttr(fo, s_expect_continue, fr->expect_continue ? Py_True : Py_False) < 0
        || (fr->request_id
                ? set_steal(fo, s_request_id,
                            PyBytes_FromStringAndSize(fr->request_id->value, fr->request_id->vlen))
                : PyObject_SetAttr(fo, s_request_id, s_empty)) < 0
        || set_steal(fo, s_status, PyLong_FromLong(0)) < 0
        || PyObject_SetAttr(fo, s_reason, s_empty) < 0
        || PyObject_SetAttr(fo, s_raw, head) < 0
        || PyObject_SetAttr(fo, s_upgrade, upgrade ? Py_True : Py_False) < 0
        || PyObject_SetAttr(fo, s_close, close ? Py_True : Py_False) < 0
        || PyObject_SetAttr(fo, s_rid, rid_str) < 0
        || PyObject_SetAttr(fo, s_upstream, upstream) < 0) {
        Py_XDECREF(method);
        Py_XDECREF(target);
        Py_DECREF(rid_str);
        Py_DECREF(upstream);
        Py_DECREF(fo);
        return NULL;
    }
    Py_DECREF(rid_str);
    Py_DECREF(upstream);
    PyObject *req = new_instance(request_type);
    int has_body = fr->chunked || fr->content_length > 0;   /* Request.has_body */
    if (req == NULL || PyObject_SetAttr(req, s_method, method) < 0
        || PyObject_SetAttr(req, s_target, target) < 0
        || PyObject_SetAttr(req, s_framing, fo) < 0
        || PyObject_SetAttr(req, s_has_body, has_body ? Py_True : Py_False) < 0
        || PyObject_SetAttr(req, s_is_upgrade, upgrade ? Py_True : Py_False) < 0) {
        Py_XDECREF(req);
        req = NULL;
    }
    Py_DECREF(method);
    Py_DECREF(target);
    Py_DECREF(fo);
    return req;
}

/*
 * request(head, max_headers, max_body, client_ip, port, new_rid) -> Request | None | NotImplemented
 * client_ip and port are bytes as they go into X-Forwarded-For/-Port; new_rid()
 * returns a fresh request id (str) when the client sent no sane one
 * (forwarding.new_request_id; tests pass a predictable one).
 */
/* args: max_headers, max_body, client_ip, port, new_rid (as request() takes them). */
static PyObject *check_request(PyObject *head, PyObject *const *args)
{
    if (!PyBytes_Check(args[2]) || !PyBytes_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "client_ip and port must be bytes");
        return NULL;
    }
    if (request_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called");
        return NULL;
    }
    Py_ssize_t max_headers = PyLong_AsSsize_t(args[0]);
    long long max_body = PyLong_AsLongLong(args[1]);
    if ((max_headers == -1 || max_body == -1) && PyErr_Occurred())
        return NULL;
    const char *s = PyBytes_AS_STRING(head);
    Py_ssize_t n = PyBytes_GET_SIZE(head);

    const char *eol = memchr(s, '\r', (size_t)n);
    Py_ssize_t line_end = eol ? eol - s : n;
    reqline_t r;
    if (!parse_request_line(s, line_end, &r))
        Py_RETURN_NONE;
    field_t fields[MAX_FIELDS];
    Py_ssize_t count = parse_fields(s, line_end, n, fields);
    if (count == -2)
        Py_RETURN_NOTIMPLEMENTED;
    if (count < 0 || count > max_headers)
        Py_RETURN_NONE;
    framing_t fr;
    int ok = check_framing(fields, count, &fr, 1);
    if (ok == -2)
        Py_RETURN_NOTIMPLEMENTED;
    if (!ok)
        Py_RETURN_NONE;
    if (fr.chunked && r.minor == 0)
        Py_RETURN_NONE;   /* Transfer-Encoding in an HTTP/1.0 request */
    if (r.mlen == 7 && memcmp(r.method, "CONNECT", 7) == 0)
        Py_RETURN_NONE;
    r.host = fr.host->value;
    r.hlen = fr.host->vlen;
    if (!resolve_target(&r) || !valid_host(r.host, r.hlen))
        Py_RETURN_NONE;
    if (fr.content_length > max_body)
        Py_RETURN_NONE;   /* 413 */
    return build_request(head, s, n, &r, fields, count, &fr, args[2], args[3], args[4]);
}

static PyObject *request(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "request(head, max_headers, max_body, ip, port, new_rid)");
        return NULL;
    }
    return check_request(args[0], args + 1);
}

/* --- heads straight from a HeadReader's buffer ---------------------------------------- */

/*
 * framing.HeadReader.poll on ``buf`` (a bytearray) without changing it:
 * 1 with *end set when a head is complete within the limits, 0 when more bytes
 * are needed, -1 when poll would do more (strip leading empty lines) or raise
 * a limit error: the caller then runs poll itself, which does exactly that.
 */
static int find_head(PyObject *buf, Py_ssize_t line_limit, Py_ssize_t head_limit, Py_ssize_t *end)
{
    const char *s = PyByteArray_AS_STRING(buf);
    Py_ssize_t n = PyByteArray_GET_SIZE(buf);
    if (n >= 2 && s[0] == '\r' && s[1] == '\n')
        return -1;
    const char *crlf = memmem(s, (size_t)n, "\r\n", 2);
    Py_ssize_t first_line = crlf ? crlf - s : n;
    if (first_line > line_limit)
        return -1;
    const char *blank = crlf ? memmem(crlf, (size_t)(n - (crlf - s)), "\r\n\r\n", 4) : NULL;
    if (blank == NULL)
        return n > head_limit ? -1 : 0;
    if (blank - s + 4 > head_limit)
        return -1;
    *end = blank - s;
    return 1;
}

/* Drop the head and its blank line from the front of the buffer (del buf[:end + 4]). */
static int consume(PyObject *buf, Py_ssize_t end)
{
    Py_ssize_t n = PyByteArray_GET_SIZE(buf), rest = n - end - 4;
    char *s = PyByteArray_AS_STRING(buf);
    memmove(s, s + end + 4, (size_t)rest);
    return PyByteArray_Resize(buf, rest);
}

/*
 * Shared by request_from() and response_from(): a complete head taken off the
 * buffer and checked, None when incomplete, NotImplemented (buffer untouched)
 * when the Python path must poll and check: limits, refusals, capacities.
 */
static PyObject *from_buffer(PyObject *buf, PyObject *line_limit, PyObject *head_limit,
                             PyObject *(*check)(PyObject *, PyObject *const *), PyObject *const *args)
{
    if (!PyByteArray_Check(buf)) {
        PyErr_SetString(PyExc_TypeError, "the head buffer must be a bytearray");
        return NULL;
    }
    if (PyByteArray_GET_SIZE(buf) == 0)
        Py_RETURN_NONE;
    Py_ssize_t ll = PyLong_AsSsize_t(line_limit), hl = PyLong_AsSsize_t(head_limit), end = 0;
    if ((ll == -1 || hl == -1) && PyErr_Occurred())
        return NULL;
    int found = find_head(buf, ll, hl, &end);
    if (found == 0)
        Py_RETURN_NONE;
    if (found < 0)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *head = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(buf), end);
    if (head == NULL)
        return NULL;
    PyObject *out = check(head, args);
    Py_DECREF(head);
    if (out == NULL || out == Py_None) {
        Py_XDECREF(out);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NOTIMPLEMENTED;   /* refused: Python raises the precise error */
    }
    if (out != Py_NotImplemented && consume(buf, end) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/*
 * request_from(buf, line_limit, head_limit, max_headers, max_body, client_ip, port, new_rid)
 * -> Request (taken off buf) | None (incomplete) | NotImplemented (Python's turn)
 */
static PyObject *request_from(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "request_from() takes 8 arguments");
        return NULL;
    }
    return from_buffer(args[0], args[1], args[2], check_request, args + 3);
}

/* --- response ---------------------------------------------------------------------- */

/* _STATUS_LINE: HTTP/1.[01] SP [1-9][0-9][0-9] (SP reason)?, reason of HTAB, SP, VCHAR. */
static int parse_status_line(const char *s, Py_ssize_t n, int *minor, int *status,
                             const char **reason, Py_ssize_t *rlen)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return 0;
    if (s[9] < '1' || s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9')
        return 0;
    *minor = s[7] - '0';
    *status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    *reason = s + n;
    *rlen = 0;
    if (n == 12)
        return 1;
    if (s[12] != ' ')
        return 0;
    for (Py_ssize_t i = 13; i < n; i++)
        if (!FVCHAR[(unsigned char)s[i]])
            return 0;
    *reason = s + 13;
    *rlen = n - 13;
    return 1;
}

/*
 * The client-facing head up to its framing lines: "HTTP/1.1 <status> <reason>"
 * and forwarding.response_headers' fields, CRLF-joined, no final CRLF (the
 * `head` of fastproto's send_response). *has_cl: a Content-Length line is left.
 */
static PyObject *client_head(const char *s, Py_ssize_t n, int status, const char *reason, Py_ssize_t rlen,
                             field_t *f, Py_ssize_t count, framing_t *fr, int *has_cl)
{
    Py_ssize_t bound = 2 * n + 3 * count + 64;
    PyObject *out = PyBytes_FromStringAndSize(NULL, bound);
    if (out == NULL)
        return NULL;
    writer_t w = {PyBytes_AS_STRING(out), PyBytes_AS_STRING(out) + bound, 0};
    char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' '};
    PUT(&w, "HTTP/1.1 ");
    put(&w, code, 4);
    put(&w, reason, rlen);
    field_t *via = NULL;
    *has_cl = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *nm = f[i].name;
        Py_ssize_t nl = f[i].nlen;
        if (EQ(nm, nl, "via")) {
            via = &f[i];
        } else if (!hop_by_hop(nm, nl) && !has_token(fr, nm, nl)) {
            PUT(&w, "\r\n");
            put(&w, nm, nl);
            PUT(&w, ": ");
            put(&w, f[i].value, f[i].vlen);
            *has_cl = *has_cl || EQ(nm, nl, "content-length");
        }
    }
    PUT(&w, "\r\nVia: ");
    if (via) {
        put(&w, via->value, via->vlen);
        PUT(&w, ", ");
    }
    PUT(&w, VIA);
    return finish_bytes(out, &w);
}

/* response(head) -> ResponseHead | None | NotImplemented */
/* What response() learns of a response head, for the event and for relay().
 * Only its scalars are used after response_event() returns: fr's pointers
 * (host, request_id, tokens) point into that call's stack and the head. */
typedef struct {
    int minor, status, close, has_cl;
    const char *reason;
    Py_ssize_t rlen;
    framing_t fr;
} resp_t;

/* The response as an event (NativeResponseHead) with its client-facing head; *r filled. */
static PyObject *response_event(PyObject *head, resp_t *r)
{
    if (response_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(head);
    Py_ssize_t n = PyBytes_GET_SIZE(head);
    const char *eol = memchr(s, '\r', (size_t)n);
    Py_ssize_t line_end = eol ? eol - s : n;
    if (!parse_status_line(s, line_end, &r->minor, &r->status, &r->reason, &r->rlen))
        Py_RETURN_NONE;
    field_t fields[MAX_FIELDS];
    Py_ssize_t count = parse_fields(s, line_end, n, fields);
    if (count == -2)
        Py_RETURN_NOTIMPLEMENTED;
    if (count < 0)
        Py_RETURN_NONE;
    framing_t *fr = &r->fr;
    int ok = check_framing(fields, count, fr, 0);
    if (ok == -2)
        Py_RETURN_NOTIMPLEMENTED;
    if (!ok)
        Py_RETURN_NONE;
    r->close = r->minor == 0 ? !has_token(fr, "keep-alive", 10) : has_token(fr, "close", 5);
    PyObject *ch = client_head(s, n, r->status, r->reason, r->rlen, fields, count, fr, &r->has_cl);
    if (ch == NULL)
        return NULL;
    PyObject *ev = new_instance(response_type);
    if (ev == NULL) {
        Py_DECREF(ch);
        return NULL;
    }
    if (set_steal(ev, s_status_code, PyLong_FromLong(r->status)) < 0
        || set_steal(ev, s_reason, PyBytes_FromStringAndSize(r->reason, r->rlen)) < 0
        || PyObject_SetAttr(ev, s_version, r->minor ? s_v11 : s_v10) < 0
        || set_steal(ev, s_content_length, length_or_none(fr->content_length)) < 0
        || PyObject_SetAttr(ev, s_chunked, fr->chunked ? Py_True : Py_False) < 0
        || PyObject_SetAttr(ev, s_close, r->close ? Py_True : Py_False) < 0
        || PyObject_SetAttr(ev, s_has_cl, r->has_cl ? Py_True : Py_False) < 0
        || PyObject_SetAttr(ev, s_raw, head) < 0
        || PyObject_SetAttr(ev, s_client_head, ch) < 0) {
        Py_DECREF(ch);
        Py_DECREF(ev);
        return NULL;
    }
    Py_DECREF(ch);
    return ev;
}

/* response(head) -> ResponseHead | None | NotImplemented */
static PyObject *check_response(PyObject *head, PyObject *const *unused)
{
    if (!PyBytes_Check(head)) {
        PyErr_SetString(PyExc_TypeError, "response(head: bytes)");
        return NULL;
    }
    resp_t r;
    return response_event(head, &r);
}

/*
 * relay(data, limit, head_request, client_v10, client_close)
 *   -> (event, bytes for the client, body length, instance wants close) | None
 *
 * The common whole exchange in one step: ``data``, the instance's first read,
 * holds a complete final response head and exactly its body (Content-Length,
 * or none for HEAD, 204 and 304). The result is what BackendExchange.next_head,
 * ClientConnection.send_proxied, whole_body, send_data and send_end produce
 * together. Anything else (1xx, 101, chunked, read-to-close, a partial or
 * longer body, leading empty lines, a refused head, a head the client would
 * get re-framed) answers None and takes the general path, which decides.
 */
static PyObject *relay(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "relay(data, limit, head_request, client_v10, client_close)");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    int head_request = PyObject_IsTrue(args[2]), v10 = PyObject_IsTrue(args[3]),
        client_close = PyObject_IsTrue(args[4]);
    if (head_request < 0 || v10 < 0 || client_close < 0)
        return NULL;
    /* HeadReader.poll's conditions for a head it would hand over as is. */
    if (n >= 2 && s[0] == '\r' && s[1] == '\n')
        Py_RETURN_NONE;
    const char *crlf = memmem(s, (size_t)n, "\r\n", 2);
    if (crlf == NULL || crlf - s > limit)
        Py_RETURN_NONE;
    const char *blank = memmem(crlf, (size_t)(n - (crlf - s)), "\r\n\r\n", 4);
    if (blank == NULL || blank - s + 4 > limit)
        Py_RETURN_NONE;
    Py_ssize_t end = blank - s, body = n - end - 4;

    PyObject *head = PyBytes_FromStringAndSize(s, end);
    if (head == NULL)
        return NULL;
    resp_t r;
    PyObject *ev = response_event(head, &r);
    Py_DECREF(head);
    if (ev == NULL || ev == Py_None || ev == Py_NotImplemented)
        return ev == Py_NotImplemented ? (Py_DECREF(ev), Py_NewRef(Py_None)) : ev;
    /* The instance's framing (BackendExchange.next_head). */
    int no_body = head_request || r.status == 204 || r.status == 304;
    int ok = r.status >= 200 && r.status != 101;
    if (no_body)
        ok = ok && body == 0;
    else
        ok = ok && !r.fr.chunked && r.fr.content_length == body;
    /* The client's framing (ClientConnection._frame): as received when it has a length. */
    ok = ok && (no_body || r.has_cl);
    if (!ok) {
        Py_DECREF(ev);
        Py_RETURN_NONE;
    }
    PyObject *ch = PyObject_GetAttr(ev, s_client_head);
    if (ch == NULL) {
        Py_DECREF(ev);
        return NULL;
    }
    Py_ssize_t hl = PyBytes_GET_SIZE(ch), sent = no_body ? 0 : body;
    PyObject *out = PyBytes_FromStringAndSize(NULL, hl + 32 + sent);
    if (out == NULL) {
        Py_DECREF(ch);
        Py_DECREF(ev);
        return NULL;
    }
    writer_t w = {PyBytes_AS_STRING(out), PyBytes_AS_STRING(out) + hl + 32 + sent, 0};
    put(&w, PyBytes_AS_STRING(ch), hl);
    Py_DECREF(ch);
    if (client_close)
        PUT(&w, "\r\nConnection: close");
    else if (v10)
        PUT(&w, "\r\nConnection: keep-alive");
    PUT(&w, "\r\n\r\n");
    put(&w, s + end + 4, sent);
    out = finish_bytes(out, &w);
    if (out == NULL) {
        Py_DECREF(ev);
        return NULL;
    }
    return Py_BuildValue("(NNnO)", ev, out, sent, r.close ? Py_True : Py_False);
}

/*
 * setup(request_type, framing_type, response_type, tables, hop_by_hop, replaced): the
 * classes request()/response() fill; framing.char_tables() (token, value, host,
 * request id); forwarding.HOP_BY_HOP and forwarding.REPLACED (lowercase names).
 */
static PyObject *setup(PyObject *self, PyObject *args)
{
    PyObject *rq, *fr, *rs, *tables, *hop, *repl;
    if (!PyArg_ParseTuple(args, "O!O!O!OOO", &PyType_Type, &rq, &PyType_Type, &fr, &PyType_Type, &rs,
                          &tables, &hop, &repl))
        return NULL;
    if (!PyTuple_Check(tables) || PyTuple_GET_SIZE(tables) != 4) {
        PyErr_SetString(PyExc_TypeError, "tables: (token, value, host, request id)");
        return NULL;
    }
    PyObject *h = lowercase_names(hop), *r = lowercase_names(repl);
    if (h == NULL || r == NULL || copy_table(TCHAR, PyTuple_GET_ITEM(tables, 0)) < 0
        || copy_table(VCHAR, PyTuple_GET_ITEM(tables, 1)) < 0 || copy_table(HOSTCH, PyTuple_GET_ITEM(tables, 2)) < 0
        || copy_table(RIDCH, PyTuple_GET_ITEM(tables, 3)) < 0) {
        Py_XDECREF(h);
        Py_XDECREF(r);
        return NULL;
    }
    for (int c = 0; c < 256; c++)
        FVCHAR[c] = VCHAR[c] || c == ' ' || c == '\t';
    Py_XSETREF(hop_names, h);
    Py_XSETREF(replaced_names, r);
    Py_XSETREF(request_type, (PyTypeObject *)Py_NewRef(rq));
    Py_XSETREF(framing_type, (PyTypeObject *)Py_NewRef(fr));
    Py_XSETREF(response_type, (PyTypeObject *)Py_NewRef(rs));
    Py_RETURN_NONE;
}

static PyObject *response(PyObject *self, PyObject *head)
{
    return check_response(head, NULL);
}

/* response_from(buf, line_limit, head_limit) -> ResponseHead | None | NotImplemented, as request_from */
static PyObject *response_from(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "response_from() takes 3 arguments");
        return NULL;
    }
    return from_buffer(args[0], args[1], args[2], check_response, NULL);
}

static PyMethodDef methods[] = {
    {"request", (PyCFunction)(void (*)(void))request, METH_FASTCALL,
     "Check a request head and write the instance's head; None when refused."},
    {"response", response, METH_O, "Check a response head and write the client's; None when refused."},
    {"relay", (PyCFunction)(void (*)(void))relay, METH_FASTCALL,
     "A whole small response in one step: the event and the bytes for the client, or None."},
    {"request_from", (PyCFunction)(void (*)(void))request_from, METH_FASTCALL,
     "request() on the head at the front of a HeadReader buffer, taken off it when accepted."},
    {"response_from", (PyCFunction)(void (*)(void))response_from, METH_FASTCALL,
     "response() on the head at the front of a HeadReader buffer, taken off it when accepted."},
    {"setup", setup, METH_VARARGS, "The classes of the objects returned."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_paas_heads", NULL, -1, methods};

#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC PyInit__paas_heads(void)
{
    init_tables();
    INTERN(s_method, "method");
    INTERN(s_target, "target");
    INTERN(s_framing, "framing");
    INTERN(s_version, "version");
    INTERN(s_host, "host");
    INTERN(s_content_length, "content_length");
    INTERN(s_chunked, "chunked");
    INTERN(s_header_count, "header_count");
    INTERN(s_expect_continue, "expect_continue");
    INTERN(s_request_id, "request_id");
    INTERN(s_status, "status");
    INTERN(s_reason, "reason");
    INTERN(s_raw, "raw");
    INTERN(s_upstream, "upstream");
    INTERN(s_upgrade, "upgrade");
    INTERN(s_close, "wants_close");
    INTERN(s_rid, "rid");
    INTERN(s_status_code, "status_code");
    INTERN(s_client_head, "client_head");
    INTERN(s_has_cl, "has_cl");
    INTERN(s_has_body, "has_body");
    INTERN(s_is_upgrade, "is_upgrade");
    if ((s_v10 = PyBytes_FromString("1.0")) == NULL || (s_v11 = PyBytes_FromString("1.1")) == NULL
        || (s_empty = PyBytes_FromString("")) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
