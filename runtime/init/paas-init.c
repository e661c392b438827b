/*
 * paas-init: the container start helper and PID 1 of every paas container.
 *
 * Python prepares everything that lives on the host (cgroup directories, the
 * network namespace, the instance's state directory and generated /etc) and
 * writes a spec file; this program then does, in one straight order:
 *
 *   host side   join the cgroups  -> setns(net) -> unshare(pid[,net]) -> fork PID 1
 *               (which unshares mnt,uts,ipc,cgroup), then either wait for it (foreground) or write
 *               its pid and exit (detached: no helper stays per container)
 *   PID 1       private mounts -> hostname -> tmpfs scratch + overlay rootfs
 *               -> binds, /proc, /sys ro, /dev, /tmp -> pivot_root -> masked
 *               and read-only paths -> loopback up -> fork the app
 *   app         oom_score_adj 0 -> chdir -> groups/gid -> drop bounding caps
 *               -> uid -> clear caps -> no_new_privs -> seccomp -> execve
 *   PID 1 then  drops every capability but CAP_KILL, reaps zombies, forwards
 *               signals to the app, and exits with the app's status after
 *               writing it to the status file.
 *
 * It is C and static so PID 1 costs ~100 KB per container instead of a
 * Python interpreter, and so a start needs no interpreter in the container.
 *
 * Spec file: a sequence of NUL-terminated strings; each record is a key
 * followed by a fixed number of values (see load_spec).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>


#define MAXLIST 128

struct bind { char *src, *dst; int ro; };
struct tmpfs { char *dst, *size, *mode; };

struct spec {
    char *cgroups[8]; int ncgroups;
    char *netns; int newnet;
    char *hostname;
    char *scratch, *scratch_size;
    char *lowers[32]; int nlowers;
    struct bind binds[64]; int nbinds;
    struct tmpfs tmpfs[8]; int ntmpfs;
    char *masks[MAXLIST]; int nmasks;
    char *ros[MAXLIST]; int nros;
    uid_t uid; gid_t gid;
    char *cwd;
    char *env[MAXLIST + 1]; int nenv;
    char *argv[MAXLIST + 1]; int nargv;
    char *status, *pidfile;
    int seccomp;
};

static int status_fd = -1;

static void die(const char *what, const char *arg)
{
    int e = errno;
    char line[1024];
    int n = snprintf(line, sizeof line, "paas-init: %s %s: %s\n", what, arg ? arg : "", strerror(e));
    if (write(2, line, n) < 0) { /* nothing left to report to */ }
    if (status_fd >= 0) {
        n = snprintf(line, sizeof line, "error %s %s: %s\n", what, arg ? arg : "", strerror(e));
        if (write(status_fd, line, n) < 0) { /* the exit code still tells */ }
    }
    _exit(125);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die("open", path);
    if (write(fd, text, strlen(text)) < 0) die("write", path);
    close(fd);
}

/* ---- spec ---------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open spec", path);
    struct stat st;
    if (fstat(fd, &st) < 0) die("stat spec", path);
    char *buf = malloc(st.st_size + 1);
    if (!buf) die("malloc", "spec");
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, st.st_size - got);
        if (n <= 0) die("read spec", path);
        got += n;
    }
    buf[got] = 0;
    close(fd);
    *len = got;
    return buf;
}

#define NEED(n) do { if (i + (n) > ntok) { errno = EINVAL; die("spec record truncated", key); } } while (0)
#define ROOM(count, arr) do { if ((count) >= (int)(sizeof(arr) / sizeof((arr)[0])) - 1) { errno = E2BIG; die("spec list too long", key); } } while (0)

static void load_spec(const char *path, struct spec *s)
{
    size_t len;
    char *buf = read_all(path, &len);
    char *tok[4096];
    int ntok = 0;
    for (size_t off = 0; off < len && ntok < 4096; off += strlen(buf + off) + 1)
        tok[ntok++] = buf + off;
    memset(s, 0, sizeof *s);
    s->uid = s->gid = 65534;
    for (int i = 0; i < ntok;) {
        char *key = tok[i++];
        if (!strcmp(key, "cgroup")) { NEED(1); ROOM(s->ncgroups, s->cgroups); s->cgroups[s->ncgroups++] = tok[i++]; }
        else if (!strcmp(key, "netns")) { NEED(1); s->netns = tok[i++]; }
        else if (!strcmp(key, "newnet")) { s->newnet = 1; }
        else if (!strcmp(key, "hostname")) { NEED(1); s->hostname = tok[i++]; }
        else if (!strcmp(key, "scratch")) { NEED(2); s->scratch = tok[i++]; s->scratch_size = tok[i++]; }
        else if (!strcmp(key, "lower")) { NEED(1); ROOM(s->nlowers, s->lowers); s->lowers[s->nlowers++] = tok[i++]; }
        else if (!strcmp(key, "bind")) {
            NEED(3); ROOM(s->nbinds, s->binds);
            struct bind *b = &s->binds[s->nbinds++];
            b->src = tok[i++]; b->dst = tok[i++]; b->ro = !strcmp(tok[i++], "ro");
        }
        else if (!strcmp(key, "tmpfs")) {
            NEED(3); ROOM(s->ntmpfs, s->tmpfs);
            struct tmpfs *t = &s->tmpfs[s->ntmpfs++];
            t->dst = tok[i++]; t->size = tok[i++]; t->mode = tok[i++];
        }
        else if (!strcmp(key, "mask")) { NEED(1); ROOM(s->nmasks, s->masks); s->masks[s->nmasks++] = tok[i++]; }
        else if (!strcmp(key, "ro")) { NEED(1); ROOM(s->nros, s->ros); s->ros[s->nros++] = tok[i++]; }
        else if (!strcmp(key, "uid")) { NEED(1); s->uid = (uid_t)strtoul(tok[i++], NULL, 10); }
        else if (!strcmp(key, "gid")) { NEED(1); s->gid = (gid_t)strtoul(tok[i++], NULL, 10); }
        else if (!strcmp(key, "cwd")) { NEED(1); s->cwd = tok[i++]; }
        else if (!strcmp(key, "env")) { NEED(1); ROOM(s->nenv, s->env); s->env[s->nenv++] = tok[i++]; }
        else if (!strcmp(key, "arg")) { NEED(1); ROOM(s->nargv, s->argv); s->argv[s->nargv++] = tok[i++]; }
        else if (!strcmp(key, "status")) { NEED(1); s->status = tok[i++]; }
        else if (!strcmp(key, "pidfile")) { NEED(1); s->pidfile = tok[i++]; }
        else if (!strcmp(key, "seccomp")) { s->seccomp = 1; }
        else if (!strcmp(key, "seccomp-nesting")) { s->seccomp = 2; }
        else { errno = EINVAL; die("unknown spec key", key); }
    }
    if (!s->scratch || !s->nlowers || !s->nargv || !s->status) { errno = EINVAL; die("spec incomplete", path); }
}

/* ---- mounts -------------------------------------------------------------- */

static void mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, mode) < 0 && errno != EEXIST) die("mkdir", buf);
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST) die("mkdir", buf);
}

/* A mount destination inside the new root must not be a symlink: before
 * pivot_root the host's tree is still visible, and a link would redirect the
 * mount there (the class of runc's CVE-2019-19921). */
static void refuse_symlink(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) { errno = ELOOP; die("mount destination is a symlink", path); }
}

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
    if (mount(src, dst, type, flags, data) < 0) die("mount", dst);
}

static void bind_into(const char *root, const struct bind *b)
{
    char dst[4096];
    snprintf(dst, sizeof dst, "%s%s", root, b->dst);
    refuse_symlink(dst);
    struct stat st;
    if (stat(b->src, &st) < 0) die("bind source", b->src);
    if (S_ISDIR(st.st_mode)) mkdirs(dst, 0755);
    else if (access(dst, F_OK) < 0) {
        int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) die("create bind target", dst);
        close(fd);
    }
    mount_or_die(b->src, dst, NULL, MS_BIND | MS_REC, NULL);
    /* A bind's flags can only be changed by a second, remounting call. Every
     * bind, read-write ones too (a build's /app and cache), is nosuid and
     * nodev: a setuid file or a device node a tenant left in a directory it
     * can write gives nothing when it is bound in again. */
    mount_or_die(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (b->ro ? MS_RDONLY : 0), NULL);
}

static void make_dev(const char *root)
{
    static const struct { const char *name; unsigned maj, min; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
        {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
    };
    static const struct { const char *name, *target; } links[] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/dev", root);
    refuse_symlink(path);
    mkdirs(path, 0755);
    mount_or_die("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755,size=64k");
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(path, sizeof path, "%s/dev/%s", root, nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0) die("mknod", path);
        /* mknod's mode passes through the umask we inherited (022 makes 0644):
         * the app, another uid, must be able to write /dev/null. */
        if (chmod(path, 0666) < 0) die("chmod", path);
    }
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/dev/%s", root, links[i].name);
        if (symlink(links[i].target, path) < 0) die("symlink", path);
    }
    snprintf(path, sizeof path, "%s/dev/pts", root);
    mkdirs(path, 0755);
    mount_or_die("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    snprintf(path, sizeof path, "%s/dev/shm", root);
    mkdirs(path, 01777);
    mount_or_die("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
}

static void build_rootfs(const struct spec *s, char *root, size_t rootlen)
{
    char path[4096], opts[8192];
    /* Nothing mounted from here on may propagate back to the host. */
    mount_or_die(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    /* The writable layer lives in a size-capped tmpfs inside this mount
     * namespace: it is the instance's disk quota, and it disappears with the
     * namespace, so a crashed container leaves nothing mounted behind. */
    snprintf(opts, sizeof opts, "mode=755,size=%s", s->scratch_size);
    mount_or_die("tmpfs", s->scratch, "tmpfs", MS_NOSUID | MS_NODEV, opts);
    const char *sub[] = {"upper", "work", "root"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", s->scratch, sub[i]);
        mkdirs(path, 0755);
    }
    int n = snprintf(opts, sizeof opts, "lowerdir=");
    for (int i = 0; i < s->nlowers; i++)
        n += snprintf(opts + n, sizeof opts - n, "%s%s", i ? ":" : "", s->lowers[i]);
    snprintf(opts + n, sizeof opts - n, ",upperdir=%s/upper,workdir=%s/work", s->scratch, s->scratch);
    snprintf(root, rootlen, "%s/root", s->scratch);
    /* nosuid, nodev: a layer's setuid binaries (a Debian stack has some) and
     * device nodes mean nothing in a container, whatever no_new_privs does. */
    mount_or_die("overlay", root, "overlay", MS_NOSUID | MS_NODEV, opts);

    for (int i = 0; i < s->nbinds; i++) bind_into(root, &s->binds[i]);

    snprintf(path, sizeof path, "%s/proc", root);
    refuse_symlink(path);
    mkdirs(path, 0555);
    mount_or_die("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    snprintf(path, sizeof path, "%s/sys", root);
    refuse_symlink(path);
    mkdirs(path, 0555);
    mount_or_die("sysfs", path, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    make_dev(root);
    for (int i = 0; i < s->ntmpfs; i++) {
        snprintf(path, sizeof path, "%s%s", root, s->tmpfs[i].dst);
        refuse_symlink(path);
        mkdirs(path, 0755);
        snprintf(opts, sizeof opts, "mode=%s,size=%s", s->tmpfs[i].mode, s->tmpfs[i].size);
        mount_or_die("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts);
    }
}

static void enter_rootfs(const char *root)
{
    /* pivot_root(".", ".") stacks the old root under the new one; detaching
     * it leaves no path back to the host's tree (chroot would). */
    if (chdir(root) < 0) die("chdir", root);
    if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root", root);
    if (umount2(".", MNT_DETACH) < 0) die("umount old root", "");
    if (chdir("/") < 0) die("chdir", "/");
}

static void mask_paths(const struct spec *s)
{
    struct stat st;
    for (int i = 0; i < s->nmasks; i++) {
        const char *p = s->masks[i];
        if (lstat(p, &st) < 0) continue;  /* absent on this kernel: nothing to hide */
        if (S_ISDIR(st.st_mode)) mount_or_die("tmpfs", p, "tmpfs", MS_RDONLY, "size=0");
        else mount_or_die("/dev/null", p, NULL, MS_BIND, NULL);
    }
    for (int i = 0; i < s->nros; i++) {
        const char *p = s->ros[i];
        if (lstat(p, &st) < 0) continue;
        mount_or_die(p, p, NULL, MS_BIND | MS_REC, NULL);
        mount_or_die(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    }
}

static void loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", "lo");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS", "lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS", "lo");
    close(fd);
}

/* ---- security ------------------------------------------------------------ */

static int last_cap(void)
{
    char buf[16] = {0};
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0) return 40;
    close(fd);
    return atoi(buf);
}

/* Keep only the capabilities in `keep` (a bit mask of the low 32 caps). */
static void limit_caps(unsigned keep)
{
    int last = last_cap();
    for (int cap = 0; cap <= last; cap++)
        if (cap >= 32 || !(keep & (1u << cap)))
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("drop bounding cap", "");
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

static void set_caps(unsigned keep)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = keep;
    if (syscall(SYS_capset, &hdr, data) < 0) die("capset", "");
}

#if defined(__x86_64__)
#define PAAS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PAAS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

/* A deny list in the spirit of Docker's default profile: the calls that
 * reconfigure the kernel, the mount table or namespaces, or open other
 * processes' memory. Anything else a normal app needs stays allowed.
 *
 * `nesting` (a Dockerfile build: buildah makes a user namespace of its own,
 * where it may mount and chroot): clone's namespace flags and the namespace and
 * mount calls are left to the kernel, which confines them to namespaces the
 * process owns; everything else stays denied. */
#define HEAD_FILTER \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)), \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PAAS_AUDIT_ARCH, 1, 0), \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS), \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)), \
        X32_FILTER \
        /* clone3 passes flags in memory a filter cannot read; ENOSYS makes \
         * libc fall back to clone, whose flags are checked below. */ \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1), \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS)
#define TAIL_FILTER \
        DENY(__NR_swapon), DENY(__NR_swapoff), DENY(__NR_reboot), \
        DENY(__NR_kexec_load), DENY(__NR_kexec_file_load), DENY(__NR_init_module), \
        DENY(__NR_finit_module), DENY(__NR_delete_module), DENY(__NR_bpf), \
        DENY(__NR_perf_event_open), DENY(__NR_keyctl), DENY(__NR_add_key), \
        DENY(__NR_request_key), DENY(__NR_open_by_handle_at), DENY(__NR_userfaultfd), \
        DENY(__NR_ptrace), DENY(__NR_process_vm_readv), DENY(__NR_process_vm_writev), \
        DENY(__NR_acct), DENY(__NR_quotactl), \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#ifdef __x86_64__
/* x32 syscall numbers alias the 64-bit ones: refuse the whole ABI. */
#define X32_FILTER BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#else
#define X32_FILTER
#endif

static void install_seccomp(int nesting)
{
#ifdef PAAS_AUDIT_ARCH
    struct sock_filter strict[] = {
        HEAD_FILTER,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        DENY(__NR_mount), DENY(__NR_umount2), DENY(__NR_pivot_root), DENY(__NR_unshare),
        DENY(__NR_setns), DENY(__NR_fsopen), DENY(__NR_fsmount), DENY(__NR_move_mount), DENY(__NR_open_tree),
        TAIL_FILTER,
    };
    struct sock_filter nested[] = { HEAD_FILTER, TAIL_FILTER };
    struct sock_fprog prog = nesting
        ? (struct sock_fprog){(unsigned short)(sizeof nested / sizeof nested[0]), nested}
        : (struct sock_fprog){(unsigned short)(sizeof strict / sizeof strict[0]), strict};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) die("seccomp", "");
#else
    (void)nesting;
#endif
}

/* ---- the app ------------------------------------------------------------- */

static const char *env_get(const struct spec *s, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < s->nenv; i++)
        if (!strncmp(s->env[i], name, n) && s->env[i][n] == '=') return s->env[i] + n + 1;
    return NULL;
}

static void exec_search(const struct spec *s)
{
    const char *cmd = s->argv[0];
    if (strchr(cmd, '/')) { execve(cmd, s->argv, s->env); die("exec", cmd); }
    const char *path = env_get(s, "PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    int saved = ENOENT;
    char buf[4096];
    for (const char *p = path; ; ) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? p : ".", cmd);
        execve(buf, s->argv, s->env);
        if (errno != ENOENT && errno != ENOTDIR) saved = errno;
        if (!end) break;
        p = end + 1;
    }
    errno = saved;
    int e = errno;
    fprintf(stderr, "paas-init: exec %s: %s\n", cmd, strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

static void run_app(const struct spec *s, const sigset_t *oldmask)
{
    /* PID 1 shielded itself from the OOM killer; the app must be the one
     * picked, so it gives that back (raising the score needs no privilege). */
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) { if (write(fd, "0", 1) < 0) { /* keep the inherited score */ } close(fd); }
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    /* An attached one-off (paas run) gets a terminal on stdin: make it the
     * app's controlling terminal so Ctrl-C reaches the app as SIGINT. */
    if (isatty(0) && setsid() >= 0 && ioctl(0, TIOCSCTTY, 0) < 0) { /* no job control; still usable */ }
    if (s->cwd && chdir(s->cwd) < 0) die("chdir", s->cwd);
    if (setgroups(0, NULL) < 0) die("setgroups", "");
    if (setresgid(s->gid, s->gid, s->gid) < 0) die("setgid", "");
    /* The bounding set needs CAP_SETPCAP to shrink, so it goes before setuid. */
    limit_caps(0);
    if (setresuid(s->uid, s->uid, s->uid) < 0) die("setuid", "");
    set_caps(0);  /* also for uid 0, which setuid leaves its capabilities */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs", "");
    umask(022);
    if (s->seccomp) install_seccomp(s->seccomp == 2);  /* last: it forbids calls made above */
    exec_search(s);
}

static void noop(int sig) { (void)sig; }

static int supervise(pid_t app)
{
    /* PID 1 only receives signals it has a handler for, even blocked ones,
     * so every signal gets a no-op handler and is then taken synchronously. */
    sigset_t all;
    sigfillset(&all);
    int code = 0;
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) continue;
        if (sig != SIGCHLD) { kill(app, sig); continue; }
        for (;;) {
            int st;
            pid_t pid = waitpid(-1, &st, WNOHANG);
            if (pid <= 0) break;
            if (pid != app) continue;  /* an orphan reparented to us: reaped */
            code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            char line[64];
            int n = WIFEXITED(st) ? snprintf(line, sizeof line, "exit %d\n", code)
                                  : snprintf(line, sizeof line, "signal %d\n", WTERMSIG(st));
            if (write(status_fd, line, n) < 0) { /* the exit code still tells */ }
            return code;
        }
    }
}

static int container_init(const struct spec *s)
{
    char root[4096];
    /* Keep PID 1 out of the OOM killer's choice so an OOM kills the app and
     * PID 1 lives to report it. Best effort: some hosts refuse lowering it,
     * and then PID 1's tiny size still makes the app the victim. */
    int oomfd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oomfd >= 0) { if (write(oomfd, "-1000", 5) < 0) { /* refused: see above */ } close(oomfd); }
    if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) die("sethostname", s->hostname);
    build_rootfs(s, root, sizeof root);
    enter_rootfs(root);
    mask_paths(s);
    if (s->netns || s->newnet) loopback_up();

    sigset_t all, old;
    sigfillset(&all);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, noop);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t app = fork();
    if (app < 0) die("fork", "app");
    if (app == 0) run_app(s, &old);
    /* PID 1 keeps only CAP_KILL: it must signal an app running as another uid. */
    limit_caps(1u << CAP_KILL);
    set_caps(1u << CAP_KILL);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return supervise(app);
}

/* ---- host side ----------------------------------------------------------- */

static pid_t child_pid;
static void forward(int sig) { if (child_pid > 0) kill(child_pid, sig); }

/* The helper's entry: argv is {program, SPECFILE}. */
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: paas-init SPECFILE (started by paas.runtime, not by hand)\n");
        return 125;
    }
    /* What we create for the container (its rootfs directories, device
     * nodes) must not take the caller's umask: 077 would lock the app out. */
    umask(022);
    struct spec s;
    load_spec(argv[1], &s);
    status_fd = open(s.status, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (status_fd < 0) die("open status", s.status);

    /* The cgroup comes first: every process of the container is forked from
     * here after this point, so none runs a single instruction outside it. */
    char self[32];
    snprintf(self, sizeof self, "%d", getpid());
    for (int i = 0; i < s.ncgroups; i++) write_file(s.cgroups[i], self);

    if (s.netns) {
        int fd = open(s.netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open netns", s.netns);
        if (setns(fd, CLONE_NEWNET) < 0) die("setns", s.netns);
        close(fd);
    }
    /* Only the namespaces a fork must enter are unshared here; the helper
     * itself stays in the host's mount namespace, so the child's pivot_root
     * (which re-roots every process of its mount namespace) cannot move it. */
    int flags = CLONE_NEWPID;
    if (s.newnet) flags |= CLONE_NEWNET;
    if (unshare(flags) < 0) die("unshare", "pid");

    child_pid = fork();
    if (child_pid < 0) die("fork", "init");
    if (child_pid == 0) {
        if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP) < 0) die("unshare", "");
        _exit(container_init(&s));
    }

    if (s.pidfile) {
        char line[32];
        int n = snprintf(line, sizeof line, "%d\n", child_pid);
        int fd = open(s.pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, line, n) != n) { kill(child_pid, SIGKILL); die("write pidfile", s.pidfile); }
        close(fd);
        return 0;  /* detached: the container's PID 1 is reparented, no helper stays */
    }
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], forward);
    int st;
    while (waitpid(child_pid, &st, 0) < 0)
        if (errno != EINTR) die("waitpid", "init");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
