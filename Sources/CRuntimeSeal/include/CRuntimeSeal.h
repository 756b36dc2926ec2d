// berth-runtime re-executes itself from a sealed memfd copy before it creates or enters a
// container (CRuntimeSeal.c): nothing to call, the constructor does it.
