import { randomBytes } from "node:crypto"
import * as Path from "node:path"
import { Effect, Result } from "effect"
import { errnoCode, type FsPort } from "./FsPort.ts"
import type { SparePool } from "./SparePool.ts"

/** Windows refuses fsync on a directory handle; tolerate that there only (fail closed elsewhere). */
export const ignorableDirSyncError = (error: unknown): boolean => {
  const code = errnoCode(error)
  return process.platform === "win32" && (code === "EPERM" || code === "EISDIR" || code === "EINVAL")
}

/** fsync a directory, so a create/rename/unlink inside it is durable. Throws the fs error. */
export const fsyncDir = (fs: FsPort, dir: string): void => {
  let fd: number
  try {
    fd = fs.openSync(dir, "r")
  } catch (error) {
    if (ignorableDirSyncError(error)) return
    throw error
  }
  try {
    fs.fsyncSync(fd)
  } catch (error) {
    if (!ignorableDirSyncError(error)) {
      closeQuietly(fs, fd)
      throw error
    }
  }
  fs.closeSync(fd)
}

/** Close `fd`, ignoring errors (used on paths that already fail). */
export const closeQuietly = (fs: FsPort, fd: number): void => {
  try {
    fs.closeSync(fd)
  } catch {
    // the original error is the one worth reporting
  }
}

/** Write all of `bytes` at `position` (or the current offset when null), looping on short writes. */
export const writeAll = (fs: FsPort, fd: number, bytes: Uint8Array, position: number | null): void => {
  let done = 0
  while (done < bytes.length) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done)
    if (n <= 0) throw new Error(`write made no progress (${done}/${bytes.length} bytes written)`)
    done += n
  }
}

/** The temp-file name used for `path`: same directory, so the rename stays on one file system. */
export const tempPathFor = (path: string): string =>
  Path.join(Path.dirname(path), `.${Path.basename(path)}.tmp-${pidSuffix()}`)

/**
 * Replace `path` atomically: temp file in the same directory, write all, fsync, close,
 * rename over the target, fsync the directory. After a crash the target holds either the
 * old or the new bytes, never a mix. Throws the underlying fs error (temp file removed).
 */
export const writeFileAtomic = (fs: FsPort, path: string, bytes: Uint8Array, mode?: number): void => {
  const tmp = tempPathFor(path)
  const fd = fs.openSync(tmp, "wx", mode ?? 0o666)
  let renamed = false
  try {
    try {
      writeAll(fs, fd, bytes, 0)
      fs.fsyncSync(fd)
    } catch (error) {
      closeQuietly(fs, fd)
      throw error
    }
    fs.closeSync(fd)
    fs.renameSync(tmp, path)
    renamed = true
    fsyncDir(fs, Path.dirname(path))
  } catch (error) {
    if (!renamed) {
      try {
        fs.unlinkSync(tmp)
      } catch {
        // best effort: an orphaned temp file is harmless and is named as such
      }
    }
    throw error
  }
}

/** 2^48: the 12 hex digits of a `pidSuffix` */
const SUFFIX_SPACE = 0x1000000000000
let suffixBase: number | undefined
let suffixCount = 0

/**
 * `<pid>-<12 hex>`: the end of every temp/staging name, so a sweep can tell whose it is (`ownerAlive`). The hex part
 * starts at a random point once per process and counts up from there: an install names five or six temp files, and a
 * random draw for each (`randomBytes`, ~20 µs) was a measurable part of its CPU time. Names stay unique within the
 * process (2^48 before the count wraps) and, as before, differ between processes that happen to get the same pid.
 */
export const pidSuffix = (): string => {
  suffixBase ??= randomBytes(6).readUIntBE(0, 6)
  const hex = ((suffixBase + suffixCount++) % SUFFIX_SPACE).toString(16).padStart(12, "0")
  return `${process.pid}-${hex}`
}

const PID_SUFFIX = /-(\d+)-[0-9a-f]{12}$/

/**
 * Whether the process named in a `pidSuffix` name may still be using it: a pid that is running (this one
 * included: another ledger in this process may be working outside the lock), or that we may not signal.
 */
export const ownerAlive = (name: string): boolean => processAlive(Number(PID_SUFFIX.exec(name)?.[1] ?? Number.NaN))

/** Whether process `pid` may still be running (see `ownerAlive`); false for anything that is not a pid. */
export const processAlive = (pid: number): boolean => {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoCode(error) === "EPERM"
  }
}

/**
 * Removes the temp files of `path` (see `tempPathFor`) that a crashed process left beside it. Best effort: a temp
 * file left behind is harmless, so failing to list or remove one changes nothing.
 */
export const sweepTempFiles = (fs: FsPort, path: string): void => {
  const prefix = `.${Path.basename(path)}.tmp-`
  try {
    for (const name of fs.readdirSync(Path.dirname(path))) {
      if (name.startsWith(prefix) && !ownerAlive(name)) fs.unlinkSync(Path.join(Path.dirname(path), name))
    }
  } catch {
    // listed again by the next process
  }
}

/** Run a synchronous fs step inside an Effect; the thrown fs error becomes the failure, unchanged. */
export const attempt = <A>(f: () => A): Effect.Effect<A, unknown> => Effect.try({ try: f, catch: (error) => error })

/**
 * Create `dir` and any missing parents, without fsyncing anything: returns the parents of the directories
 * it created, which must be fsynced (e.g. by an `FsyncQueue`'s `settle`) before anything relies on those entries.
 */
export const makeDirs = (fs: FsPort, dir: string): ReadonlyArray<string> => {
  try {
    fs.mkdirSync(dir, { recursive: false })
    return [Path.dirname(dir)]
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return []
    const parent = Path.dirname(dir)
    if (errnoCode(error) !== "ENOENT" || parent === dir) throw error
    const created = makeDirs(fs, parent)
    try {
      fs.mkdirSync(dir, { recursive: false })
    } catch (again) {
      if (errnoCode(again) === "EEXIST") return created
      throw again
    }
    return [...created, parent]
  }
}

/**
 * Which directories this process has fsynced below `root`. A directory that exists is not necessarily durable: a
 * process that crashed may have created it (or renamed it into place) without fsyncing its parent. So whenever a
 * change is made durable by fsyncing some directories, their ancestors up to `root` are fsynced too, once per
 * process (`withAncestors`, then `confirm` after the batch succeeded); `root`'s own entry is its creator's.
 */
export interface DurableDirs {
  readonly withAncestors: (dirs: Iterable<string>) => ReadonlyArray<string>
  readonly confirm: (dirs: Iterable<string>) => void
}

export const makeDurableDirs = (root: string): DurableDirs => {
  const top = Path.resolve(root)
  const synced = new Set<string>()
  const below = (dir: string): boolean => dir === top || dir.startsWith(`${top}${Path.sep}`)
  return {
    withAncestors: (dirs) => {
      const out = new Set<string>()
      for (const dir of dirs) {
        out.add(dir)
        for (let d = Path.dirname(dir); below(d) && !synced.has(d); d = Path.dirname(d)) {
          out.add(d)
          if (d === top) break
        }
      }
      return [...out]
    },
    confirm: (dirs) => {
      for (const dir of dirs) synced.add(dir)
    }
  }
}

/** A temp file beside `path`, written and fsynced, not yet renamed over it. */
export interface StagedFile {
  readonly path: string
  readonly tmp: string
}

/**
 * The first half of `writeFileAtomic`: temp file in the same directory, write all, fsync (on the thread pool,
 * so other batches can overlap it), close. `commitStaged` renames it over the target; the directory fsync
 * that makes the rename durable is then the caller's (it can share a batch with other directories).
 *
 * Everything up to the fsync is synchronous, so it is one step, and the fsync's promise another: each effect step
 * is a few microseconds of the runtime, more than these calls. Uninterruptible, so whatever it opened is closed and
 * a temp file that is not handed out is removed.
 */
export const stageFile = (fs: FsPort, path: string, bytes: Uint8Array, mode: number, pool?: SparePool): Effect.Effect<StagedFile, unknown> =>
  Effect.uninterruptible(Effect.suspend(() => {
    const staged: StagedFile = { path, tmp: tempPathFor(path) }
    const failed = (error: unknown, fd?: number): Effect.Effect<never, unknown> => {
      if (fd !== undefined) closeQuietly(fs, fd)
      discardStaged(fs, staged)
      return Effect.fail(error)
    }
    let fd: number
    try {
      // a spare file (`SparePool.ts`), given `mode` before anything is written, or a new one
      fd = pool?.takeFile(staged.tmp, mode) ?? fs.openSync(staged.tmp, "wx", mode)
    } catch (error) {
      return failed(error)
    }
    let fsynced: Promise<Result.Result<void, unknown>>
    try {
      writeAll(fs, fd, bytes, 0)
      // never rejected: a synchronous throw of the port is a failure too
      fsynced = new Promise<void>((resolve) => resolve(fs.fsyncAsync(fd))).then(() => Result.succeed(undefined), Result.fail)
    } catch (error) {
      return failed(error, fd)
    }
    return Effect.flatMap(Effect.promise(() => fsynced), (synced) => {
      if (Result.isFailure(synced)) return failed(synced.failure, fd)
      try {
        fs.closeSync(fd)
      } catch (error) {
        return failed(error)
      }
      return Effect.succeed(staged)
    })
  }))

/**
 * Gives the file at `path` a second name in `dir` (a hard link named with this pid), so that renaming a new file
 * over `path` does not free the old one's blocks: on ext4 that free is what makes a rename over an existing file
 * slow (0.3-2 ms of journal work while other writes go on, against 0.05 ms for the rename alone), and it can wait
 * for `unlinkRetired`, off the critical path. Best effort: undefined when there is no file or no link could be made
 * (the rename then frees the blocks itself, as it always did).
 */
export const retireLink = (fs: FsPort, path: string, dir: string): string | undefined => {
  const link = Path.join(dir, `${Path.basename(path)}-${pidSuffix()}`)
  try {
    try {
      fs.linkSync(path, link)
    } catch (error) {
      if (errnoCode(error) !== "ENOENT" || !missingDir(fs, dir)) throw error
      makeDirs(fs, dir)
      fs.linkSync(path, link)
    }
    return link
  } catch {
    return undefined
  }
}

const missingDir = (fs: FsPort, dir: string): boolean => {
  try {
    fs.statSync(dir)
    return false
  } catch (error) {
    return errnoCode(error) === "ENOENT"
  }
}

/** Removes links made by `retireLink` (best effort; `sweepRetired` finds what is left). */
export const unlinkRetired = (fs: FsPort, links: Iterable<string>): void => {
  for (const link of links) {
    try {
      fs.unlinkSync(link)
    } catch {
      // gone already, or left for the sweep
    }
  }
}

/** Removes the links `retireLink` made in `dir` for processes that are gone (best effort, like `sweepTempFiles`). */
export const sweepRetired = (fs: FsPort, dir: string): void => {
  try {
    for (const name of fs.readdirSync(dir)) if (!ownerAlive(name)) fs.unlinkSync(Path.join(dir, name))
  } catch {
    // listed again by the next process
  }
}

/** Renames a staged file over its target (atomic); fsync its directory before relying on it. */
export const commitStaged = (fs: FsPort, staged: StagedFile): void => {
  try {
    fs.renameSync(staged.tmp, staged.path)
  } catch (error) {
    discardStaged(fs, staged)
    throw error
  }
}

/** Removes a staged temp file that will not be committed (best effort: an orphaned temp file is harmless). */
export const discardStaged = (fs: FsPort, staged: StagedFile): void => {
  try {
    fs.unlinkSync(staged.tmp)
  } catch {
    // named as a temp file, swept by nobody but harmless
  }
}
