/**
 * Durability of projections, after the answer. A projection makes its outputs visible at once (trees swapped in,
 * config.toml renamed over) without waiting for them to reach the disk, and adds them to the chain of this
 * process's projections not yet known durable. `settle` then fsyncs every output of the chain and only then
 * advances checkpoint.json to the chain's last seq, so the checkpoint keeps meaning "everything projected up to
 * here is on disk": after a power loss, recovery projects again every event after it.
 *
 * `settle` runs under the ledger lock (an empty `EventLog.transact`), so no other process changes an output
 * between its fsyncs and the checkpoint. It fsyncs by path, i.e. whatever sits there now, and commits only when the
 * chain is still the whole story: the checkpoint on disk is the one the chain started from (nobody committed a
 * projection since) and the log ends at the chain's last record (nobody appended, so nothing newer was projected).
 * Otherwise it drops the chain: whoever projected later started from the same checkpoint, projected this chain's
 * events again, and commits them with its own.
 *
 * Until a commit, projections of this process continue from the chain's position (`position`) instead of the
 * checkpoint on disk, under the same two conditions checked at the start of each projection.
 *
 * A path that is gone when the settle comes is skipped (nothing of it to sync; a file deleted from the cache by hand
 * is `verify`'s to find), except a swapped-in tree's own dir: that is a projection undone by a process that crashed
 * while projecting again, so nothing is committed and the next projection rebuilds it.
 *
 * A tree's files made from spares are still open from their writing (`TreeDurability.held`): the settle fsyncs them
 * through those descriptors (the very files written, wherever they are now) instead of opening them again, and
 * closes them. The chain owns them from `extend` on: a tree replaced in it (the same target projected again), a
 * chain dropped, a settle that commits nothing or fails, and the chain left at the scope's end close theirs too.
 */
import { Cause, Context, Effect, FiberSet, type Scope } from "effect"
import * as Path from "node:path"
import {
  attempt,
  commitStaged,
  discardStaged,
  type DurableDirs,
  fsyncDir,
  type StagedFile,
  stageFile,
  unlinkRetired
} from "../adapters/AtomicFile.ts"
import { fsyncPaths } from "../adapters/FsyncQueue.ts"
import { errnoCode, type FsPort } from "../adapters/FsPort.ts"
import type { TreeDurability } from "../adapters/PluginTree.ts"
import type { EventLog, LogRecord } from "./EventLog.ts"
import type { LedgerPaths } from "./LedgerPaths.ts"
import { type Checkpoint, encodeCheckpoint, readCheckpoint, recordAt, samePosition, validCheckpoint } from "./ProjectionCheckpoint.ts"

/**
 * How long after a projection its settle waits before it starts (ms; 0: at once, the default). The settle is work
 * for later: its fsyncs and its CPU compete, on few cores, with the client that has just been answered and is
 * reading the answer. `serve` and `daemon` wait a little (SETTLE_DELAY_MS in DaemonLayer.ts); projections made
 * meanwhile join the same settle. Closing the scope does not wait for the delay.
 */
export const SettleDelay = Context.Reference<number>("plugin-ledger/services/SettleDelay", { defaultValue: () => 0 })

/** closes the descriptors the trees hold (`TreeDurability.close`; a second close does nothing) */
export const closeTrees = (trees: Iterable<TreeDurability>): void => {
  for (const tree of trees) tree.close()
}

/** What one projection changed, to be made durable. */
export interface ProjectionOutputs {
  readonly trees: ReadonlyArray<TreeDurability>
  /** files whose bytes must be fsynced (config.toml found already projected after a crash) */
  readonly files: ReadonlyArray<string>
  /** directories whose entries must be fsynced (config.toml's, after its rename; those of created dirs) */
  readonly dirs: ReadonlyArray<string>
}

interface Chain {
  /** the checkpoint on disk when the chain started (undefined: none) */
  readonly base: Checkpoint | undefined
  /** the checkpoint to write: the position of the chain's last projection */
  next: Checkpoint
  /** by target: a later projection of the same plugin dir replaces the earlier one's tree */
  readonly trees: Map<string, TreeDurability>
  readonly files: Set<string>
  readonly dirs: Set<string>
}

export interface ProjectionDurability {
  /**
   * Where a projection of `records` starts: this chain's position, if the checkpoint on disk (`disk`) is still the
   * one it started from and the records before `freshFromSeq` (all of them when undefined) end at it; else `disk`
   * (and the chain is dropped).
   */
  readonly position: (records: ReadonlyArray<LogRecord>, freshFromSeq: number | undefined, disk: Checkpoint | undefined) => Checkpoint | undefined
  /** the position as far as this process knows (`position` without the log check): for `Projector.checkpoint` */
  readonly latest: (disk: Checkpoint | undefined) => Checkpoint | undefined
  /**
   * A projection reached `next`, changing `outputs`; `disk` is the checkpoint on disk it read (the base of a new
   * chain, when `position` did not continue this one)
   */
  readonly extend: (disk: Checkpoint | undefined, next: Checkpoint, outputs: ProjectionOutputs) => void
  /** a projection failed part-way: its outputs are unknown, so the next one starts from the checkpoint on disk */
  readonly drop: () => void
  /** a link made by `retireLink` (an old config.toml kept alive past its replacement), removed by the next settle */
  readonly retired: (link: string) => void
  /**
   * Called by a projection (under the ledger lock, `records` all of them) once it extended the chain: starts the
   * settle in the background, unless one is waiting already (it takes every projection made until it gets the
   * lock). The settle fsyncs the chain's outputs and commits its checkpoint, under the lock (see the header); it
   * waits for the lock, so it runs after the transaction that projected, i.e. after the answer. With `now` (a
   * catch-up: start-up, records of other processes; no answer waits for it), and once the scope is closing (a
   * request answered during a shutdown), the chain is settled right here instead, the lock being held. Decides when
   * called (in a step the projection runs anyway: a suspension of its own was runtime steps on every command) and
   * returns what to run then, or `undefined` when there is nothing to (the usual: a settle is scheduled).
   */
  readonly afterProjection: (records: ReadonlyArray<LogRecord>, now: boolean) => Effect.Effect<void, unknown> | undefined
  /**
   * Waits until no settle is waiting or under way, nor the work after it (`afterSettle`: spare inodes made); one
   * waiting out its delay starts at once. Never fails (a settle's failure is logged, as ever). For tests that must
   * know the pool is refilled before their next step without sleeping; nothing calls it otherwise.
   */
  readonly settled: Effect.Effect<void>
}

/**
 * The durability of this process's projections. Scoped: closing the scope (the Projector layer's, at a clean stop:
 * stdin EOF, SIGTERM) waits for the settle under way and settles what is left.
 */
export const makeProjectionDurability = Effect.fnUntraced(function*(options: {
  readonly fs: FsPort
  readonly paths: LedgerPaths
  readonly log: EventLog["Service"]
  /** the ancestors of fsynced dirs up to CODEX_HOME, fsynced once per process */
  readonly durableDirs: DurableDirs
  /** background work run after each settle in the background, outside the lock (not at shutdown): spare inodes made */
  readonly afterSettle?: Effect.Effect<void>
  /** `SettleDelay` */
  readonly settleDelayMs?: number
}): Effect.fn.Return<ProjectionDurability, never, Scope.Scope> {
  const { fs, paths, log, durableDirs } = options
  const settleDelayMs = options.settleDelayMs ?? 0
  const afterSettle = options.afterSettle ?? Effect.void
  let chain: Chain | undefined

  const latest = (disk: Checkpoint | undefined) => (chain !== undefined && samePosition(disk, chain.base) ? chain.next : disk)

  /** the chain is given up: the descriptors its trees hold are closed */
  const dropChain = (): void => {
    const dropped = chain
    chain = undefined
    if (dropped !== undefined) closeTrees(dropped.trees.values())
  }

  const position = (records: ReadonlyArray<LogRecord>, freshFromSeq: number | undefined, disk: Checkpoint | undefined) => {
    const current = chain
    if (current === undefined) return disk
    const before = freshFromSeq === undefined ? records.at(-1) : recordAt(records, freshFromSeq - 1)
    if (samePosition(disk, current.base) && before?.seq === current.next.seq && before.h === current.next.h) return current.next
    dropChain()
    return disk
  }

  const extend = (disk: Checkpoint | undefined, next: Checkpoint, outputs: ProjectionOutputs): void => {
    const current = chain ?? { base: disk, next, trees: new Map(), files: new Set<string>(), dirs: new Set<string>() }
    current.next = next
    for (const tree of outputs.trees) {
      // the earlier tree at this target is gone (swapped out): its files need no fsync, its descriptors no keeping
      const replaced = current.trees.get(tree.target)
      if (replaced !== undefined && replaced !== tree) replaced.close()
      current.trees.set(tree.target, tree)
      for (const dir of tree.created) current.dirs.add(dir)
    }
    for (const file of outputs.files) current.files.add(file)
    for (const dir of outputs.dirs) current.dirs.add(dir)
    chain = current
  }

  const exists = (path: string): boolean => {
    try {
      fs.statSync(path)
      return true
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return false
      throw error
    }
  }

  /** old files kept alive past their replacement (`retireLink`): freed by the settle, off the critical path */
  const retiredLinks: Array<string> = []
  const freeRetired = Effect.sync(() => unlinkRetired(fs, retiredLinks.splice(0)))

  /** Under the lock: the chain's outputs fsynced, then its checkpoint renamed in; or the chain dropped (header). */
  const commit = (records: ReadonlyArray<LogRecord>): Effect.Effect<void, unknown> =>
    Effect.suspend(() => {
      const taken = chain
      if (taken === undefined) return freeRetired
      // taken for good: a failure leaves it to the next projection, which starts from the checkpoint on disk. Its
      // descriptors are closed however the commit ends, only after it returned (no fsync of theirs in flight then)
      chain = undefined
      return commitChain(records, taken).pipe(
        Effect.ensuring(Effect.sync(() => closeTrees(taken.trees.values()))),
        Effect.ensuring(freeRetired)
      )
    })
  const commitChain = Effect.fnUntraced(function*(records: ReadonlyArray<LogRecord>, taken: Chain): Effect.fn.Return<void, unknown> {
    const disk = yield* attempt(() => validCheckpoint(readCheckpoint(fs, paths.checkpointPath), records))
    const head = records.at(-1)
    if (!samePosition(disk, taken.base) || head?.seq !== taken.next.seq || head.h !== taken.next.h) return
    const trees = [...taken.trees.values()]
    // a swapped-in tree gone again (see the header): not committed
    const swapped = trees.filter((tree) => tree.files.length > 0)
    if (!(yield* attempt(() => swapped.every((tree) => exists(tree.target))))) return
    // a file written through a descriptor still open is fsynced through it; the others are opened by path
    const files = [...taken.files, ...trees.flatMap((tree) => tree.files.filter((file) => !tree.held.has(file)))]
    const open = trees.flatMap((tree) => [...tree.held.values()].map((file) => file.fd))
    const dirs = durableDirs.withAncestors([...taken.dirs, ...trees.flatMap((tree) => tree.dirs)])
    const checkpointFile: { staged?: StagedFile } = {}
    const stageCheckpoint = stageFile(fs, paths.checkpointPath, encodeCheckpoint(taken.next), 0o666).pipe(
      Effect.tap((staged) => Effect.sync(() => { checkpointFile.staged = staged }))
    )
    // the checkpoint's temp file is written and fsynced alongside the outputs, and renamed in after them
    yield* Effect.all([fsyncPaths(fs, files, dirs, open), stageCheckpoint], { concurrency: 2, discard: true }).pipe(
      Effect.onError(() => Effect.sync(() => (checkpointFile.staged === undefined ? undefined : discardStaged(fs, checkpointFile.staged))))
    )
    durableDirs.confirm(dirs)
    const staged = checkpointFile.staged
    if (staged !== undefined) yield* attempt(() => commitStaged(fs, staged))
    // the checkpoint's own rename is not fsynced (a lost one only means projecting again), except the first: from
    // then on a crash always leaves one to fold config.toml from
    if (disk === undefined) yield* attempt(() => fsyncDir(fs, Path.dirname(paths.checkpointPath)))
  })

  let scheduled = false
  const settle = Effect.suspend(() => {
    if (chain === undefined) return freeRetired
    let reached = false
    const underLock = (records: ReadonlyArray<LogRecord>) =>
      Effect.suspend(() => {
        // projections from now on (after this transaction) need a settle of their own
        reached = true
        scheduled = false
        return Effect.as(commit(records), { append: [], value: undefined })
      })
    return log.transact(underLock).pipe(
      Effect.asVoid,
      Effect.ensuring(Effect.sync(() => {
        if (!reached) scheduled = false
      })),
      Effect.catchCause((cause) =>
        Effect.logWarning(`the projection is not known durable yet (it is projected again from the checkpoint): ${Cause.pretty(cause)}`)
      ),
      Effect.andThen(Effect.suspend(() => (closing ? Effect.void : afterSettle)))
    )
  })
  const fibers = yield* FiberSet.make<void>()
  const runInSet = yield* FiberSet.runtime(fibers)()
  let closing = false
  /**
   * The settle waiting out its delay: a plain timer, armed in the projection (before the answer) at the cost of one
   * call, where a fiber racing a sleep against the scope's end cost ~20 runtime operations there. Cleared when the
   * scope closes: the finalizer settles at once.
   */
  let delay: NodeJS.Timeout | undefined
  const startSettle = (): void => {
    delay = undefined
    runInSet(settle)
  }
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closing = true
      if (delay !== undefined) clearTimeout(delay)
      delay = undefined
      // a chain the settle could not take (no lock) is given up: the next process projects it again
      return FiberSet.awaitEmpty(fibers).pipe(Effect.andThen(settle), Effect.ensuring(Effect.sync(dropChain)))
    })
  )

  return {
    position,
    latest,
    extend,
    drop: dropChain,
    retired: (link) => {
      retiredLinks.push(link)
    },
    afterProjection: (records, now) => {
      if (chain === undefined) return undefined
      if (now || closing) return commit(records)
      if (scheduled) return undefined
      scheduled = true
      if (settleDelayMs <= 0) return Effect.asVoid(FiberSet.run(fibers, settle))
      delay = setTimeout(startSettle, settleDelayMs)
      return undefined
    },
    settled: Effect.suspend(() => {
      if (delay !== undefined) {
        clearTimeout(delay)
        startSettle()
      }
      return FiberSet.awaitEmpty(fibers)
    })
  }
})
