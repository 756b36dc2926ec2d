// berth-runtime re-executes itself from a read-only copy before it creates or enters a container
// (entry.c): nothing to call, the constructor does it.
