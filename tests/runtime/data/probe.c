/* The command of the test images (tests/runtime/test_imageimport.py): a static binary, so an image
   needs no libc of its own. Prints what the runner gave it, and which of the paths named after
   "--" exist, one "key=value" per line. `probe serve` answers HTTP on $PORT instead
   (tests/e2e/test_dockerfile_deploy.py): "<GREETING> uid=<uid> cwd=<cwd>". `probe connect ADDR PORT ...`
   prints "connect ADDR:PORT=open" or "=closed" for each pair (2 s each; ADDR "gateway": the default route's;
   tests/buildpacks/test_enginebuild.py). `probe dns NAME` asks the first nameserver of /etc/resolv.conf for
   NAME's A record: "dns NAME=answered" or "=failed". */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int serve(void) {
    int port = getenv("PORT") ? atoi(getenv("PORT")) : 5000, one = 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) { perror("listen"); return 1; }
    printf("listening on %d\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept(s, 0, 0);
        if (c < 0) continue;
        char req[4096], body[4352], cwd[4096], out[4608];
        if (read(c, req, sizeof req) < 0) { close(c); continue; }
        snprintf(body, sizeof body, "%s uid=%d cwd=%s", getenv("GREETING") ? getenv("GREETING") : "",
                 (int)getuid(), getcwd(cwd, sizeof cwd) ? cwd : "?");
        int n = snprintf(out, sizeof out, "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         strlen(body), body);
        if (write(c, out, n) < 0) perror("write");
        close(c);
    }
}

static int gateway(struct in_addr *out) {
    char line[512], iface[64];
    unsigned dest, gw;
    FILE *f = fopen("/proc/net/route", "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %x %x", iface, &dest, &gw) == 3 && dest == 0 && gw) { out->s_addr = gw; fclose(f); return 1; }
    fclose(f);
    return 0;
}

static const char *reach(const char *addr, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (!strcmp(addr, "gateway") ? !gateway(&a.sin_addr) : inet_pton(AF_INET, addr, &a.sin_addr) != 1) return "closed";
    int s = socket(AF_INET, SOCK_STREAM, 0), err = 0;
    socklen_t len = sizeof err;
    fcntl(s, F_SETFL, O_NONBLOCK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) { close(s); return "closed"; }
    struct pollfd p = {.fd = s, .events = POLLOUT};
    int ready = poll(&p, 1, 2000) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    close(s);
    return ready ? "open" : "closed";
}

static const char *ask(const char *name) {
    char line[256], server[64] = "";
    FILE *f = fopen("/etc/resolv.conf", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "nameserver %63s", server) == 1) break;
    if (f) fclose(f);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    if (inet_pton(AF_INET, server, &a.sin_addr) != 1) return "failed";
    unsigned char q[512] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, r[512];
    int n = 12;
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        int len = dot ? (int)(dot - p) : (int)strlen(p);
        q[n++] = len;
        memcpy(q + n, p, len);
        n += len;
        p += len + (dot ? 1 : 0);
    }
    q[n++] = 0; q[n++] = 0; q[n++] = 1; q[n++] = 0; q[n++] = 1;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {3, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int got = sendto(s, q, n, 0, (struct sockaddr *)&a, sizeof a) == n ? (int)recv(s, r, sizeof r, 0) : -1;
    close(s);
    return got > 12 && r[0] == 0x12 && r[1] == 0x34 && (r[3] & 15) == 0 && (r[6] << 8 | r[7]) > 0 ? "answered" : "failed";
}

int main(int argc, char **argv) {
    char cwd[4096];
    if (argc > 1 && !strcmp(argv[1], "serve")) return serve();
    if (argc > 2 && !strcmp(argv[1], "dns")) {
        printf("dns %s=%s\n", argv[2], ask(argv[2]));
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "connect")) {
        for (int k = 2; k + 1 < argc; k += 2) printf("connect %s:%s=%s\n", argv[k], argv[k + 1], reach(argv[k], atoi(argv[k + 1])));
        return 0;
    }
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) printf("arg=%s\n", argv[i]);
    printf("cwd=%s\nuid=%d\ngid=%d\n", getcwd(cwd, sizeof cwd) ? cwd : "?", (int)getuid(), (int)getgid());
    const char *names[] = {"PORT", "HOME", "GREETING", "PATH", 0};
    for (int n = 0; names[n]; n++) printf("env %s=%s\n", names[n], getenv(names[n]) ? getenv(names[n]) : "");
    for (i++; i < argc; i++) printf("exists %s=%d\n", argv[i], access(argv[i], F_OK) == 0);
    return 0;
}
