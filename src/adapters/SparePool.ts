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
 *
 * Descriptors: a spare file is made with `open`, and that descriptor is kept, so taking it costs the rename alone
 * (no second open, no close, a mode set with `fchmod`); the taker writes through it. Only the pool's own files are
 * ever opened, by their creation. The pool holds at most `size.files` descriptors (24 by default): those of the spare
 * files waiting plus those handed out by `takeHeld` and not yet closed (a refill makes no more than that allows).
 * `takeFile`'s descriptor is the caller's outright, to close as one it opened itself. `close` (the end of the
 * scope of `acquireLedgerSparePool`) closes the waiting ones; their files stay, as any spare left at exit does.
 */
import { Effect, type Scope } from "effect"
import * as Path from "node:path"
import { closeQuietly, ownerAlive, pidSuffix } from "./AtomicFile.ts"
import { errnoCode } from "./FsPort.ts"
import type { TreeFs } from "./TreeFs.ts"

/** A spare file moved into place with the descriptor it was made with (open for reading and writing). */
export interface HeldFile {
  readonly fd: number
  /** the mode it has: the one `open` gave the spares (0644 less what the umask or a default ACL took) */
  readonly mode: number
  /** closes the descriptor, once: a second call does nothing (by then the number may be another file's) */
  readonly close: () => void
}

export interface SparePool {
  /** where the spares wait: a tree built from them is durable only once this directory's entries are (see below) */
  readonly dir: string
  /** Moves a spare empty directory to `path` (which must not exist); its mode, or undefined if the caller must mkdir. */
  readonly takeDir: (path: string) => number | undefined
  /**
   * Moves a spare empty file to `path` (which must not exist); its descriptor, open for writing and from then on the
   * caller's to close, or undefined if the caller must create it. With `mode` (0644 or narrower, e.g. config.toml's
   * temp file's 0600), the file gets that mode as `open` would have given it (the umask applied) before anything is
   * written; without, it has the spares' mode.
   */
  readonly takeFile: (path: string, mode?: number) => number | undefined
  /**
   * `takeFile` without a mode, the descriptor staying counted by the pool until `close`d: for a file written now and
   * fsynced later through the same descriptor (a tree's, by the settle after the answer).
   */
  readonly takeHeld: (path: string) => HeldFile | undefined
  /** Makes spares up to the pool's size, one per turn of the event loop; best effort (a failure stops this refill). */
  readonly refill: Effect.Effect<void>
  /** Closes the descriptors of the spare files waiting and makes no more (their files stay, like any left at exit). */
  readonly close: () => void
}

/** enough for a typical plugin (the bench's: 8 directories with the staging dir, 8 files); a bigger one creates the rest */
const DEFAULT_SIZE = { dirs: 16, files: 24 }
/** what spare files are made with (before the umask): a plugin's usual file mode; narrower modes are a chmod away */
const SPARE_FILE_MODE = 0o644

interface SpareFile {
  readonly path: string
  readonly fd: number
}

export const makeSparePool = (fs: TreeFs, dir: string, size: { readonly dirs: number; readonly files: number } = DEFAULT_SIZE): SparePool => {
  const dirs: Array<string> = []
  const files: Array<SpareFile> = []
  /** descriptors handed out by `takeHeld` and not closed yet: they count against `size.files` */
  let held = 0
  /** the mode mkdir gave the spare directories (one lstat per refill: same process, same parent, same umask) */
  let dirMode: number | undefined
  /** the mode open gave the spare files (0644 asked): tells which bits the umask takes away */
  let fileMode: number | undefined
  let swept = false
  /**
   * whether `dir` is known to be there: made (or found) by the first refill, and looked for again only after a spare
   * could not be made in it (ENOENT: removed since). A mkdir at every refill failed with EEXIST, a thrown error each
   */
  let dirThere = false
  /** set when a take cannot work here (EXDEV: the cache is on another file system), or by `close`: no more refills */
  let disabled = false

  /** renames `spare` to `path`; on failure, whether the spare is still good (the target's parent is missing) */
  const moved = (spare: string, path: string): "moved" | "kept" | "lost" => {
    try {
      fs.renameSync(spare, path)
      return "moved"
    } catch (error) {
      if (errnoCode(error) === "EXDEV") disabled = true
      // the target's parent is missing (the caller creates it, then the inode): the spare is still good
      return errnoCode(error) === "ENOENT" && exists(spare) ? "kept" : "lost"
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

  const takeSpareDir = (path: string): number | undefined => {
    const mode = dirMode
    const spare = mode === undefined ? undefined : dirs.pop()
    if (mode === undefined || spare === undefined) return undefined
    const outcome = moved(spare, path)
    if (outcome === "kept") dirs.push(spare)
    return outcome === "moved" ? mode : undefined
  }

  /** moves a spare file to `path`: its descriptor (the caller's from here on) and mode, or undefined if none could be */
  const takeSpareFile = (path: string): { readonly fd: number; readonly mode: number } | undefined => {
    const mode = fileMode
    const spare = mode === undefined ? undefined : files.pop()
    if (mode === undefined || spare === undefined) return undefined
    const outcome = moved(spare.path, path)
    if (outcome === "moved") return { fd: spare.fd, mode }
    if (outcome === "kept") files.push(spare)
    else closeQuietly(fs, spare.fd)
    return undefined
  }

  const sweep = (): void => {
    swept = true
    let names: ReadonlyArray<string>
    try {
      names = fs.readdirSync(dir)
    } catch {
      return // no spare dir yet (or unreadable: the refill reports nothing either way)
    }
    // only removed, never opened: the descriptors kept are those of our own spares
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
    if (files.length + held < size.files) {
      const path = Path.join(dir, `f-${pidSuffix()}`)
      // 0644 (before the umask): the usual mode of a plugin's files, so most need no chmod once written; read and
      // write, as a file opened for writing by path would be
      const fd = fs.openSync(path, "wx+", SPARE_FILE_MODE)
      try {
        fileMode ??= fs.fstatSync(fd).mode & 0o7777
      } catch (error) {
        closeQuietly(fs, fd)
        throw error
      }
      files.push({ path, fd })
      return true
    }
    return false
  }

  const refill = Effect.suspend(() => {
    if (disabled || (dirs.length >= size.dirs && files.length + held >= size.files)) return Effect.void
    const first = Effect.try({
      try: () => {
        if (!swept) sweep()
        if (dirThere) return
        try {
          fs.mkdirSync(dir, { recursive: false })
        } catch (error) {
          if (errnoCode(error) !== "EEXIST") throw error
        }
        dirThere = true
      },
      catch: (e) => e
    })
    const step: Effect.Effect<void, unknown> = Effect.suspend(() =>
      Effect.try({
        try: makeOne,
        catch: (e) => {
          if (errnoCode(e) === "ENOENT") dirThere = false
          return e
        }
      }).pipe(
        Effect.flatMap((made) => (made ? Effect.andThen(Effect.yieldNow, step) : Effect.void))
      )
    )
    return Effect.ignore(Effect.andThen(first, step))
  })

  const closeWaiting = (): void => {
    disabled = true
    for (const spare of files.splice(0)) closeQuietly(fs, spare.fd)
  }

  return {
    dir,
    takeDir: takeSpareDir,
    takeFile: (path, mode) => {
      const spare = takeSpareFile(path)
      if (spare === undefined) return undefined
      // moved in: from here on it is the caller's file (a failed chmod is reported as a failed creation would be;
      // the caller removes the file as it would remove one it created)
      // the bits of 0644 the umask took away are taken from `mode` too, as `open` would
      const wanted = mode === undefined ? spare.mode : mode & ~(SPARE_FILE_MODE & ~spare.mode)
      if (wanted !== spare.mode) {
        try {
          fs.fchmodSync(spare.fd, wanted)
        } catch (error) {
          closeQuietly(fs, spare.fd)
          throw error
        }
      }
      return spare.fd
    },
    takeHeld: (path) => {
      const spare = takeSpareFile(path)
      if (spare === undefined) return undefined
      held++
      let open = true
      const release = (): void => {
        if (!open) return
        open = false
        held--
        closeQuietly(fs, spare.fd)
      }
      return { fd: spare.fd, mode: spare.mode, close: release }
    },
    refill,
    close: closeWaiting
  }
}

/**
 * The pools in use, by file system and directory: the Projector (trees, config.toml's temp file) and the EventLog
 * (the lock's temp file) of one ledger share one, so one refill serves both. `users` counts the scopes that
 * acquired it; the last one to close closes it.
 */
const pools = new WeakMap<TreeFs, Map<string, { readonly pool: SparePool; users: number }>>()
const sparePoolFor = (fs: TreeFs, path: string): { readonly pool: SparePool; users: number } => {
  const dir = Path.resolve(path)
  let byDir = pools.get(fs)
  if (byDir === undefined) {
    byDir = new Map()
    pools.set(fs, byDir)
  }
  let entry = byDir.get(dir)
  if (entry === undefined) {
    entry = { pool: makeSparePool(fs, dir), users: 0 }
    byDir.set(dir, entry)
  }
  return entry
}

const spareDirOf = (ledgerDir: string): string => Path.join(ledgerDir, "spare")

/**
 * The pool of a ledger (`<ledgerDir>/spare`) on this file system, for a user that only takes from it (the EventLog):
 * the one place, with `acquireLedgerSparePool`, that names the spare dir, so the Projector and the EventLog of one
 * ledger always share a pool. Once its last acquirer is gone, it is closed: takes then find no file (the caller
 * creates one, as ever).
 */
export const ledgerSparePool = (fs: TreeFs, ledgerDir: string): SparePool => sparePoolFor(fs, spareDirOf(ledgerDir)).pool

/**
 * The pool of a ledger, for the user that refills it (the Projector): held until the scope closes, when the last
 * acquirer's release closes its descriptors (and the next acquirer gets a new pool).
 */
export const acquireLedgerSparePool = (fs: TreeFs, ledgerDir: string): Effect.Effect<SparePool, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const entry = sparePoolFor(fs, spareDirOf(ledgerDir))
      entry.users++
      return entry
    }),
    (entry) =>
      Effect.sync(() => {
        entry.users--
        if (entry.users > 0) return
        entry.pool.close()
        const byDir = pools.get(fs)
        if (byDir?.get(entry.pool.dir) === entry) byDir.delete(entry.pool.dir)
      })
  ).pipe(Effect.map((entry) => entry.pool))
