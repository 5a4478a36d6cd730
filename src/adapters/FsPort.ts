import * as NodeFs from "node:fs"

/** The subset of `fs.Stats` the ledger reads. */
export interface FsStats {
  /** the device and inode: together, which file this is (a path may come to name another one) */
  readonly dev: number
  readonly ino: number
  readonly size: number
  /** type and permission bits */
  readonly mode: number
  readonly mtimeMs: number
  readonly isFile: () => boolean
  readonly isDirectory: () => boolean
}

/**
 * The synchronous file-system calls the event log, the lock and atomic writes use.
 * Everything in the ledger does I/O only through this port, so tests can inject a
 * fault-injecting file system (power loss, ENOSPC/EIO at every call site).
 * Failures are thrown as Node-style errors (`code: "ENOENT"`, ...).
 */
export interface FsPort {
  readonly openSync: (path: string, flags: string, mode?: number) => number
  readonly closeSync: (fd: number) => void
  /** positional write when `position` is a number; returns the bytes written (may be short) */
  readonly writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null) => number
  /** positional read when `position` is a number; returns the bytes read (0 at EOF) */
  readonly readSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null) => number
  readonly readFileSync: (path: string) => Buffer
  readonly fsyncSync: (fd: number) => void
  readonly fdatasyncSync: (fd: number) => void
  readonly ftruncateSync: (fd: number, length: number) => void
  readonly renameSync: (from: string, to: string) => void
  /** hard link; fails with EEXIST if `to` exists (never overwrites) */
  readonly linkSync: (existing: string, to: string) => void
  readonly unlinkSync: (path: string) => void
  readonly mkdirSync: (path: string, options: { readonly recursive: boolean }) => void
  /** removes an empty directory (ENOTEMPTY otherwise) */
  readonly rmdirSync: (path: string) => void
  readonly readdirSync: (path: string) => ReadonlyArray<string>
  readonly statSync: (path: string) => FsStats
  /** `statSync`, but undefined when nothing is at `path` (ENOENT), without building an error for that expected answer */
  readonly statIfExists: (path: string) => FsStats | undefined
  readonly fstatSync: (fd: number) => FsStats
  readonly rmSync: (path: string, options: { readonly recursive: boolean; readonly force: boolean }) => void
  /**
   * fsync on the libuv thread pool, so that several can be in flight at once (see
   * FsyncQueue.ts); rejects with the Node-style error. Same guarantee as `fsyncSync`.
   */
  readonly fsyncAsync: (fd: number) => Promise<void>
  /** `fdatasync` on the thread pool, as `fsyncAsync` (an append to a blob pack: its data and its size) */
  readonly fdatasyncAsync: (fd: number) => Promise<void>
}

/** The real file system. */
export const nodeFs: FsPort = {
  openSync: (path, flags, mode) => NodeFs.openSync(path, flags, mode),
  closeSync: (fd) => NodeFs.closeSync(fd),
  writeSync: (fd, buffer, offset, length, position) => NodeFs.writeSync(fd, buffer, offset, length, position),
  readSync: (fd, buffer, offset, length, position) => NodeFs.readSync(fd, buffer, offset, length, position),
  readFileSync: (path) => NodeFs.readFileSync(path),
  fsyncSync: (fd) => NodeFs.fsyncSync(fd),
  fdatasyncSync: (fd) => NodeFs.fdatasyncSync(fd),
  ftruncateSync: (fd, length) => NodeFs.ftruncateSync(fd, length),
  renameSync: (from, to) => NodeFs.renameSync(from, to),
  linkSync: (existing, to) => NodeFs.linkSync(existing, to),
  unlinkSync: (path) => NodeFs.unlinkSync(path),
  mkdirSync: (path, options) => {
    NodeFs.mkdirSync(path, { recursive: options.recursive })
  },
  rmdirSync: (path) => NodeFs.rmdirSync(path),
  readdirSync: (path) => NodeFs.readdirSync(path),
  statSync: (path) => NodeFs.statSync(path),
  statIfExists: (path) => NodeFs.statSync(path, { throwIfNoEntry: false }),
  fstatSync: (fd) => NodeFs.fstatSync(fd),
  rmSync: (path, options) => NodeFs.rmSync(path, { recursive: options.recursive, force: options.force }),
  fsyncAsync: (fd) =>
    new Promise<void>((resolve, reject) => {
      NodeFs.fsync(fd, (error) => {
        if (error === null) resolve()
        else reject(error)
      })
    }),
  fdatasyncAsync: (fd) =>
    new Promise<void>((resolve, reject) => {
      NodeFs.fdatasync(fd, (error) => {
        if (error === null) resolve()
        else reject(error)
      })
    })
}

/** The `code` of a Node file-system error (`"ENOENT"`, ...), if any. */
export const errnoCode = (error: unknown): string | undefined => {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return error.code
  }
  return undefined
}

/** A short, human-readable description of a thrown file-system error. */
export const describeError = (error: unknown): string =>
  error instanceof Error ? error.message : String(error)
