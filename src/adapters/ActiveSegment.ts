/**
 * The event log's active segment as this process holds it between commands: which file it is (device and inode, as
 * the last full catch-up read it) and the descriptor appends go through, kept open instead of opened and closed for
 * every command.
 *
 * A catch-up then needs two `stat`s when nothing happened, instead of listing `events/` and opening the segment:
 *
 * - `stat` of the segment's path: the same device and inode, and the size this process knows committed. Any other
 *   answer (another size: records or a torn tail another process wrote, or a truncation; another inode: the ledger
 *   replaced or restored under us; an error: removed, unreadable) sends the caller to the full catch-up, which lists
 *   the directory and reads from the path as before.
 * - `stat` of the name the next segment would have: segments are named by the seq of their first record, and one
 *   that continues the chain starts at the head's seq + 1, so that is the only name a writer can give the segment
 *   after this one. Missing (ENOENT): no segment was started after it. Anything else: the full catch-up. A file under
 *   any other name is no continuation of the chain; the full catch-up at the next open (and `verify`) lists and
 *   judges it, as it did before for names before the active one.
 *
 * Appends go through the held `O_APPEND` descriptor. It is opened at the first append after a full catch-up and
 * checked to be the file that catch-up read (same device and inode); while it is open that inode cannot be freed, so
 * its number cannot come back as another file's. A descriptor names an inode, not a path: where the old code opened
 * the path for every append, the append now checks after its fdatasync that the path still names this inode
 * (`isSeen` of a `stat` of the path, which also gives the size the append checks), so bytes written to a file
 * renamed away in the meantime are never acknowledged. Any failure drops the descriptor (closed, forgotten) and the
 * next append opens the path again: there is one way to (re)open, and no state survives an error. Node opens with
 * `O_CLOEXEC`, so the descriptor is not inherited by the processes the daemon spawns.
 */
import { closeQuietly } from "./AtomicFile.ts"
import { errnoCode, type FsPort, type FsStats } from "./FsPort.ts"

export interface FileIdentity {
  readonly dev: number
  readonly ino: number
}

const sameFile = (a: FileIdentity, b: FileIdentity): boolean => a.dev === b.dev && a.ino === b.ino

export interface ActiveSegment {
  /** the full catch-up read the active segment at `path` through a descriptor whose `fstat` gave `identity` */
  readonly saw: (path: string, identity: FileIdentity) => void
  /**
   * Whether the segment at `path` is still the file last seen, exactly `committed` bytes long, with no segment at
   * `nextPath` (the name a segment continuing after the head would have). false: the full catch-up decides.
   */
  readonly unchanged: (path: string, committed: number, nextPath: string) => boolean
  /**
   * The descriptor to append to `path` through (held open; opened if need be) and `fstat` of it now. Throws the fs
   * error, or `replaced` when the file at `path` is not the one last seen; either way nothing is held any more.
   */
  readonly forAppend: (path: string, replaced: () => Error) => { readonly fd: number; readonly stats: FsStats }
  /** whether `stats` (of the active segment's path) are those of the file last seen */
  readonly isSeen: (stats: FsStats) => boolean
  /** close and forget the held descriptor (after any failure, and when the log is closed) */
  readonly drop: () => void
  /** `drop`, and forget the file last seen too: the next catch-up reads the path anew (it names another file) */
  readonly lost: () => void
}

/** `stat`: "ENOENT" when nothing is there, undefined for another file-system error; anything else (a bug) is thrown. */
const statOrUndefined = (fs: FsPort, path: string): FsStats | "ENOENT" | undefined => {
  try {
    return fs.statIfExists(path) ?? "ENOENT"
  } catch (error) {
    if (errnoCode(error) === undefined) throw error
    return undefined
  }
}

export const makeActiveSegment = (fs: FsPort): ActiveSegment => {
  let seen: { readonly path: string; readonly identity: FileIdentity } | undefined
  let held: { readonly path: string; readonly fd: number } | undefined

  const drop = (): void => {
    if (held !== undefined) closeQuietly(fs, held.fd)
    held = undefined
  }

  const lost = (): void => {
    drop()
    seen = undefined
  }

  return {
    saw: (path, identity) => {
      if (held !== undefined && (held.path !== path || seen === undefined || !sameFile(seen.identity, identity))) drop()
      seen = { path, identity }
    },
    unchanged: (path, committed, nextPath) => {
      if (seen === undefined || seen.path !== path) return false
      const now = statOrUndefined(fs, path)
      if (now === undefined || now === "ENOENT" || !sameFile(now, seen.identity) || now.size !== committed) return false
      return statOrUndefined(fs, nextPath) === "ENOENT"
    },
    forAppend: (path, replaced) => {
      if (held !== undefined && held.path !== path) drop()
      try {
        const fd = held?.fd ?? fs.openSync(path, "a")
        held ??= { path, fd }
        const stats = fs.fstatSync(fd)
        if (seen === undefined || seen.path !== path || !sameFile(stats, seen.identity)) {
          // another file at the path since the catch-up read it: the next one reads it from the path
          lost()
          throw replaced()
        }
        return { fd, stats }
      } catch (error) {
        drop()
        throw error
      }
    },
    isSeen: (stats) => seen !== undefined && sameFile(stats, seen.identity),
    drop,
    lost
  }
}
