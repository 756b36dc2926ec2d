// berth-runtime runs from a read-only copy of itself (CSelfSeal) whenever it creates or enters a
// container. A constructor does it, before the Swift runtime starts, so the first run of the
// binary costs as little as possible; other commands (state, kill, delete, ...) skip it.
#include <string.h>
#include "CSelfSeal.h"

static int enters_a_container(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "create") || !strcmp(argv[i], "run") || !strcmp(argv[i], "exec")) return 1;
    return 0;
}

__attribute__((constructor)) static void berth_runtime_sealed(int argc, char **argv, char **envp) {
    if (enters_a_container(argc, argv)) berth_run_sealed(argv, envp);
}
