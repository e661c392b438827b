/*
 * paas-runner's native front end: the plain `paas-runner run` forms in C.
 *
 * Why: a Python `paas-runner run` spends ~26 ms in the interpreter and its
 * imports before the container (~15 ms) starts; runc is faster than that
 * whole run. This program does what cli.py + container.run do for the
 * plain forms (parse, validate, prepare the host side, run the helper in the
 * foreground, report, clean up) and hands every other command line to the
 * Python launcher (`paas-runner.py` beside it) by exec, unchanged.
 *
 * Why the same binary as paas-init (a mode picked by argv[0]): the front end
 * runs the helper by fork() + paas_init_main() instead of exec'ing a second
 * file, there is one thing to compile, cache and install, and the two can
 * never disagree about the spec file format they share. It costs PID 1
 * nothing measurable: the front end's code pages are never touched there.
 *
 * The rules it follows are the Python ones, restated here:
 *   parse      cli._parse_run_fast: anything it would hand to argparse we
 *              hand to Python (argparse's messages and exit code 2 included);
 *   validate   cli._spec_from_args, validate.CHECKS and rootview in order,
 *              with the same one-line messages;
 *   prepare    container.create: instance dir, cgroup (cgroups.py, v1/v2),
 *              generated /etc layer, the spec tokens of _spec_tokens,
 *              state.json that Record/sweep read;
 *   run        container.run: Ctrl-C reaches the app and we stay, SIGTERM
 *              to us is relayed, outcome from the status file and the
 *              cgroup's OOM verdict, then release.
 * Anything unusual that the Python side would treat in a way not restated
 * here (non-ASCII arguments, numbers such as "1_000" or "inf", a stack not
 * built yet, bridge networking, ...) falls back to Python *before* anything
 * is created, so its behaviour is Python's by construction.
 * tests/runtime/test_front.py runs the same command lines through both and
 * compares messages and exit codes, and compares the constants below with
 * the Python ones (`paas-init --constants`).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "paas-init.h"

#ifndef PAAS_DIGEST
#define PAAS_DIGEST ""  /* built by hand: never trusted as current, see is_current */
#endif

/* ---- constants shared with the Python side ------------------------------
 * Each one has a Python twin (named in the comment); `--constants` prints
 * them and test_front.py compares them, so they cannot drift apart. */
#define MIN_MEMORY (8LL << 20)                      /* validate.MIN_MEMORY */
#define MIN_PIDS 4                                  /* validate.MIN_PIDS */
#define MIN_TMP_DISK (1LL << 20)                    /* validate.check_limits */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"  /* validate.DEFAULT_PATH */
#define DEFAULT_USER "app"                          /* rootview.DEFAULT_USER */
#define DEFAULT_UID 10000                           /* rootview.DEFAULT_UID */
#define MAX_SYMLINKS 40                             /* rootview.MAX_SYMLINKS */
#define CFS_PERIOD_US 100000                        /* cgroups.CFS_PERIOD_US */
#define CPU_SHARES 1024                             /* spec.Limits.cpu_shares */
#define EXIT_BAD_INPUT 125                          /* cli.EXIT_BAD_INPUT */
#define CGROUP_EBUSY_TIMEOUT 5.0                    /* cgroups.Cgroup.remove */
static const char *const MASKED_PATHS[] = {         /* spec.MASKED_PATHS */
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap", NULL,
};
static const char *const READONLY_PATHS[] = {       /* spec.READONLY_PATHS */
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};
static const char *const V1_CONTROLLERS[] = {"memory", "cpu", "cpuacct", "pids", NULL};  /* cgroups.V1_CONTROLLERS */
static const char *const V2_CONTROLLERS[] = {"memory", "cpu", "pids", NULL};             /* cgroups.V2_CONTROLLERS */
static const char *const SYSTEM_MOUNT_POINTS[] = {"/proc", "/sys", "/dev", "/tmp", NULL}; /* validate.check_mount_points */
/* network.Attachment's fields after `mode` (all empty or 0 for none and host). */
static const char *const ATTACHMENT_STRINGS[] = {"netns", "address", "gateway", "veth", NULL};
static const char *const ATTACHMENT_INTS[] = {"port", "host_port", NULL};
/* The sources whose digest names the build (initbin.SOURCES, same order). */
static const char *const SOURCES[] = {"paas-init.c", "paas-init.h", "paas-runner.c", NULL};
#define OOM_MESSAGE "paas-runner: the container was OOM-killed (memory limit reached)"  /* cli._run */

/* ---- small helpers ------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) { fputs("paas-runner: error: out of memory\n", stderr); _exit(EXIT_BAD_INPUT); }
    return p;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *out;
    va_start(ap, f);
    int n = vasprintf(&out, f, ap);
    va_end(ap);
    if (n < 0) { fputs("paas-runner: error: out of memory\n", stderr); _exit(EXIT_BAD_INPUT); }
    return out;
}

static int starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* A growable list of strings (leaked on purpose: this process is short-lived). */
struct strv { char **v; int n, cap; };

static void strv_add(struct strv *l, char *s)
{
    if (l->n + 2 > l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) { fputs("paas-runner: error: out of memory\n", stderr); _exit(EXIT_BAD_INPUT); }
    }
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

/* A growable byte buffer. */
struct buf { char *p; size_t n, cap; };

static void buf_add(struct buf *b, const void *data, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) { fputs("paas-runner: error: out of memory\n", stderr); _exit(EXIT_BAD_INPUT); }
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* Whole file into memory; NULL (errno set) if it cannot be read. */
static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct buf b = {0};
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) { if (errno == EINTR) continue; int e = errno; close(fd); errno = e; return NULL; }
        if (n == 0) break;
        buf_add(&b, chunk, n);
    }
    close(fd);
    if (!b.p) buf_add(&b, "", 0);
    if (len) *len = b.n;
    return b.p;
}

/* ---- the Python launcher and falling back to it ---------------------------- */

static struct {
    char *launcher;     /* paas-runner.py beside this binary */
    char *checkout;     /* config.CHECKOUT_DIR, as the launcher records it */
    char **argv;        /* our own argv, handed on unchanged */
    int committed;      /* something exists on the host: never fall back from here */
} self;

/* Hand the command line to the Python launcher, which behaves as paas-runner
 * always did. Only before anything was created: Python starts from scratch. */
__attribute__((noreturn)) static void fallback(const char *why)
{
    if (self.committed) {
        /* A bug, not bad input: say so rather than run the command twice. */
        fprintf(stderr, "paas-runner: error: internal: fallback (%s) after the container was created\n", why);
        _exit(EXIT_BAD_INPUT);
    }
    if (getenv("PAAS_RUNNER_NATIVE_ONLY")) {
        /* The tests' switch: prove a form is handled natively. */
        fprintf(stderr, "paas-runner: native front end would fall back: %s\n", why);
        _exit(99);
    }
    if (!self.launcher) {
        fprintf(stderr, "paas-runner: error: no Python launcher beside %s (reinstall: rm it and run pip's script)\n",
                self.argv[0]);
        _exit(EXIT_BAD_INPUT);
    }
    self.argv[0] = self.launcher;
    execv(self.launcher, self.argv);
    fprintf(stderr, "paas-runner: error: cannot run %s: %s\n", self.launcher, strerror(errno));
    _exit(EXIT_BAD_INPUT);
}

/* Our directory's paas-runner.py and the checkout it names ("# checkout: DIR"). */
static void find_launcher(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 4);
    if (n <= 0) return;
    exe[n] = 0;
    char *launcher = fmt("%s.py", exe);
    char *text = read_file(launcher, NULL);
    if (!text) return;
    self.launcher = launcher;
    char *line = strstr(text, "\n# checkout: ");
    if (!line) return;
    line += strlen("\n# checkout: ");
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    if (line[0] == '/') self.checkout = line;
}

/* ---- is this build the current source's? ------------------------------------ */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* zlib.crc32 (the same polynomial and chaining), which initbin names builds by. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* An installed copy outlives `git pull`: it runs only while its sources are
 * the checkout's (initbin._digest); otherwise Python runs and reinstalls it. */
static int is_current(void)
{
    if (!self.checkout || !PAAS_DIGEST[0]) return 0;
    crc_init();
    uint32_t crc = 0;
    size_t total = 0;
    for (int i = 0; SOURCES[i]; i++) {
        size_t len;
        char *path = fmt("%s/runtime/init/%s", self.checkout, SOURCES[i]);
        char *data = read_file(path, &len);
        if (!data) return 0;
        crc = crc32_update(crc, (const unsigned char *)data, len);
        total += len;
        free(data);
        free(path);
    }
    char digest[64];
    snprintf(digest, sizeof digest, "%08x%zx", crc, total);
    return !strcmp(digest, PAAS_DIGEST);
}

/* ---- Python's text forms ------------------------------------------------------ */

/* repr() of an ASCII str (non-ASCII never gets here: it falls back first). */
static char *py_repr(const char *s)
{
    int has_single = strchr(s, '\'') != NULL, has_double = strchr(s, '"') != NULL;
    char quote = has_single && !has_double ? '"' : '\'';
    struct buf b = {0};
    buf_add(&b, &quote, 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == quote || *p == '\\') { esc[0] = '\\'; esc[1] = *p; buf_add(&b, esc, 2); }
        else if (*p == '\n') buf_str(&b, "\\n");
        else if (*p == '\r') buf_str(&b, "\\r");
        else if (*p == '\t') buf_str(&b, "\\t");
        else if (*p < 0x20 || *p == 0x7f) { snprintf(esc, sizeof esc, "\\x%02x", *p); buf_str(&b, esc); }
        else buf_add(&b, p, 1);
    }
    buf_add(&b, &quote, 1);
    return b.p;
}

/* repr() of a float: the shortest digits that read back the same, laid out
 * the way Python does (fixed for exponents -4..15, else 1e-05 / 1.5e+16). */
static char *py_float_repr(double x)
{
    if (isnan(x)) return xstrdup("nan");
    if (isinf(x)) return xstrdup(x > 0 ? "inf" : "-inf");
    char sci[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, x);
        if (strtod(sci, NULL) == x) break;
    }
    /* sci = [-]d[.ddd]e[+-]XX */
    int neg = sci[0] == '-';
    char digits[32];
    int nd = 0;
    char *p = sci + neg;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    digits[nd] = 0;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = 0;
    struct buf b = {0};
    if (neg) buf_str(&b, "-");
    if (exp < -4 || exp >= 16) {
        buf_add(&b, digits, 1);
        if (nd > 1) { buf_str(&b, "."); buf_str(&b, digits + 1); }
        char e[16];
        snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
        buf_str(&b, e);
    } else if (exp < 0) {
        buf_str(&b, "0.");
        for (int i = -1; i > exp; i--) buf_str(&b, "0");
        buf_str(&b, digits);
    } else {
        for (int i = 0; i <= exp; i++) buf_add(&b, i < nd ? &digits[i] : "0", 1);
        buf_str(&b, ".");
        buf_str(&b, nd > exp + 1 ? digits + exp + 1 : "0");
    }
    return b.p;
}

/* str(OSError): "[Errno 2] No such file or directory: '/x'". */
static char *py_oserror(int err, const char *path)
{
    return fmt("[Errno %d] %s: %s", err, strerror(err), py_repr(path));
}

/* str.isspace() for ASCII. */
static int py_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* float(text) for the plain decimal forms; 0 for anything else (inf, nan,
 * 1_000, ...), which the caller leaves to Python. */
static int py_float(const char *text, double *out)
{
    const char *s = text;
    while (py_space(*s)) s++;
    const char *start = s;
    if (*s == '+' || *s == '-') s++;
    int digits = 0;
    while (*s >= '0' && *s <= '9') { s++; digits++; }
    if (*s == '.') { s++; while (*s >= '0' && *s <= '9') { s++; digits++; } }
    if (!digits) return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    const char *end = s;
    while (py_space(*s)) s++;
    if (*s) return 0;
    char *copy = strndup(start, end - start);
    *out = strtod(copy, NULL);
    free(copy);
    return 1;
}

/* int(text) for plain decimal forms that fit comfortably; 0 otherwise. */
static int py_int(const char *text, long long *out)
{
    const char *s = text;
    while (py_space(*s)) s++;
    int neg = 0;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    int digits = 0;
    long long v = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 18) return 0;
        v = v * 10 + (*s++ - '0');
    }
    while (py_space(*s)) s++;
    if (!digits || *s) return 0;
    *out = neg ? -v : v;
    return 1;
}

/* Python's re `$`: the end, or a final newline before it. */
static int at_end(const char *s) { return !s[0] || (s[0] == '\n' && !s[1]); }

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(int c) { return is_digit(c) || is_alpha(c); }

/* str.isdigit() for ASCII: non-empty and only 0-9. */
static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++) if (!is_digit(*s)) return 0;
    return 1;
}

/* ---- bad input -------------------------------------------------------------------- */

static void release_container(void);

/* A SpecError (or any error the CLI prints as "paas-runner: error: ...").
 * Whatever was created so far is released first, as create() does. */
__attribute__((noreturn)) static void fail(const char *message)
{
    if (self.committed) release_container();
    fprintf(stderr, "paas-runner: error: %s\n", message);
    exit(EXIT_BAD_INPUT);
}

/* ---- arguments (cli.RUN_OPTIONS and cli._parse_run_fast) ----------------------------- */

enum kind { STR, FLOAT, INT };

struct args {
    char *memory, *tmp_size, *disk, *network, *stack, *rootfs, *workdir, *hostname, *user, *name;
    int has_cpus; double cpus;
    long long pids;
    struct strv layers, volumes, envs;
    int no_seccomp;
    char **command; int ncommand;
};

struct option { const char *name; enum kind kind; int many; size_t offset; };

#define OPT(name, kind, many, field) {name, kind, many, offsetof(struct args, field)}
static const struct option RUN_OPTIONS[] = {
    OPT("--memory", STR, 0, memory), OPT("--cpus", FLOAT, 0, cpus), OPT("--pids", INT, 0, pids),
    OPT("--tmp-size", STR, 0, tmp_size), OPT("--disk", STR, 0, disk), OPT("--network", STR, 0, network),
    OPT("--stack", STR, 0, stack), OPT("--rootfs", STR, 0, rootfs),
    OPT("--layer", STR, 1, layers), OPT("--volume", STR, 1, volumes), OPT("-v", STR, 1, volumes),
    OPT("--env", STR, 1, envs), OPT("-e", STR, 1, envs),
    OPT("--workdir", STR, 0, workdir), OPT("-w", STR, 0, workdir),
    OPT("--hostname", STR, 0, hostname), OPT("--user", STR, 0, user), OPT("-u", STR, 0, user),
    OPT("--name", STR, 0, name),
    {NULL, STR, 0, 0},
};

static const struct option *find_option(const char *name, size_t len)
{
    for (const struct option *o = RUN_OPTIONS; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

/* The fast parser's reading of `run ...`; every form it leaves to argparse
 * (an abbreviation, -h, a value starting with '-', a number that does not
 * convert, two sources) goes to Python, argparse's messages and all. */
static void parse_run(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    a->memory = "256M"; a->tmp_size = "64M"; a->disk = "1G"; a->network = "bridge";
    a->workdir = "/"; a->hostname = ""; a->user = "app"; a->pids = 256;
    int sources = 0, i = 2;
    while (i < argc) {
        char *word = argv[i];
        if (!strcmp(word, "--") || word[0] != '-') break;
        if (!strcmp(word, "--no-seccomp")) { a->no_seccomp = 1; i++; continue; }
        char *eq = strchr(word, '=');
        size_t namelen = eq && starts_with(word, "--") ? (size_t)(eq - word) : strlen(word);
        char *value = eq && starts_with(word, "--") ? eq + 1 : NULL;
        const struct option *o = find_option(word, namelen);
        if (!o) fallback("an option the fast parser leaves to argparse");
        if (!value) {
            if (i + 1 >= argc) fallback("an option without its value");
            value = argv[i + 1];
            i += 2;
        } else {
            i++;
        }
        if (value[0] == '-') fallback("a value that looks like an option");
        char *field = (char *)a + o->offset;
        if (!strcmp(o->name, "--stack") || !strcmp(o->name, "--rootfs")) sources++;
        if (o->kind == FLOAT) {
            if (!py_float(value, &a->cpus)) fallback("a --cpus that float() may read differently");
            a->has_cpus = 1;
        } else if (o->kind == INT) {
            if (!py_int(value, &a->pids)) fallback("a --pids that int() may read differently");
        } else if (o->many) {
            strv_add((struct strv *)field, value);
        } else {
            *(char **)field = value;
        }
    }
    if (sources > 1) fallback("both --stack and --rootfs, or one twice");
    a->command = argv + i;
    a->ncommand = argc - i;
}

/* ---- paths as pathlib and posixpath make them ----------------------------------- */

/* str(PurePosixPath(p)): no '.' parts, no repeated or trailing '/', "//" kept. */
static char *path_norm(const char *p)
{
    struct buf b = {0};
    if (p[0] == '/' && p[1] == '/' && p[2] != '/') buf_str(&b, "//");
    else if (p[0] == '/') buf_str(&b, "/");
    int first = 1;
    for (const char *s = p; *s;) {
        while (*s == '/') s++;
        const char *e = s;
        while (*e && *e != '/') e++;
        if (e > s && !(e - s == 1 && s[0] == '.')) {
            if (!first) buf_str(&b, "/");
            buf_add(&b, s, e - s);
            first = 0;
        }
        s = e;
    }
    if (!b.p) buf_str(&b, ".");
    return b.p;
}

/* posixpath.normpath (which, unlike pathlib, folds "..") */
static char *normpath(const char *p)
{
    if (!*p) return xstrdup(".");
    int slashes = p[0] == '/' ? (p[1] == '/' && p[2] != '/' ? 2 : 1) : 0;
    struct strv parts = {0};
    char *copy = xstrdup(p);
    for (char *save, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        int keep = strcmp(c, "..") || (!slashes && !parts.n) || (parts.n && !strcmp(parts.v[parts.n - 1], ".."));
        if (keep) strv_add(&parts, c);
        else if (parts.n) parts.n--;
    }
    struct buf b = {0};
    for (int i = 0; i < slashes; i++) buf_str(&b, "/");
    for (int i = 0; i < parts.n; i++) { if (i) buf_str(&b, "/"); buf_str(&b, parts.v[i]); }
    if (!b.p) buf_str(&b, ".");
    return b.p;
}

static char *path_join(const char *a, const char *name)
{
    size_t n = strlen(a);
    return n && a[n - 1] == '/' ? fmt("%s%s", a, name) : fmt("%s/%s", a, name);
}

/* posixpath._joinrealpath: symlinks resolved as far as the path exists, the
 * rest appended; a loop is left to Python (pathlib raises RuntimeError). */
static char *realpath_join(char *path, const char *rest, int *hops)
{
    char *copy = xstrdup(rest), *save;
    if (rest[0] == '/') path = xstrdup("/");
    for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
        if (!strcmp(name, ".")) continue;
        if (!strcmp(name, "..")) {
            char *slash = strrchr(path, '/');
            if (slash == path) path[1] = 0;
            else if (slash) *slash = 0;
            continue;
        }
        char *next = path_join(path, name);
        struct stat st;
        if (lstat(next, &st) < 0 || !S_ISLNK(st.st_mode)) { path = next; continue; }
        if (++*hops > MAX_SYMLINKS) fallback("a symlink loop, which pathlib reports its own way");
        char target[PATH_MAX];
        ssize_t n = readlink(next, target, sizeof target - 1);
        if (n < 0) fallback("an unreadable symlink");
        target[n] = 0;
        path = realpath_join(path, target, hops);
    }
    return path;
}

/* Path(p).resolve() (strict=False) */
static char *path_resolve(const char *p)
{
    char *start;
    if (p[0] == '/') {
        start = xstrdup("/");
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) fallback("no current directory");
        start = xstrdup(cwd);
    }
    int hops = 0;
    return normpath(realpath_join(start, p, &hops));
}

/* posixpath.expanduser for "~" and "~/..."; "~user" is left to Python. */
static char *expanduser(const char *p)
{
    if (p[0] != '~') return xstrdup(p);
    if (p[1] && p[1] != '/') fallback("~user in a path setting");
    const char *home = getenv("HOME");
    if (!home) fallback("no HOME for ~ in a path setting");
    char *h = xstrdup(home);
    size_t n = strlen(h);
    while (n && h[n - 1] == '/') h[--n] = 0;
    char *out = fmt("%s%s", h, p + 1);
    return *out ? out : xstrdup("/");
}

static int lexists(const char *p) { struct stat st; return lstat(p, &st) == 0; }
static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

/* ---- settings (config.py, cgroups.version) -------------------------------------- */

static struct {
    char *instances;        /* config.instances_dir() */
    char *stacks;           /* config.stacks_dir() */
    const char *cgroup_parent;
    int cgroup_version;
    char *v2_root;
} cfg;

static char *env_or_empty(const char *name) { char *v = getenv(name); return v ? v : ""; }

/* The first cgroup2 mount offering memory, cpu and pids (cgroups._find_v2_root). */
static char *find_v2_root(void)
{
    char *mounts = read_file("/proc/self/mounts", NULL);
    if (!mounts) return NULL;
    for (char *save, *line = strtok_r(mounts, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char target[4096], fstype[256];
        if (sscanf(line, "%*s %4095s %255s", target, fstype) != 2 || strcmp(fstype, "cgroup2")) continue;
        char *controllers = read_file(fmt("%s/cgroup.controllers", target), NULL);
        if (!controllers) continue;
        int all = 1;
        for (int i = 0; V2_CONTROLLERS[i]; i++) {
            int found = 0;
            char *copy = xstrdup(controllers);
            for (char *s2, *w = strtok_r(copy, " \t\n", &s2); w; w = strtok_r(NULL, " \t\n", &s2))
                if (!strcmp(w, V2_CONTROLLERS[i])) found = 1;
            all &= found;
        }
        if (all) return xstrdup(target);
    }
    return NULL;
}

static void load_settings(void)
{
    char *runtime = env_or_empty("PAAS_RUNTIME_DIR");
    if (*runtime) {
        cfg.instances = path_resolve(expanduser(runtime));
    } else {
        char *data = env_or_empty("PAAS_DATA_DIR");
        if (!*data) {
            if (!self.checkout) fallback("the checkout is not known");
            data = fmt("%s/.paas", self.checkout);
        }
        cfg.instances = fmt("%s/runtime", path_resolve(expanduser(data)));
    }
    cfg.stacks = fmt("%s/stacks", cfg.instances);
    cfg.instances = fmt("%s/instances", cfg.instances);
    /* config.CGROUP_PARENT: letters, digits, '-' and '_', at least one alnum. */
    char *parent = getenv("PAAS_CGROUP_PARENT");
    cfg.cgroup_parent = parent ? parent : "paas";
    int alnum = 0;
    for (const char *p = cfg.cgroup_parent; *p; p++) {
        if (is_alnum(*p)) alnum = 1;
        else if (*p != '-' && *p != '_') fallback("a PAAS_CGROUP_PARENT that config.py refuses");
    }
    if (!alnum) fallback("a PAAS_CGROUP_PARENT that config.py refuses");
    char *forced = env_or_empty("PAAS_CGROUP_VERSION");
    cfg.v2_root = NULL;
    if (!strcmp(forced, "1")) cfg.cgroup_version = 1;
    else if (!strcmp(forced, "2") || (cfg.v2_root = find_v2_root())) cfg.cgroup_version = 2;
    else if (exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) cfg.cgroup_version = 1;
    else fallback("no usable cgroup hierarchy (Python says so)");
    if (cfg.cgroup_version == 2 && !cfg.v2_root && !(cfg.v2_root = find_v2_root()))
        fallback("cgroup v2 forced without a usable mount (Python says so)");
}

/* ---- the container's description (cli._spec_from_args) ----------------------------- */

struct mount { char *src, *dst; int ro; };

struct spec {
    struct strv command, layers, env;   /* env: "NAME=VALUE" in the order given */
    struct mount *binds; int nbinds;
    char *workdir, *user, *hostname, *network, *id;
    long long memory, tmp, disk, pids;
    int has_cpus; double cpus;
    int seccomp;
};

static void add_bind(struct spec *s, char *src, char *dst, int ro)
{
    s->binds = realloc(s->binds, (s->nbinds + 1) * sizeof *s->binds);
    if (!s->binds) fail("out of memory");
    s->binds[s->nbinds++] = (struct mount){src, dst, ro};
}

/* A JSON string at *p (json.dumps output: escapes other than \u are decoded,
 * \u is left to Python). Returns NULL if *p is not a string. */
static char *json_string(char **p)
{
    char *s = *p;
    while (py_space(*s)) s++;
    if (*s != '"') return NULL;
    struct buf b = {0};
    buf_add(&b, "", 0);
    for (s++; *s != '"'; s++) {
        if (!*s) return NULL;
        char c = *s;
        if (c == '\\') {
            c = *++s;
            switch (c) {
            case '"': case '\\': case '/': break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            default: return NULL;
            }
        }
        buf_add(&b, &c, 1);
    }
    *p = s + 1;
    return b.p;
}

static int json_char(char **p, char want)
{
    while (py_space(**p)) (*p)++;
    if (**p != want) return 0;
    (*p)++;
    return 1;
}

/* stacks._load: {"layers": [PATH...], "binds": [[SRC, DST]...]}. */
static void load_stack(const char *name, struct spec *s, struct strv *base)
{
    char *text = read_file(fmt("%s/%s/stack.json", cfg.stacks, name), NULL);
    if (!text) fallback("a stack that is not built yet (Python builds the host stack, or names the known ones)");
    char *p = text;
    int have_layers = 0;
    if (!json_char(&p, '{')) fallback("a stack.json this parser does not read");
    while (!json_char(&p, '}')) {
        char *key = json_string(&p);
        if (!key || !json_char(&p, ':') || !json_char(&p, '[')) fallback("a stack.json this parser does not read");
        int is_layers = !strcmp(key, "layers"), is_binds = !strcmp(key, "binds");
        if (!is_layers && !is_binds) fallback("a stack.json this parser does not read");
        have_layers |= is_layers;
        while (!json_char(&p, ']')) {
            if (is_layers) {
                char *layer = json_string(&p);
                if (!layer) fallback("a stack.json this parser does not read");
                strv_add(base, path_norm(layer));
            } else {
                char *src, *dst;
                if (!json_char(&p, '[') || !(src = json_string(&p)) || !json_char(&p, ',') ||
                    !(dst = json_string(&p)) || !json_char(&p, ']'))
                    fallback("a stack.json this parser does not read");
                add_bind(s, path_norm(src), dst, 1);
            }
            json_char(&p, ',');
        }
        json_char(&p, ',');
    }
    if (!have_layers) fallback("a stack.json without layers");
}

/* parse_size: "256M", "1.5G", "512k", "1048576" (spec._SIZE); non-ASCII never gets here. */
static long long parse_size(const char *text)
{
    const char *s = text;
    while (py_space(*s)) s++;
    const char *num = s;
    while (is_digit(*s)) s++;
    int ok = s > num;
    if (ok && *s == '.') {
        const char *frac = ++s;
        while (is_digit(*s)) s++;
        ok = s > frac;
    }
    const char *numend = s;
    while (ok && py_space(*s)) s++;
    static const char units[] = "kmgt";
    long long unit = 1;
    const char *u = *s ? strchr(units, *s | 0x20) : NULL;
    if (ok && u) { unit = 1LL << (10 * (u - units + 1)); s++; }
    if (ok && (*s | 0x20) == 'i') s++;
    if (ok && (*s | 0x20) == 'b') s++;
    while (ok && py_space(*s)) s++;
    if (!ok || *s) fail(fmt("size %s is not a number of bytes such as 256M or 1G", py_repr(text)));
    char *copy = strndup(num, numend - num);
    double value = strtod(copy, NULL) * (double)unit;
    free(copy);
    if (!(value < 9.2e18)) fallback("a size too large for a 64-bit count");
    return (long long)value;
}

static void random_id(char *out)
{
    unsigned char bytes[6];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) fail("getrandom failed");
    for (int i = 0; i < 6; i++) sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void build_spec(struct args *a, struct spec *s)
{
    memset(s, 0, sizeof *s);
    int from = a->ncommand && !strcmp(a->command[0], "--") ? 1 : 0;
    for (int i = from; i < a->ncommand; i++) strv_add(&s->command, a->command[i]);
    struct strv base = {0};
    if (a->rootfs && *a->rootfs) {
        strv_add(&base, path_resolve(a->rootfs));
    } else {
        load_stack(a->stack && *a->stack ? a->stack : "host", s, &base);
    }
    for (int i = a->layers.n - 1; i >= 0; i--) strv_add(&s->layers, path_resolve(a->layers.v[i]));
    for (int i = 0; i < base.n; i++) strv_add(&s->layers, base.v[i]);
    for (int i = 0; i < a->envs.n; i++) {
        if (!strchr(a->envs.v[i], '=')) fail(fmt("--env %s must be NAME=VALUE", py_repr(a->envs.v[i])));
        strv_add(&s->env, a->envs.v[i]);
    }
    for (int i = 0; i < a->volumes.n; i++) {
        char *item = a->volumes.v[i];
        struct strv parts = {0};
        char *copy = xstrdup(item), *p = copy;
        for (char *colon; (colon = strchr(p, ':')); p = colon + 1) { *colon = 0; strv_add(&parts, p); }
        strv_add(&parts, p);
        if ((parts.n != 2 && parts.n != 3) ||
            (parts.n == 3 && strcmp(parts.v[2], "ro") && strcmp(parts.v[2], "rw")))
            fail(fmt("--volume %s must be HOST:CONTAINER[:ro|rw]", py_repr(item)));
        add_bind(s, path_resolve(parts.v[0]), parts.v[1], parts.n == 2 || !strcmp(parts.v[2], "ro"));
    }
    s->memory = parse_size(a->memory);
    s->tmp = parse_size(a->tmp_size);
    s->disk = parse_size(a->disk);
    s->has_cpus = a->has_cpus;
    s->cpus = a->cpus;
    s->pids = a->pids;
    s->workdir = a->workdir;
    s->user = a->user;
    s->hostname = a->hostname;
    s->network = a->network;
    s->seccomp = !a->no_seccomp;
    if (a->name && *a->name) {
        s->id = a->name;
    } else {
        s->id = malloc(13);
        random_id(s->id);
    }
}

/* ---- the rootfs seen from the host (rootview.RootView) ------------------------------ */

struct vbind { char *dst, *src; };
struct view { struct strv layers; struct vbind *binds; int nbinds; };

static void view_init(struct view *v, const struct spec *s)
{
    v->layers = s->layers;
    v->nbinds = s->nbinds;
    v->binds = calloc(s->nbinds + 1, sizeof *v->binds);
    for (int i = 0; i < s->nbinds; i++) {
        char *dst = xstrdup(s->binds[i].dst);
        size_t n = strlen(dst);
        while (n && dst[n - 1] == '/') dst[--n] = 0;
        v->binds[i] = (struct vbind){*dst ? dst : xstrdup("/"), s->binds[i].src};
    }
    /* Longest destination first (a stable sort, as sorted(reverse=True) is). */
    for (int i = 1; i < v->nbinds; i++)
        for (int j = i; j > 0 && strlen(v->binds[j].dst) > strlen(v->binds[j - 1].dst); j--) {
            struct vbind t = v->binds[j]; v->binds[j] = v->binds[j - 1]; v->binds[j - 1] = t;
        }
}

/* Path(base) / rel for a clean rel ("" gives base). */
static char *under(const char *base, const char *rel)
{
    return *rel ? path_join(base, rel) : xstrdup(base);
}

/* The host file behind a container path, no symlink followed; NULL if none. */
static char *host_path(const struct view *v, const char *path)
{
    for (int i = 0; i < v->nbinds; i++) {
        const char *dst = v->binds[i].dst;
        size_t n = strlen(dst);
        if (!strcmp(path, dst) || (starts_with(path, dst) && path[n] == '/')) {
            const char *rel = path + n;
            while (*rel == '/') rel++;
            char *candidate = under(v->binds[i].src, rel);
            return lexists(candidate) ? candidate : NULL;
        }
    }
    const char *rel = path;
    while (*rel == '/') rel++;
    for (int i = 0; i < v->layers.n; i++) {
        char *candidate = under(v->layers.v[i], rel);
        if (lexists(candidate)) return candidate;
        free(candidate);
    }
    return NULL;
}

/* rootview._climbs_out */
static int climbs_out(int depth, const char *target)
{
    char *copy = xstrdup(target), *save;
    for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
        if (!strcmp(name, "..")) { if (--depth < 0) return 1; }
        else if (strcmp(name, ".")) depth++;
    }
    return 0;
}

/* Split into the parts rootview keeps (no "" or "."), appended to `out`. */
static void split_parts(const char *path, struct strv *out)
{
    char *copy = xstrdup(path), *save;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
        if (strcmp(c, ".")) strv_add(out, c);
}

static char *join_parts(struct strv *parts, int n)
{
    struct buf b = {0};
    buf_str(&b, "/");
    for (int i = 0; i < n; i++) { if (i) buf_str(&b, "/"); buf_str(&b, parts->v[i]); }
    return b.p;
}

/* RootView.resolve: symlinks followed inside the rootfs; escapes refused. */
static char *view_resolve(const struct view *v, const char *path)
{
    struct strv pending = {0}, out = {0};
    split_parts(path, &pending);
    int at = 0, hops = 0;
    while (at < pending.n) {
        char *name = pending.v[at++];
        if (!strcmp(name, "..")) {
            if (!out.n) fail(fmt("path %s escapes the rootfs", path));
            out.n--;
            continue;
        }
        strv_add(&out, name);
        char *current = join_parts(&out, out.n);
        out.n--;
        char *host = host_path(v, current);
        struct stat st;
        if (host && lstat(host, &st) == 0 && S_ISLNK(st.st_mode)) {
            if (++hops > MAX_SYMLINKS) fail(fmt("path %s has too many levels of symlinks", path));
            char target[PATH_MAX];
            ssize_t n = readlink(host, target, sizeof target - 1);
            if (n < 0) fail(py_oserror(errno, host));
            target[n] = 0;
            for (const unsigned char *c = (const unsigned char *)target; *c; c++)
                if (*c >= 0x80) fallback("a non-ASCII symlink target");
            if (target[0] == '/') out.n = 0;
            else if (climbs_out(out.n, target)) fail(fmt("symlink %s -> %s escapes the rootfs", current, target));
            struct strv rest = {0};
            split_parts(target, &rest);
            for (int i = at; i < pending.n; i++) strv_add(&rest, pending.v[i]);
            pending = rest;
            at = 0;
            continue;
        }
        strv_add(&out, name);
    }
    return join_parts(&out, out.n);
}

static int view_is_dir(const struct view *v, const char *path)
{
    char *host = host_path(v, view_resolve(v, path));
    return host && is_dir(host);
}

/* RootView.find_command: the container path of an executable, like execvp. */
static char *find_command(const struct view *v, const char *command, const char *search, const char *cwd)
{
    struct strv candidates = {0};
    if (strchr(command, '/')) {
        strv_add(&candidates, command[0] == '/' ? xstrdup(command) : path_join(cwd, command));
    } else {
        char *copy = xstrdup(search), *p = copy;
        for (char *colon;; p = colon + 1) {
            colon = strchr(p, ':');
            if (colon) *colon = 0;
            strv_add(&candidates, path_join(*p ? p : "/", command));
            if (!colon) break;
        }
    }
    for (int i = 0; i < candidates.n; i++) {
        if (candidates.v[i][0] != '/') continue;
        char *resolved = view_resolve(v, candidates.v[i]);
        char *host = host_path(v, resolved);
        if (!host) continue;
        struct stat st;
        if (stat(host, &st) < 0) fallback("a command whose stat fails (Python reports it its own way)");
        if (S_ISREG(st.st_mode) && (st.st_mode & 0111)) return resolved;
    }
    return NULL;
}

/* RootView.read_text, ASCII only (anything else is Python's to decode). */
static char *view_read_text(const struct view *v, const char *path)
{
    char *host = host_path(v, view_resolve(v, path));
    struct stat st;
    if (!host || stat(host, &st) < 0 || !S_ISREG(st.st_mode)) return NULL;
    char *text = read_file(host, NULL);
    if (!text) fallback("an unreadable file in the rootfs");
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if (*c >= 0x80) fallback("a non-ASCII file in the rootfs");
    return text;
}

/* A whole-number field of /etc/passwd, when int() reads it plainly. */
static long long passwd_number(const char *field)
{
    if (!all_digits(field) || strlen(field) > 18) fallback("an /etc/passwd number int() may read differently");
    return atoll(field);
}

/* rootview.resolve_user: uid and gid of a passwd name, or a numeric uid[:gid]. */
static void resolve_user(const struct view *v, const char *user, long long *uid, long long *gid)
{
    char *name = xstrdup(user), *group = strchr(name, ':');
    if (group) *group++ = 0; else group = "";
    int group_digits = all_digits(group);
    if (group_digits && strlen(group) > 18) fallback("a gid too long");
    if (all_digits(name)) {
        if (strlen(name) > 18) fallback("a uid too long");
        *uid = atoll(name);
        *gid = group_digits ? atoll(group) : *uid;
        return;
    }
    char *passwd = view_read_text(v, "/etc/passwd");
    if (passwd) {
        /* str.splitlines() breaks at these ASCII characters. */
        for (char *p = passwd; *p; p++) if (strchr("\r\x0b\x0c\x1c\x1d\x1e", *p)) *p = '\n';
        for (char *save, *line = strtok_r(passwd, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            struct strv fields = {0};
            char *p = line;
            for (char *colon; (colon = strchr(p, ':')); p = colon + 1) { *colon = 0; strv_add(&fields, p); }
            strv_add(&fields, p);
            if (fields.n >= 4 && !strcmp(fields.v[0], name)) {
                *uid = passwd_number(fields.v[2]);
                *gid = group_digits ? atoll(group) : passwd_number(fields.v[3]);
                return;
            }
        }
    }
    if (!strcmp(name, DEFAULT_USER)) { *uid = *gid = DEFAULT_UID; return; }
    fail(fmt("user %s is not in the rootfs' /etc/passwd", py_repr(name)));
}

/* ---- the checks (validate.CHECKS, in their order) ------------------------------------ */

static const char *env_get(const struct spec *s, const char *name)
{
    const char *found = NULL;
    size_t n = strlen(name);
    for (int i = 0; i < s->env.n; i++)  /* dict(): the last one given wins */
        if (!strncmp(s->env.v[i], name, n) && s->env.v[i][n] == '=') found = s->env.v[i] + n + 1;
    return found;
}

static void check_id(const struct spec *s)
{
    const char *p = s->id;
    int ok = is_digit(*p) || (*p >= 'a' && *p <= 'z');
    int n = 0;
    for (p++; ok && !at_end(p); p++, n++)
        ok = (is_digit(*p) || (*p >= 'a' && *p <= 'z') || strchr("_.-", *p)) && *p && n < 63;
    if (!ok) fail(fmt("container id %s must be 1-64 of a-z, 0-9, '_', '.', '-'", py_repr(s->id)));
    /* A trailing newline passes the regex; such a directory name is Python's business. */
    if (strchr(s->id, '\n')) fallback("an id ending in a newline");
}

static void check_command(const struct spec *s)
{
    if (!s->command.n || !s->command.v[0][0]) fail("no command given");
}

static void check_limits(const struct spec *s)
{
    if (s->memory < MIN_MEMORY)
        fail(fmt("memory limit %lld bytes is below the minimum of %lldM", s->memory, MIN_MEMORY >> 20));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);  /* os.cpu_count() */
    if (cpus < 1) cpus = 1;
    if (s->has_cpus && !(0.01 <= s->cpus && s->cpus <= (double)cpus))
        fail(fmt("cpus %s must be between 0.01 and %ld", py_float_repr(s->cpus), cpus));
    if (s->pids < MIN_PIDS) fail(fmt("pids limit %lld is below the minimum of %d", s->pids, MIN_PIDS));
    if (s->tmp < MIN_TMP_DISK || s->disk < MIN_TMP_DISK) fail("tmp and disk sizes must be at least 1M");
}

static void check_hostname(const struct spec *s)
{
    const char *h = s->hostname;
    if (!*h) return;
    size_t n = strlen(h);
    if (h[n - 1] == '\n') fallback("a hostname ending in a newline");
    int ok = is_alnum(h[0]) && n <= 63 && is_alnum(h[n - 1]);
    for (size_t i = 1; ok && i + 1 < n; i++) ok = is_alnum(h[i]) || h[i] == '-';
    if (!ok) fail(fmt("hostname %s is not a valid DNS label", py_repr(h)));
}

static void check_env(const struct spec *s)
{
    for (int i = 0; i < s->env.n; i++) {
        char *name = strndup(s->env.v[i], strchr(s->env.v[i], '=') - s->env.v[i]);
        const char *p = name;
        int ok = is_alpha(*p) || *p == '_';
        for (p++; ok && !at_end(p); p++) ok = is_alnum(*p) || *p == '_';
        if (!ok) fail(fmt("environment variable name %s is invalid", py_repr(name)));
        if (strchr(name, '\n')) fallback("an environment name ending in a newline");
    }
}

static void check_layers(const struct spec *s)
{
    if (!s->layers.n) fail("no rootfs layer given");
    for (int i = 0; i < s->layers.n; i++) {
        const char *layer = s->layers.v[i];
        if (!is_dir(layer)) fail(fmt("layer %s does not exist or is not a directory", layer));
        if (strpbrk(layer, ":,\n")) fail(fmt("layer path %s contains ':' or ',' which overlayfs cannot take", layer));
    }
}

static void check_binds(const struct spec *s)
{
    for (int i = 0; i < s->nbinds; i++) {
        if (!exists(s->binds[i].src)) fail(fmt("mount source %s does not exist", s->binds[i].src));
        const char *dst = s->binds[i].dst;
        int dotdot = 0;
        for (const char *p = dst; *p; p++)
            if ((p == dst || p[-1] == '/') && p[0] == '.' && p[1] == '.' && (!p[2] || p[2] == '/')) dotdot = 1;
        if (dst[0] != '/' || dotdot)
            fail(fmt("mount destination %s must be an absolute path without '..'", py_repr(dst)));
    }
}

static void check_mount_point(const struct view *v, const char *dst)
{
    if (strcmp(view_resolve(v, dst), normpath(dst))) fail(fmt("mount point %s is a symlink in the rootfs", dst));
}

static void check_mount_points(const struct spec *s, const struct view *v)
{
    for (int i = 0; SYSTEM_MOUNT_POINTS[i]; i++) check_mount_point(v, SYSTEM_MOUNT_POINTS[i]);
    for (int i = 0; i < s->nbinds; i++) check_mount_point(v, s->binds[i].dst);
}

static void check_workdir(const struct spec *s, const struct view *v)
{
    if (s->workdir[0] != '/') fail(fmt("workdir %s must be an absolute path", py_repr(s->workdir)));
    if (!view_is_dir(v, s->workdir)) fail(fmt("workdir %s does not exist in the rootfs", s->workdir));
}

static void check_executable(const struct spec *s, const struct view *v)
{
    const char *search = env_get(s, "PATH");
    if (!search) search = DEFAULT_PATH;
    if (!find_command(v, s->command.v[0], search, s->workdir))
        fail(fmt("command %s not found in the rootfs (PATH=%s)", py_repr(s->command.v[0]), search));
}

/* validate.NAME_KEEPS: paths and the user keep no control character. Only tab and
 * newline get this far (runner_main sent the rest to Python); where a field may not
 * keep them, Python's checks decide, in their order and with their message. */
static int has_tab_or_newline(const char *p) { return p && strpbrk(p, "\t\n"); }

static void check_controls(const struct spec *s)
{
    int found = has_tab_or_newline(s->workdir) || has_tab_or_newline(s->user);
    for (int i = 0; i < s->layers.n; i++) found = found || has_tab_or_newline(s->layers.v[i]);
    for (int i = 0; i < s->nbinds; i++)
        found = found || has_tab_or_newline(s->binds[i].src) || has_tab_or_newline(s->binds[i].dst);
    if (found) fallback("a tab or newline in a path or the user");
}

/* validate.validate, then create's resolve_user: the uid and gid to run as. */
static void validate(const struct spec *s, struct view *v, long long *uid, long long *gid)
{
    check_controls(s);
    view_init(v, s);
    check_id(s);
    check_command(s);
    check_limits(s);
    /* check_network: only none and host get here (the rest is Python's). */
    check_hostname(s);
    check_env(s);
    check_layers(s);
    check_binds(s);
    check_mount_points(s, v);
    check_workdir(s, v);
    resolve_user(v, s->user, uid, gid);   /* check_user */
    check_executable(s, v);
}

/* ---- the host side (container.create, cgroups.py) ------------------------------------ */

static struct {
    const struct spec *spec;
    char *dir;                  /* instance directory */
    struct strv cgroup_dirs;    /* Cgroup.dirs() */
    double created_at, started_at, finished_at;
    long long pid, pid_start;
    int has_exit; int exit_code, oom_killed;
    const char *error;
} ct;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Path.mkdir(parents=True, exist_ok=True) */
static void mkdir_p(const char *path, mode_t mode)
{
    char *copy = xstrdup(path);
    for (char *p = copy + 1;; p++) {
        if (*p && *p != '/') continue;
        char saved = *p;
        *p = 0;
        if (mkdir(copy, mode) < 0 && !(errno == EEXIST && is_dir(copy))) fail(py_oserror(errno, copy));
        *p = saved;
        if (!saved) break;
    }
}

static void cgroup_dirs(const char *id, struct strv *out)
{
    if (cfg.cgroup_version == 2) {
        strv_add(out, fmt("%s/%s/%s", cfg.v2_root, cfg.cgroup_parent, id));
        return;
    }
    for (int i = 0; V1_CONTROLLERS[i]; i++)
        if (is_dir(fmt("/sys/fs/cgroup/%s", V1_CONTROLLERS[i])))
            strv_add(out, fmt("/sys/fs/cgroup/%s/%s/%s", V1_CONTROLLERS[i], cfg.cgroup_parent, id));
}

/* cgroups._write: the message names the value as repr() does (quoted if a str). */
static void cg_write(const char *dir, const char *file, const char *value, int quoted)
{
    char *path = fmt("%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    int ok = fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    int e = errno;
    if (fd >= 0 && close(fd) < 0 && ok) { ok = 0; e = errno; }
    if (!ok) fail(fmt("writing %s to %s: %s", quoted ? py_repr(value) : value, path, strerror(e)));
}

static char *cpu_quota(const struct spec *s, const char *none)
{
    return s->has_cpus && s->cpus ? fmt("%lld", (long long)(s->cpus * CFS_PERIOD_US)) : xstrdup(none);
}

static void cgroup_create_v1(const struct spec *s)
{
    for (int i = 0; i < ct.cgroup_dirs.n; i++) mkdir_p(ct.cgroup_dirs.v[i], 0777);
    char *mem = fmt("/sys/fs/cgroup/memory/%s/%s", cfg.cgroup_parent, s->id);
    char *cpu = fmt("/sys/fs/cgroup/cpu/%s/%s", cfg.cgroup_parent, s->id);
    char *pids = fmt("/sys/fs/cgroup/pids/%s/%s", cfg.cgroup_parent, s->id);
    char *limit = fmt("%lld", s->memory);
    cg_write(mem, "memory.limit_in_bytes", limit, 0);
    /* memsw = memory + swap: equal to the limit forbids swap (only if the kernel accounts swap). */
    if (exists(fmt("%s/memory.memsw.limit_in_bytes", mem))) cg_write(mem, "memory.memsw.limit_in_bytes", limit, 0);
    cg_write(mem, "memory.swappiness", "0", 0);
    cg_write(cpu, "cpu.shares", fmt("%d", CPU_SHARES), 0);
    cg_write(cpu, "cpu.cfs_period_us", fmt("%d", CFS_PERIOD_US), 0);
    cg_write(cpu, "cpu.cfs_quota_us", cpu_quota(s, "-1"), 0);
    cg_write(pids, "pids.max", fmt("%lld", s->pids), 0);
}

static void mkdir_exist_ok(const char *path)
{
    if (mkdir(path, 0777) < 0 && !(errno == EEXIST && is_dir(path))) fail(py_oserror(errno, path));
}

static void cgroup_create_v2(const struct spec *s)
{
    char *parent = fmt("%s/%s", cfg.v2_root, cfg.cgroup_parent);
    mkdir_exist_ok(parent);
    /* Controllers must be enabled on every level above the leaf. */
    struct buf wanted = {0};
    for (int i = 0; V2_CONTROLLERS[i]; i++) { if (i) buf_str(&wanted, " "); buf_str(&wanted, "+"); buf_str(&wanted, V2_CONTROLLERS[i]); }
    cg_write(cfg.v2_root, "cgroup.subtree_control", wanted.p, 1);
    cg_write(parent, "cgroup.subtree_control", wanted.p, 1);
    char *leaf = ct.cgroup_dirs.v[0];
    mkdir_exist_ok(leaf);
    cg_write(leaf, "memory.max", fmt("%lld", s->memory), 0);
    if (exists(fmt("%s/memory.swap.max", leaf))) cg_write(leaf, "memory.swap.max", "0", 0);
    cg_write(leaf, "cpu.max", fmt("%s %d", cpu_quota(s, "max"), CFS_PERIOD_US), 1);
    /* The documented shares -> weight mapping (runc's ConvertCPUSharesToCgroupV2Value). */
    cg_write(leaf, "cpu.weight", fmt("%d", 1 + ((CPU_SHARES - 2) * 9999) / 262142), 0);
    cg_write(leaf, "pids.max", fmt("%lld", s->pids), 0);
}

static void cgroup_kill_all(void)
{
    if (cfg.cgroup_version == 2) {
        char *kill_file = fmt("%s/cgroup.kill", ct.cgroup_dirs.v[0]);
        if (exists(kill_file)) {
            int fd = open(kill_file, O_WRONLY | O_CLOEXEC);
            int ok = fd >= 0 && write(fd, "1", 1) == 1;
            if (fd >= 0) close(fd);
            if (ok) return;
        }
    }
    for (int i = 0; i < ct.cgroup_dirs.n; i++) {
        char *procs = read_file(fmt("%s/cgroup.procs", ct.cgroup_dirs.v[i]), NULL);
        if (!procs) continue;
        for (char *save, *w = strtok_r(procs, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
            kill(atoi(w), SIGKILL);
        free(procs);
    }
}

/* Cgroup.remove: kill what is left and wait for the kernel to let go. NULL or the error. */
static char *cgroup_remove(void)
{
    double deadline = now() + CGROUP_EBUSY_TIMEOUT;
    for (int i = 0; i < ct.cgroup_dirs.n; i++) {
        const char *d = ct.cgroup_dirs.v[i];
        while (is_dir(d)) {
            cgroup_kill_all();
            if (rmdir(d) == 0) continue;
            if (errno == ENOENT) break;
            if (errno != EBUSY || now() > deadline) return fmt("removing %s: %s", d, strerror(errno));
            usleep(10000);
        }
    }
    return NULL;
}

/* cgroups: memory.oom_control (v1: oom_kill or under_oom) or memory.events (v2). */
static int cgroup_oom_killed(void)
{
    const char *dir = cfg.cgroup_version == 2 ? ct.cgroup_dirs.v[0]
                                              : fmt("/sys/fs/cgroup/memory/%s/%s", cfg.cgroup_parent, ct.spec->id);
    char *text = read_file(fmt("%s/%s", dir, cfg.cgroup_version == 2 ? "memory.events" : "memory.oom_control"), NULL);
    if (!text) return 0;
    for (char *save, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[64];
        long long value;
        if (sscanf(line, "%63s %lld", key, &value) != 2 || value <= 0) continue;
        if (!strcmp(key, "oom_kill") || (cfg.cgroup_version == 1 && !strcmp(key, "under_oom"))) return 1;
    }
    return 0;
}

/* container._remove_tree: rm -rf, symlinks removed and never followed, errors ignored. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *child = fmt("%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(child);
            else unlink(child);
            free(child);
        }
        closedir(d);
    }
    rmdir(path);
}

/* container.release: processes, cgroup, files (none and host have no network to undo). */
static char *release_error;
static void release_container(void)
{
    cgroup_kill_all();
    release_error = cgroup_remove();
    /* Python stops at a cgroup error and leaves the directory; nothing is left here. */
    remove_tree(ct.dir);
    self.committed = 0;
}

static void write_whole(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) fail(py_oserror(errno, path));
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0) { if (errno == EINTR) continue; fail(py_oserror(errno, path)); }
        done += n;
    }
    if (close(fd) < 0) fail(py_oserror(errno, path));
}

static void chmod_or_fail(const char *path, mode_t mode)
{
    if (chmod(path, mode) < 0) fail(py_oserror(errno, path));
}

/* container._etc_files: the generated /etc layer, readable whatever our umask. */
static void write_etc(const struct spec *s)
{
    const char *hostname = *s->hostname ? s->hostname : s->id;
    char *etclayer = fmt("%s/etclayer", ct.dir), *etc = fmt("%s/etc", etclayer);
    mkdir_p(etc, 0777);
    char *hosts = fmt("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", hostname);
    char *resolv;
    if (!strcmp(s->network, "none")) {
        resolv = "# no network: loopback only\n";
    } else {
        resolv = read_file("/etc/resolv.conf", NULL);
        if (!resolv) resolv = "";
    }
    const char *names[] = {"hosts", "hostname", "resolv.conf"};
    const char *texts[] = {hosts, fmt("%s\n", hostname), resolv};
    for (int i = 0; i < 3; i++) {
        char *path = fmt("%s/%s", etc, names[i]);
        write_whole(path, texts[i], strlen(texts[i]), 0666);
        chmod_or_fail(path, 0644);
    }
    chmod_or_fail(etc, 0755);
    chmod_or_fail(etclayer, 0755);
}

static void token(struct buf *b, const char *t) { buf_add(b, t, strlen(t) + 1); }

/* container._spec_tokens: the record list paas-init reads (load_spec). */
static void write_spec(const struct spec *s, long long uid, long long gid, int detach)
{
    struct buf b = {0};
    for (int i = 0; i < ct.cgroup_dirs.n; i++) { token(&b, "cgroup"); token(&b, fmt("%s/cgroup.procs", ct.cgroup_dirs.v[i])); }
    if (!strcmp(s->network, "none")) token(&b, "newnet");
    const char *hostname = *s->hostname ? s->hostname : s->id;
    token(&b, "hostname"); token(&b, hostname);
    token(&b, "scratch"); token(&b, fmt("%s/scratch", ct.dir)); token(&b, fmt("%lld", s->disk));
    token(&b, "lower"); token(&b, fmt("%s/etclayer", ct.dir));
    for (int i = 0; i < s->layers.n; i++) { token(&b, "lower"); token(&b, s->layers.v[i]); }
    for (int i = 0; i < s->nbinds; i++) {
        token(&b, "bind"); token(&b, s->binds[i].src); token(&b, s->binds[i].dst); token(&b, s->binds[i].ro ? "ro" : "rw");
    }
    token(&b, "tmpfs"); token(&b, "/tmp"); token(&b, fmt("%lld", s->tmp)); token(&b, "1777");
    for (int i = 0; MASKED_PATHS[i]; i++) { token(&b, "mask"); token(&b, MASKED_PATHS[i]); }
    for (int i = 0; READONLY_PATHS[i]; i++) { token(&b, "ro"); token(&b, READONLY_PATHS[i]); }
    token(&b, "uid"); token(&b, fmt("%lld", uid));
    token(&b, "gid"); token(&b, fmt("%lld", gid));
    token(&b, "cwd"); token(&b, s->workdir);
    /* {"PATH", "HOSTNAME", "HOME"} updated by the spec's env: a dict keeps
     * each name where it first appeared, with the last value given. */
    struct strv env = {0};
    strv_add(&env, "PATH=" DEFAULT_PATH);
    strv_add(&env, fmt("HOSTNAME=%s", hostname));
    strv_add(&env, "HOME=/");
    for (int i = 0; i < s->env.n; i++) {
        size_t n = strchr(s->env.v[i], '=') - s->env.v[i] + 1;
        int j = 0;
        while (j < env.n && strncmp(env.v[j], s->env.v[i], n)) j++;
        if (j < env.n) env.v[j] = s->env.v[i];
        else strv_add(&env, s->env.v[i]);
    }
    for (int i = 0; i < env.n; i++) { token(&b, "env"); token(&b, env.v[i]); }
    for (int i = 0; i < s->command.n; i++) { token(&b, "arg"); token(&b, s->command.v[i]); }
    token(&b, "status"); token(&b, fmt("%s/status", ct.dir));
    if (detach) { token(&b, "pidfile"); token(&b, fmt("%s/pid", ct.dir)); }
    if (s->seccomp) token(&b, "seccomp");
    write_whole(fmt("%s/%s", ct.dir, detach ? "spec.detach" : "spec.fg"), b.p, b.n, 0666);
}

static void json_str(struct buf *b, const char *s)
{
    buf_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') { esc[0] = '\\'; esc[1] = *p; buf_add(b, esc, 2); }
        else if (*p == '\n') buf_str(b, "\\n");
        else if (*p < 0x20 || *p == 0x7f) { snprintf(esc, sizeof esc, "\\u%04x", *p); buf_str(b, esc); }
        else buf_add(b, p, 1);
    }
    buf_str(b, "\"");
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* state.Record.save: state.json as json.dumps(asdict(record), sort_keys=True)
 * writes it, through a temporary file and a rename. */
static void save_state(const char *state)
{
    const struct spec *s = ct.spec;
    struct buf b = {0};
    buf_str(&b, "{\"created_at\": ");
    buf_str(&b, py_float_repr(ct.created_at));
    buf_str(&b, ", \"error\": ");
    json_str(&b, ct.error ? ct.error : "");
    buf_str(&b, ", \"exit_code\": ");
    buf_str(&b, ct.has_exit ? fmt("%d", ct.exit_code) : "null");
    buf_str(&b, ", \"finished_at\": ");
    buf_str(&b, py_float_repr(ct.finished_at));
    buf_str(&b, ", \"id\": ");
    json_str(&b, s->id);
    buf_str(&b, ", \"labels\": {\"app\": \"\", \"process\": \"\", \"release\": \"\"}, \"network\": {");
    /* network.Attachment(mode=...).to_dict(), keys sorted */
    struct strv items = {0};
    strv_add(&items, fmt("\"mode\": \"%s\"", s->network));
    for (int i = 0; ATTACHMENT_STRINGS[i]; i++) strv_add(&items, fmt("\"%s\": \"\"", ATTACHMENT_STRINGS[i]));
    for (int i = 0; ATTACHMENT_INTS[i]; i++) strv_add(&items, fmt("\"%s\": 0", ATTACHMENT_INTS[i]));
    qsort(items.v, items.n, sizeof *items.v, by_name);
    for (int i = 0; i < items.n; i++) { if (i) buf_str(&b, ", "); buf_str(&b, items.v[i]); }
    buf_str(&b, fmt("}, \"oom_killed\": %s, \"pid\": %lld, \"pid_start\": %lld, \"port\": null, \"started_at\": ",
                    ct.oom_killed ? "true" : "false", ct.pid, ct.pid_start));
    buf_str(&b, py_float_repr(ct.started_at));
    buf_str(&b, fmt(", \"state\": \"%s\", \"stop_grace\": null}", state));
    char *tmp = fmt("%s/state.json.%d.tmp", ct.dir, getpid());
    write_whole(tmp, b.p, b.n, 0666);
    if (rename(tmp, fmt("%s/state.json", ct.dir)) < 0) fail(py_oserror(errno, tmp));
}

/* ---- signals ------------------------------------------------------------------------ */

static volatile sig_atomic_t pending_signal, helper;
static struct sigaction original[NSIG];
static const int HANDLED[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, 0};

static void note_signal(int sig) { pending_signal = sig; }
static void relay_signal(int sig) { if (helper > 0) kill(helper, sig); }

static void set_handler(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Until the helper runs, a signal only takes note; it is acted on at the next
 * checkpoint, where whatever exists is released first. */
static void note_signals(void)
{
    for (int i = 0; HANDLED[i]; i++) {
        sigaction(HANDLED[i], NULL, &original[HANDLED[i]]);
        if (original[HANDLED[i]].sa_handler != SIG_IGN) set_handler(HANDLED[i], note_signal);
    }
}

/* A checkpoint: interrupted (Ctrl-C, kill) means release and die of that signal. */
static void checkpoint(void)
{
    if (!pending_signal) return;
    int sig = pending_signal;
    if (self.committed) release_container();
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig);
}

/* ---- run (container.run) --------------------------------------------------------------- */

static long long process_start_time(pid_t pid)
{
    char *stat = read_file(fmt("/proc/%d/stat", pid), NULL);
    char *p = stat ? strrchr(stat, ')') : NULL;
    if (!p) return 0;
    p += 2;
    for (int field = 0; field < 19; field++) {
        p = strchr(p, ' ');
        if (!p) return 0;
        p++;
    }
    return atoll(p);
}

/* The helper's process as posix_spawn makes it in Python: default SIGPIPE and
 * SIGXFSZ, the caller's other dispositions, no descriptor beyond stdio. */
__attribute__((noreturn)) static void become_helper(const sigset_t *mask)
{
    for (int i = 0; HANDLED[i]; i++) sigaction(HANDLED[i], &original[HANDLED[i]], NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
        for (int fd = 3; fd < 65536; fd++) close(fd);
    char *argv[] = {"paas-init", fmt("%s/spec.fg", ct.dir), NULL};
    _exit(paas_init_main(2, argv));
}

/* Start the helper and wait for it; its exit code (or -N after signal N, as Popen gives). */
static int run_helper(void)
{
    sigset_t block, old;
    sigemptyset(&block);
    for (int i = 0; HANDLED[i]; i++) sigaddset(&block, HANDLED[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    checkpoint();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail(py_oserror(errno, "fork"));
    if (pid == 0) become_helper(&old);
    helper = pid;
    /* Ctrl-C reaches the whole foreground process group, the app included;
     * we stay to clean up, and relay a SIGTERM (or SIGHUP) sent to us alone. */
    for (int i = 0; HANDLED[i]; i++) {
        if (original[HANDLED[i]].sa_handler == SIG_IGN) continue;
        if (HANDLED[i] == SIGINT || HANDLED[i] == SIGQUIT) signal(HANDLED[i], SIG_IGN);
        else set_handler(HANDLED[i], relay_signal);
    }
    if (pending_signal == SIGTERM || pending_signal == SIGHUP) kill(pid, pending_signal);
    pending_signal = 0;
    ct.pid = pid;
    ct.pid_start = process_start_time(pid);
    ct.started_at = now();
    save_state("running");
    sigprocmask(SIG_SETMASK, &old, NULL);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) fail(py_oserror(errno, "waitpid"));
    helper = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* Container.outcome: exit code and OOM verdict from the status file and the cgroup. */
static void outcome(int helper_code)
{
    int code = helper_code;
    char *status = read_file(fmt("%s/status", ct.dir), NULL);
    if (status) {
        for (char *save, *line = strtok_r(status, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (starts_with(line, "error ") && !ct.error) ct.error = line + strlen("error ");
            else if (starts_with(line, "exit ") && all_digits(line + 5)) code = atoi(line + 5);
            else if (starts_with(line, "signal ") && all_digits(line + 7)) code = 128 + atoi(line + 7);
        }
    }
    if (ct.error) code = EXIT_BAD_INPUT;
    ct.oom_killed = cgroup_oom_killed();
    if (ct.oom_killed && (code == 128 + SIGKILL || code == EXIT_BAD_INPUT)) code = 128 + SIGKILL;
    ct.has_exit = 1;
    ct.exit_code = code;
    ct.finished_at = now();
    save_state("stopped");
}

/* container.create then container.run, for a validated spec. */
static int create_and_run(const struct spec *s, long long uid, long long gid)
{
    ct.spec = s;
    cgroup_dirs(s->id, &ct.cgroup_dirs);
    mkdir_p(cfg.instances, 0777);
    ct.dir = fmt("%s/%s", cfg.instances, s->id);
    checkpoint();
    if (mkdir(ct.dir, 0777) < 0) {
        if (errno == EEXIST) fail(fmt("a container named %s already exists on this host", s->id));
        fail(py_oserror(errno, ct.dir));
    }
    self.committed = 1;
    ct.created_at = now();
    mkdir_exist_ok(fmt("%s/scratch", ct.dir));
    /* The cgroup exists with its limits before any process does; the helper
     * joins it first thing, so user code never runs unlimited. */
    if (cfg.cgroup_version == 2) cgroup_create_v2(s); else cgroup_create_v1(s);
    write_etc(s);
    write_spec(s, uid, gid, 1);
    write_spec(s, uid, gid, 0);
    save_state("created");
    outcome(run_helper());
    release_container();
    if (release_error) {
        fprintf(stderr, "paas-runner: error: %s\n", release_error);
        return EXIT_BAD_INPUT;
    }
    if (ct.oom_killed) fprintf(stderr, "%s\n", OOM_MESSAGE);
    else if (ct.error) fprintf(stderr, "paas-runner: error: %s\n", ct.error);
    return ct.exit_code & 0xff;  /* sys.exit(-N) exits with -N & 0xff */
}

/* ---- entry points -------------------------------------------------------------------------- */

static void print_list(const char *name, const char *const *items)
{
    for (int i = 0; items[i]; i++) printf("%s %s\n", name, items[i]);
}

/* `paas-init --constants`: what test_front.py compares with the Python side. */
static int print_constants(void)
{
    printf("MIN_MEMORY %lld\nMIN_PIDS %d\nMIN_TMP_DISK %lld\nDEFAULT_PATH %s\n", MIN_MEMORY, MIN_PIDS, MIN_TMP_DISK, DEFAULT_PATH);
    printf("DEFAULT_USER %s\nDEFAULT_UID %d\nMAX_SYMLINKS %d\nCFS_PERIOD_US %d\nCPU_SHARES %d\n",
           DEFAULT_USER, DEFAULT_UID, MAX_SYMLINKS, CFS_PERIOD_US, CPU_SHARES);
    printf("EXIT_BAD_INPUT %d\nCGROUP_EBUSY_TIMEOUT %g\nOOM_MESSAGE %s\nDIGEST %s\n",
           EXIT_BAD_INPUT, CGROUP_EBUSY_TIMEOUT, OOM_MESSAGE, PAAS_DIGEST);
    print_list("MASKED_PATHS", MASKED_PATHS);
    print_list("READONLY_PATHS", READONLY_PATHS);
    print_list("V1_CONTROLLERS", V1_CONTROLLERS);
    print_list("V2_CONTROLLERS", V2_CONTROLLERS);
    print_list("SYSTEM_MOUNT_POINTS", SYSTEM_MOUNT_POINTS);
    print_list("ATTACHMENT_STRINGS", ATTACHMENT_STRINGS);
    print_list("ATTACHMENT_INTS", ATTACHMENT_INTS);
    print_list("SOURCES", SOURCES);
    static const char *kinds[] = {"str", "float", "int"};
    for (const struct option *o = RUN_OPTIONS; o->name; o++)
        printf("RUN_OPTION %s %s %d\n", o->name, kinds[o->kind], o->many);
    return 0;
}

static int runner_main(int argc, char **argv)
{
    self.argv = argv;
    find_launcher();
    if (!is_current()) {
        /* The launcher's Python rebuilds and reinstalls us (cli.refresh_native). */
        setenv("PAAS_RUNNER_STALE", "1", 1);
        fallback("this build is not the checkout's source");
    }
    if (argc < 2 || strcmp(argv[1], "run")) fallback("not `run`");
    /* Non-ASCII means Unicode rules (isdigit, \s, repr, UTF-8 encoding) that are Python's,
     * and so do control characters (validate.control_char): tab and newline are kept by
     * command arguments and environment values, the other fields' are caught by
     * check_controls; every other one is refused by Python with its own message. */
    for (int i = 1; i < argc; i++)
        for (const unsigned char *c = (const unsigned char *)argv[i]; *c; c++) {
            if (*c >= 0x80) fallback("a non-ASCII argument");
            if ((*c < 0x20 && *c != '\t' && *c != '\n') || *c == 0x7f) fallback("a control character");
        }
    struct args a;
    parse_run(argc, argv, &a);
    if (strcmp(a.network, "none") && strcmp(a.network, "host")) fallback("a network other than none and host");
    note_signals();
    load_settings();
    struct spec s;
    build_spec(&a, &s);
    struct view v;
    long long uid, gid;
    validate(&s, &v, &uid, &gid);
    return create_and_run(&s, uid, gid);
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (!strcmp(base, "paas-runner")) return runner_main(argc, argv);
    if (argc == 2 && !strcmp(argv[1], "--constants")) return print_constants();
    return paas_init_main(argc, argv);
}
