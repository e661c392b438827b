/* What paas-init.c and paas-runner.c, linked into one static binary, share. */
#ifndef PAAS_INIT_H
#define PAAS_INIT_H

/* The container helper (host side, then PID 1): argv = {program, SPECFILE}.
 * Returns the exit code for the helper process; exits 125 itself on errors. */
int paas_init_main(int argc, char **argv);

#endif
