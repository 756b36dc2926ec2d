import Glibc

/// A failed system call, worded as Go's runtimes word it so users see what crun/runc would say:
/// `mount /proc: operation not permitted`.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public let syscall: String
    public let path: String?
    public let errno: Int32

    public init(_ syscall: String, _ path: String? = nil, errno: Int32 = Glibc.errno) {
        self.syscall = syscall
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let subject = path.map { "\(syscall) \($0)" } ?? syscall
        return "\(subject): \(errnoText(errno))"
    }
}

/// strerror(3) lower-cased at the first letter, as Go prints errno values.
public func errnoText(_ code: Int32) -> String {
    let text = String(cString: strerror(code))
    guard let first = text.first else { return text }
    return first.lowercased() + text.dropFirst()
}

/// Calls a -1-on-error syscall, retrying EINTR, and throws a `SystemError` naming the call and object.
@discardableResult
public func sys(_ name: String, _ path: String? = nil, _ call: () -> Int32) throws -> Int32 {
    while true {
        let result = call()
        if result != -1 { return result }
        if errno == EINTR { continue }
        throw SystemError(name, path)
    }
}
