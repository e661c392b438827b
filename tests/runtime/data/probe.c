/* The command of the test images (tests/runtime/test_imageimport.py): a static binary, so an image
   needs no libc of its own. Prints what the runner gave it, and which of the paths named after
   "--" exist, one "key=value" per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char cwd[4096];
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) printf("arg=%s\n", argv[i]);
    printf("cwd=%s\nuid=%d\ngid=%d\n", getcwd(cwd, sizeof cwd) ? cwd : "?", (int)getuid(), (int)getgid());
    const char *names[] = {"PORT", "HOME", "GREETING", "PATH", 0};
    for (int n = 0; names[n]; n++) printf("env %s=%s\n", names[n], getenv(names[n]) ? getenv(names[n]) : "");
    for (i++; i < argc; i++) printf("exists %s=%d\n", argv[i], access(argv[i], F_OK) == 0);
    return 0;
}
