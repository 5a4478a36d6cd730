/**
 * After a failed fsync the kernel may already have dropped the dirty pages it could not write, and a second fsync
 * would then report success for data that is gone (PostgreSQL's "fsyncgate"). So a failed fsync is never retried:
 * from then on this process refuses every write, rename, link, mkdir, chmod and fsync through the port, until it is
 * restarted and recovery re-projects from the log. Reads still work, and so do removals (its own temp files, staging
 * dirs and lock), so a stopped process leaves nothing behind and does not keep the ledger locked.
 */
import { describeError, errnoCode } from "./FsPort.ts"
import type { TreeFs } from "./TreeFs.ts"

/** Windows refuses fsync on a directory handle; the callers tolerate that there, so it stops nothing. */
const tolerated = (error: unknown): boolean => {
  const code = errnoCode(error)
  return process.platform === "win32" && (code === "EPERM" || code === "EISDIR" || code === "EINVAL")
}

const READ_ONLY_FLAGS = new Set(["r", "rs"])

/** Wraps `fs` (one wrapper per process: the stop lasts as long as it does). */
export const stopOnFsyncFailure = (fs: TreeFs): TreeFs => {
  let stopped: string | undefined
  const refuse = (what: string): void => {
    if (stopped !== undefined) {
      throw Object.assign(new Error(`EIO: ${what} refused: ${stopped}`), { code: "EIO" })
    }
  }
  const note = (error: unknown, what: string): unknown => {
    if (stopped === undefined && !tolerated(error)) {
      stopped = `the ledger stopped writing after a failed ${what} (${describeError(error)}); restart it to recover`
    }
    return error
  }
  const guarded = <Args extends ReadonlyArray<unknown>, A>(what: string, f: (...args: Args) => A) => (...args: Args): A => {
    refuse(what)
    return f(...args)
  }
  const synced = <Args extends ReadonlyArray<unknown>, A>(what: string, f: (...args: Args) => A) => (...args: Args): A => {
    refuse(what)
    try {
      return f(...args)
    } catch (error) {
      throw note(error, what)
    }
  }
  const syncedAsync = (what: string, f: () => Promise<void>): Promise<void> => {
    try {
      refuse(what)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise<void>((resolve) => resolve(f())).catch((error: unknown) => {
      throw note(error, what)
    })
  }
  return {
    ...fs,
    openSync: (path, flags, mode) => {
      if (!READ_ONLY_FLAGS.has(flags)) refuse("open for writing")
      return fs.openSync(path, flags, mode)
    },
    writeSync: guarded("write", fs.writeSync),
    ftruncateSync: guarded("truncate", fs.ftruncateSync),
    renameSync: guarded("rename", fs.renameSync),
    linkSync: guarded("link", fs.linkSync),
    mkdirSync: guarded("mkdir", fs.mkdirSync),
    chmodSync: guarded("chmod", fs.chmodSync),
    fchmodSync: guarded("chmod", fs.fchmodSync),
    fsyncSync: synced("fsync", fs.fsyncSync),
    fdatasyncSync: synced("fdatasync", fs.fdatasyncSync),
    fsyncAsync: (fd) => syncedAsync("fsync", () => fs.fsyncAsync(fd)),
    fdatasyncAsync: (fd) => syncedAsync("fdatasync", () => fs.fdatasyncAsync(fd))
  }
}
