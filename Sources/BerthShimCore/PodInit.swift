import BerthSystem
import CBerthLinux
import Glibc

/// The init of a pod's shared PID namespace (the kubelet's `shareProcessNamespace`). Berth's pods
/// are pinned namespaces with no process, but a PID namespace lives only as long as its first
/// process: this is that process, as containerd's pause is. `berth-shim --pod-init` unshares the
/// PID namespace, forks its PID 1, prints that process's host pid and exits; PID 1 reaps what
/// the pod's containers leave to it and exits on SIGTERM or SIGINT (berthd kills it at the pod's
/// stop, and the kernel then kills everything in the namespace).
public enum PodInit {
    public static func run() -> Never {
        setsid()
        guard berth_unshare(0x2000_0000) == 0 else {  // CLONE_NEWPID: for the children to come
            FileIO.stderr("berth-shim --pod-init: unshare(pid namespace): \(String(cString: strerror(errno)))\n")
            exit(1)
        }
        let child = fork()
        if child < 0 {
            FileIO.stderr("berth-shim --pod-init: fork: \(String(cString: strerror(errno)))\n")
            exit(1)
        }
        if child > 0 {
            print(child)
            exit(0)
        }
        let devNull = open("/dev/null", O_RDWR)
        dup2(devNull, 0); dup2(devNull, 1); dup2(devNull, 2)
        if devNull > 2 { close(devNull) }
        // Blocked signals reach sigwait even in a namespace's init, which the kernel otherwise
        // spares every signal it has no handler for.
        var wanted = sigset_t()
        sigemptyset(&wanted)
        for signal in [SIGCHLD, SIGTERM, SIGINT] { sigaddset(&wanted, signal) }
        sigprocmask(SIG_BLOCK, &wanted, nil)
        while true {
            var received: Int32 = 0
            guard sigwait(&wanted, &received) == 0 else { continue }
            if received == SIGTERM || received == SIGINT { exit(0) }
            while waitpid(-1, nil, WNOHANG) > 0 {}
        }
    }
}
