#ifndef CSELFSEAL_H
#define CSELFSEAL_H

/// Returns at once if the running binary is read-only (a sealed memfd, or on a read-only mount);
/// else re-executes it with `argv` and `envp` from a read-only copy, or exits 1 saying why not.
/// Call it before anything a second run would repeat: the process starts again from main.
void berth_run_sealed(char **argv, char **envp);

#endif
