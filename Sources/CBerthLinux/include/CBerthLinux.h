// Declarations Swift's Glibc module lacks, one header per area (as crun keeps them). Thin
// syscall wrappers and what must be C (variadic ioctls, CMSG macros, the new mount API);
// _GNU_SOURCE lives in internal.h because defining it here breaks the Clang module build.
#ifndef CBERTH_LINUX_H
#define CBERTH_LINUX_H

#include "berth_process.h"
#include "berth_namespaces.h"
#include "berth_credentials.h"
#include "berth_mounts.h"
#include "berth_files.h"
#include "berth_terminal.h"
#include "berth_sockets.h"
#include "berth_signals.h"
#include "berth_cgroups.h"

#endif
