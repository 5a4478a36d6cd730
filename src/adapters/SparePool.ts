/**
 * Spare inodes for cache trees: empty directories and files made ahead, after an answer, in `<ledger>/spare/`, and
 * moved into a staging tree by rename when an install builds it.
 *
 * Why: on ext4 under other writers' load, allocating an inode (mkdir, a file's creation) took ~1 ms each on the
 * bench VM while a rename took ~20 µs (measured: 8 mkdirs and 8 file creations 17 ms, the same tree from spares
 * 0.26 ms). A small plugin's tree is 16 of them, which were most of an install's time before its answer.
 *
 * What stays the same: a spare is empty (never written before it is taken), so a tree built from spares holds the
 * same bytes; modes are known as for created ones (what open gave the spare files and mkdir the spare directories,
 * read back from the first of each) and chmodded where they are not the recorded ones; the tree's files and
 * directories are fsynced by path after the answer exactly as before (a spare's new entry is in a tree directory
 * that is fsynced), and so is the spare directory they were taken from: a file system that orders nothing between
 * directories could otherwise bring back a spare's old name beside its new one after a power loss
 * (`TreeDurability.dirs`). A spare is never fsynced when it is made: one lost to a power loss is simply
 * not there. Spares are named `d-`/`f-` plus this process's `pidSuffix`; those of a process that is gone are removed
 * at the next process's first refill. A take that fails for any reason (none left, the spare gone, another file
 * system: EXDEV) leaves the caller to create the inode as before.
 */
import { Effect } from "effect"
import * as Path from "node:path"
import { closeQuietly, ownerAlive, pidSuffix } from "./AtomicFile.ts"
import { errnoCode } from "./FsPort.ts"
import type { TreeFs } from "./TreeFs.ts"

export interface SparePool {
  /** where the spares wait: a tree built from them is durable only once this directory's entries are (see below) */
  readonly dir: string
  /** Moves a spare empty directory to `path` (which must not exist); its mode, or undefined if the caller must mkdir. */
  readonly takeDir: (path: string) => number | undefined
  /**
   * Moves a spare empty file to `path` (which must not exist) and opens it for writing; undefined if the caller must
   * create it. With `mode` (0644 or narrower, e.g. config.toml's temp file's 0600), the file gets that mode as
   * `open` would have given it (the umask applied) before anything is written; without, it has the spares' mode.
   */
  readonly takeFile: (path: string, mode?: number) => number | undefined
  /**
   * `takeFile` without a mode, with the mode the file has: the one `open` gave the spares (0644 less what the umask
   * or a default ACL took), known to the pool, so the caller need not read it back from the fd.
   */
  readonly takeFileAsMade: (path: string) => { readonly fd: number; readonly mode: number } | undefined
  /** Makes spares up to the pool's size, one per turn of the event loop; best effort (a failure stops this refill). */
  readonly refill: Effect.Effect<void>
}

/** enough for a typical plugin (the bench's: 8 directories with the staging dir, 8 files); a bigger one creates the rest */
const DEFAULT_SIZE = { dirs: 16, files: 24 }
/** what spare files are made with (before the umask): a plugin's usual file mode; narrower modes are a chmod away */
const SPARE_FILE_MODE = 0o644

export const makeSparePool = (fs: TreeFs, dir: string, size: { readonly dirs: number; readonly files: number } = DEFAULT_SIZE): SparePool => {
  const dirs: Array<string> = []
  const files: Array<string> = []
  /** the mode mkdir gave the spare directories (one lstat per refill: same process, same parent, same umask) */
  let dirMode: number | undefined
  /** the mode open gave the spare files (0644 asked): tells which bits the umask takes away */
  let fileMode: number | undefined
  let swept = false
  /** set when a take cannot work here (EXDEV: the cache is on another file system): no more refills */
  let disabled = false

  const take = (list: Array<string>, path: string): boolean => {
    const spare = list.pop()
    if (spare === undefined) return false
    try {
      fs.renameSync(spare, path)
      return true
    } catch (error) {
      if (errnoCode(error) === "EXDEV") disabled = true
      // the target's parent is missing (the caller creates it, then the inode): the spare is still good
      if (errnoCode(error) === "ENOENT" && exists(spare)) list.push(spare)
      return false
    }
  }
  const exists = (path: string): boolean => {
    try {
      fs.lstatSync(path)
      return true
    } catch {
      return false
    }
  }

  const sweep = (): void => {
    swept = true
    let names: ReadonlyArray<string>
    try {
      names = fs.readdirSync(dir)
    } catch {
      return // no spare dir yet (or unreadable: the refill reports nothing either way)
    }
    for (const name of names) {
      if (!ownerAlive(name)) fs.rmSync(Path.join(dir, name), { recursive: true, force: true })
    }
  }

  /** one spare made; false when the pool is full (or a call failed: the rest waits for the next refill) */
  const makeOne = (): boolean => {
    if (disabled) return false
    if (dirs.length < size.dirs) {
      const path = Path.join(dir, `d-${pidSuffix()}`)
      fs.mkdirSync(path, { recursive: false })
      dirMode ??= fs.lstatSync(path).mode & 0o7777
      dirs.push(path)
      return true
    }
    if (files.length < size.files) {
      const path = Path.join(dir, `f-${pidSuffix()}`)
      // 0644 (before the umask): the usual mode of a plugin's files, so most need no chmod once written
      const fd = fs.openSync(path, "wx", SPARE_FILE_MODE)
      try {
        fileMode ??= fs.fstatSync(fd).mode & 0o7777
      } finally {
        fs.closeSync(fd)
      }
      files.push(path)
      return true
    }
    return false
  }

  const refill = Effect.suspend(() => {
    if (disabled || (dirs.length >= size.dirs && files.length >= size.files)) return Effect.void
    const first = Effect.try({
      try: () => {
        if (!swept) sweep()
        try {
          fs.mkdirSync(dir, { recursive: false })
        } catch (error) {
          if (errnoCode(error) !== "EEXIST") throw error
        }
      },
      catch: (e) => e
    })
    const step: Effect.Effect<void, unknown> = Effect.suspend(() =>
      Effect.try({ try: makeOne, catch: (e) => e }).pipe(
        Effect.flatMap((made) => (made ? Effect.andThen(Effect.yieldNow, step) : Effect.void))
      )
    )
    return Effect.ignore(Effect.andThen(first, step))
  })

  /** moves a spare file to `path`: the mode it has (the spares'), or undefined if none could be */
  const takeSpareFile = (path: string): number | undefined => {
    const mode = fileMode
    return mode !== undefined && take(files, path) ? mode : undefined
  }

  return {
    dir,
    takeDir: (path) => (dirMode !== undefined && take(dirs, path) ? dirMode : undefined),
    takeFile: (path, mode) => {
      const spareMode = takeSpareFile(path)
      if (spareMode === undefined) return undefined
      // moved in: from here on it is the caller's file (a failed open or chmod is reported as a failed creation
      // would be; the caller removes the file as it would remove one it created)
      const fd = fs.openSync(path, "r+")
      // the bits of 0644 the umask took away are taken from `mode` too, as `open` would
      const wanted = mode === undefined ? spareMode : mode & ~(SPARE_FILE_MODE & ~spareMode)
      if (wanted !== spareMode) {
        try {
          fs.chmodSync(path, wanted)
        } catch (error) {
          closeQuietly(fs, fd)
          throw error
        }
      }
      return fd
    },
    takeFileAsMade: (path) => {
      const mode = takeSpareFile(path)
      // as in `takeFile`: a failed open is the caller's to report and clean up
      return mode === undefined ? undefined : { fd: fs.openSync(path, "r+"), mode }
    },
    refill
  }
}

/**
 * The pool of `dir` for this file system, made on first use: the Projector (trees, config.toml's temp file) and the
 * EventLog (the lock's temp file) of one ledger share it, so one refill serves both.
 */
const pools = new WeakMap<TreeFs, Map<string, SparePool>>()
const sparePoolFor = (fs: TreeFs, path: string): SparePool => {
  const dir = Path.resolve(path)
  let byDir = pools.get(fs)
  if (byDir === undefined) {
    byDir = new Map()
    pools.set(fs, byDir)
  }
  let pool = byDir.get(dir)
  if (pool === undefined) {
    pool = makeSparePool(fs, dir)
    byDir.set(dir, pool)
  }
  return pool
}

/**
 * The pool of a ledger (`<ledgerDir>/spare`) on this file system: the one place that names the spare dir, so the
 * Projector and the EventLog of one ledger always share a pool.
 */
export const ledgerSparePool = (fs: TreeFs, ledgerDir: string): SparePool => sparePoolFor(fs, Path.join(ledgerDir, "spare"))
