/// Linux constants Swift's Glibc module hides behind _GNU_SOURCE.
public let O_PATH: Int32 = 0o10000000
public let O_TMPFILE_DIR: Int32 = 0o20000000
