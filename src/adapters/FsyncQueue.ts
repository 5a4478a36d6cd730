/**
 * fsyncs issued on the libuv thread pool and waited for together: an `FsyncQueue` for what one step wrote, and
 * `fsyncPaths` for a settle's files and directories by path.
 */
import { Effect, Result } from "effect"
import { closeQuietly, ignorableDirSyncError } from "./AtomicFile.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"

/** At most this many fds are waited on at once: directories in one `settle` slice, files per caller batch. */
export const MAX_BATCH_FDS = 64

interface FsyncOutcome {
  readonly error: unknown
  readonly dir: boolean
}

/**
 * fsyncs in flight on the libuv thread pool. `start` issues one as soon as a file is written, so its wait
 * overlaps whatever comes next (writing the next files); `settle` waits for every one started, fsyncing `dirs`
 * alongside. Each fsync still has to succeed (the first error fails `settle`), so the guarantee is that of
 * fsyncing one by one; only the waiting overlaps. An fd is closed only after `settle` or `drain` returned
 * (an fd closed under a running fsync could be reused by the next open).
 */
export interface FsyncQueue {
  readonly start: (fd: number) => void
  /** `start` with an `fdatasync` (data and size, not timestamps): for appends */
  readonly startData: (fd: number) => void
  /** `skipMissing`: a directory that is not there is skipped (there is nothing of it to sync) */
  readonly settle: (dirs?: Iterable<string>, options?: { readonly skipMissing?: boolean }) => Effect.Effect<void, unknown>
  /** waits for every started fsync, whatever their outcome: on a failure path, before closing fds */
  readonly drain: Effect.Effect<void>
}

export const makeFsyncQueue = (fs: FsPort): FsyncQueue => {
  let inflight: Array<Promise<FsyncOutcome | undefined>> = []
  const issue = (fd: number, dir: boolean, data = false): void => {
    // `new Promise(resolve => resolve(...))` also turns a synchronous throw of the port into a rejection
    inflight.push(new Promise<void>((resolve) => resolve(data ? fs.fdatasyncAsync(fd) : fs.fsyncAsync(fd))).then(
      (): FsyncOutcome | undefined => undefined,
      (error: unknown): FsyncOutcome => ({ error, dir })
    ))
  }
  const takeAll = Effect.promise(() => {
    const all = inflight
    inflight = []
    return Promise.all(all)
  })
  /**
   * One slice of the directories opened and their fsyncs issued, then everything in flight waited for, in one
   * callback (the outcomes checked where they arrive): a generator, a promise and a step per slice were more runtime
   * steps on every install's blob settle.
   */
  const settleSlice = (dirs: Iterable<string>, skipMissing: boolean, rest?: Array<string>): Effect.Effect<void, unknown> =>
    Effect.callback<void, unknown>((resume) => {
      const pending = rest ?? [...new Set(dirs)]
      const dirFds: Array<number> = []
      const opened = Result.try(() => {
        for (const dir of pending.splice(0, MAX_BATCH_FDS)) {
          let fd: number
          try {
            fd = fs.openSync(dir, "r")
          } catch (error) {
            if (ignorableDirSyncError(error) || (skipMissing && errnoCode(error) === "ENOENT")) continue
            throw error
          }
          dirFds.push(fd)
          issue(fd, true)
        }
      })
      const all = inflight
      inflight = []
      // resumed from a promise job of its own, not from the check (the fiber goes on in the caller of `resume`)
      void Promise.all(all).then((outcomes): Effect.Effect<void, unknown> => {
        for (const fd of dirFds) closeQuietly(fs, fd)
        if (Result.isFailure(opened)) return Effect.fail(opened.failure)
        for (const outcome of outcomes) {
          // a directory fsync fails closed, as in `fsyncDir`: only Windows' refusals are tolerated
          if (outcome !== undefined && !(outcome.dir && ignorableDirSyncError(outcome.error))) return Effect.fail(outcome.error)
        }
        return pending.length > 0 ? settleSlice([], skipMissing, pending) : Effect.void
      }).then(resume, (defect: unknown) => resume(Effect.die(defect)))
    })
  const settle = (dirs: Iterable<string> = [], options: { readonly skipMissing?: boolean } = {}): Effect.Effect<void, unknown> =>
    Effect.uninterruptible(settleSlice(dirs, options.skipMissing === true))
  return { start: (fd) => issue(fd, false), startData: (fd) => issue(fd, false, true), settle, drain: Effect.asVoid(takeAll) }
}

/**
 * fsync the files at `files` (opened read-only by path: what is there now is what gets synced) and the directories
 * `dirs`, concurrently, `MAX_BATCH_FDS` files at a time; the directories go with the last slice. A path that is not
 * there is skipped: there is nothing of it to sync. Fails with the first error; every fd opened here is closed.
 * `open`: files still open from their writing (spares, `SparePool.takeHeld`; a pool holds few of them), fsynced
 * through those fds with the first slice; they stay open (the caller closes them, after this returns).
 */
export const fsyncPaths = Effect.fnUntraced(
  function*(fs: FsPort, files: ReadonlyArray<string>, dirs: Iterable<string>, open: ReadonlyArray<number> = []): Effect.fn.Return<void, unknown> {
    let next = 0
    do {
      const slice = files.slice(next, next + MAX_BATCH_FDS)
      const first = next === 0
      next += slice.length
      const fds: Array<number> = []
      const queue = makeFsyncQueue(fs)
      if (first) for (const fd of open) queue.start(fd)
      const opened = Result.try(() => {
        for (const file of slice) {
          let fd: number
          try {
            fd = fs.openSync(file, "r")
          } catch (error) {
            if (errnoCode(error) === "ENOENT") continue
            throw error
          }
          fds.push(fd)
          queue.start(fd)
        }
      })
      const synced = Result.isFailure(opened)
        ? yield* Effect.as(queue.drain, opened)
        : yield* Effect.result(queue.settle(next >= files.length ? dirs : [], { skipMissing: true }))
      for (const fd of fds) closeQuietly(fs, fd)
      if (Result.isFailure(synced)) return yield* Effect.fail(synced.failure)
    } while (next < files.length)
  },
  Effect.uninterruptible
)
