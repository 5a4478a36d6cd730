/**
 * Projects the log into what Codex reads: plugin cache trees and `[plugins."<id>"]` tables of config.toml.
 * Outputs are pure functions of the log (trees come from blobs, never from the marketplace again), written
 * atomically; `checkpoint.json` records the last seq whose outputs are known durable (and config.toml's text at that
 * seq), so a crash or a power loss anywhere is repaired by projecting again from the checkpoint.
 *
 * Durability order. Before an answer: the event itself (fdatasync of the log, by the caller) and, before it, every
 * blob it refers to (the Engine stores them first); config.toml is never torn or empty, as its new bytes are in a
 * temp file fsynced before the rename. Not awaited before the answer: the cache trees (built in a staging dir and
 * swapped in without fsync), the directory entry of config.toml's rename, and the checkpoint: the cache and the
 * checkpoint are derived data, and config.toml's rename lost to a power loss leaves its old bytes, which the
 * re-projection below rewrites. Right after the answer, a background settle (ProjectionDurability.ts) fsyncs those
 * outputs, by path, under the ledger lock, and only then advances the checkpoint (temp file fsynced, renamed; the
 * rename is fsynced only for the first checkpoint of a ledger). So the checkpoint names the newest seq whose outputs
 * are durable or an older one, never one whose outputs a power loss could take back; every seq after it is projected
 * again at the next start (or by the next projection of any process: a projection starts from the checkpoint on disk
 * unless it continues this process's own chain, see `ProjectionDurability.position`). A catch-up (start-up
 * recovery, records of other processes: no answer waits for it) settles before it returns, as does anything
 * projected while the layer closes; closing the layer (stdin EOF, SIGTERM: finalizers) waits for the pending settle.
 *
 * Re-projecting is folding the events after the checkpoint into config.toml. When a projection died after
 * renaming config.toml but before its checkpoint, config.toml is already ahead of the checkpoint, and folding
 * over it again is not always the same (an uninstall and a reinstall move a table to the end): so the fold
 * starts from the checkpoint's copy of the text whenever config.toml is one of the texts that fold passes through.
 */
import { Context, Effect, Fiber, Layer, Result, Schema, Scope } from "effect"
import * as Path from "node:path"
import {
  attempt,
  commitStaged,
  makeDirs,
  makeDurableDirs,
  retireLink,
  type StagedFile,
  stageFile,
  sweepRetired,
  sweepTempFiles
} from "../adapters/AtomicFile.ts"
import { makeBlobStore, sha256Hex } from "../adapters/BlobStore.ts"
import { prepareNextEdit } from "../adapters/ConfigToml.ts"
import { describeError } from "../adapters/FsPort.ts"
import { readTextOrEmpty } from "../adapters/FsQueries.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { materialize, removeTree, swapInPrepared, sweepLeftovers, type TreeDurability } from "../adapters/PluginTree.ts"
import { discardPrepared } from "../adapters/TreeStaging.ts"
import type { SourceTree } from "../adapters/TreeBlob.ts"
import type { PluginEvent } from "../domain/Events.ts"
import { configEditsOf, editConfig } from "./ConfigEdits.ts"
import { EventLog, type LogRecord, recordsAfter } from "./EventLog.ts"
import { readEventOf } from "./EventRecords.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { type LockHold as Hold, LockHold } from "./LockHold.ts"
import { type Checkpoint, PROJECTOR_VERSION, readCheckpoint, validCheckpoint } from "./ProjectionCheckpoint.ts"
import { closeTrees, makeProjectionDurability, SettleDelay } from "./ProjectionDurability.ts"
import { acquireLedgerSparePool } from "../adapters/SparePool.ts"
import { makeStagedOutputs } from "./StagedOutputs.ts"

export class ProjectionError extends Schema.TaggedError<ProjectionError>()("ProjectionError", {
  target: Schema.String,
  message: Schema.String
}) {}

/** an event whose cache tree must be built from the blobs (no prepared tree to swap in) */
const LATER = Symbol("built from the blobs")

const splitId = (pluginId: string) => {
  const at = pluginId.lastIndexOf("@")
  return { plugin: pluginId.slice(0, at), marketplace: pluginId.slice(at + 1) }
}

export class Projector extends Context.Service<Projector, {
  /**
   * Projects every record newer than the checkpoint (or than this process's own projections not settled yet), in
   * order; the outputs are visible when it returns, durable (and the checkpoint advanced) once the background settle
   * it starts is through (see the header). `freshFromSeq`: the records from this seq on were just decided on
   * config.toml as it is now (by the caller, under the lock), so their edits are made as they are; older pending
   * records are a catch-up, whose edits are not made over a table the user changed meanwhile (`configEditsToApply`)
   */
  readonly project: (records: ReadonlyArray<LogRecord>, freshFromSeq?: number) => Effect.Effect<void, ProjectionError>
  /** how far the projection is: the checkpoint on disk, or this process's projections since it (not yet settled) */
  readonly checkpoint: Effect.Effect<Checkpoint | undefined>
  /** the cache directory of an installed version */
  readonly versionDir: (pluginId: string, version: string) => string
  readonly pluginDir: (pluginId: string) => string
  /**
   * Builds the cache tree an install will project, and its config.toml temp file, before its event is
   * appended, so that work overlaps the blob writes; the projection of the matching `PluginInstalled` then
   * only renames them in. Returns once the tree is built and the temp file written: its fsync goes on meanwhile and
   * is joined by the projection. Held by the scope: removed when the scope closes if no projection took them. Never
   * fails (the projection writes them itself then).
   */
  readonly prepare: (
    pluginId: string,
    version: string,
    source: SourceTree,
    /** config.toml as read for the command: its edited text is staged too (renamed in only if still the same) */
    configText: string
  ) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Waits for the background settle of this process's projections (see the header) and for the spare inodes made
   * after it (`SparePool.refill`), if one is waiting or under way. For tests: installs after it take spares
   * deterministically, where racing the refill they would take some or none. Costs nothing unless called.
   */
  readonly settled: Effect.Effect<void>
}>()("plugin-ledger/services/Projector") {
  static readonly layer: Layer.Layer<Projector, never, LedgerConfig | LedgerFs | EventLog> = Layer.effect(
    Projector,
    Effect.gen(function*() {
      const paths = yield* LedgerConfig
      const fs = yield* LedgerFs
      /**
       * spare inodes for the trees and temp files written here, made after each settle (`SparePool.ts`); their
       * descriptors are closed with this layer's scope, after the settle its finalizer runs (added later, run first)
       */
      const spares = yield* acquireLedgerSparePool(fs, paths.ledgerDir)
      /** the marketplace cache dirs this projector built trees in (see `BuildOptions`) */
      const cacheParents = new Set<string>()
      const blobs = makeBlobStore(fs, paths.blobsDir)
      const pluginDir = (pluginId: string) => {
        const { marketplace, plugin } = splitId(pluginId)
        return Path.join(paths.cacheDir, marketplace, plugin)
      }
      const versionDir = (pluginId: string, version: string) => Path.join(pluginDir(pluginId), version)

      const log = yield* EventLog
      /**
       * checkpoint.json as `checkpoint` read it under the lock hold `hold`, for the projection that comes next in the
       * same hold (a command reads it to decide, then projects). Only lock holders write the file, and this process's
       * only write of it (`ProjectionDurability`'s commit) comes after that projection has taken this (and emptied it),
       * so within the hold the file still holds exactly these bytes. Taken once, at most: a read after the commit is
       * a new one.
       */
      let readInHold: { readonly hold: Hold; readonly checkpoint: Checkpoint | undefined } | undefined
      const readDisk = (hold: Hold | undefined): Checkpoint | undefined => {
        readInHold = undefined
        const checkpoint = readCheckpoint(fs, paths.checkpointPath)
        readInHold = hold === undefined ? undefined : { hold, checkpoint }
        return checkpoint
      }
      /** the checkpoint on disk, if it names a record of this log (else absent: everything is projected again) */
      const diskCheckpoint = (records: ReadonlyArray<LogRecord>, hold: Hold | undefined): Checkpoint | undefined => {
        const known = readInHold
        readInHold = undefined
        const raw = hold !== undefined && known?.hold.id === hold.id ? known.checkpoint : readCheckpoint(fs, paths.checkpointPath)
        return validCheckpoint(raw, records)
      }
      /**
       * The text to fold the pending events into: config.toml as it is, unless it is one of the texts the fold from
       * the checkpoint's copy passes through (a projection that died before its checkpoint already wrote it): then
       * that copy. A text the fold never produces was edited by hand since, and is kept as the base.
       */
      const baseText = (checkpoint: Checkpoint | undefined, current: string, events: ReadonlyArray<PluginEvent>): string => {
        const saved = checkpoint?.configText
        if (saved === undefined || saved === current) return current
        let text = saved
        for (const event of events) {
          const edited = editConfig(text, event)
          if (Result.isFailure(edited)) return current
          text = edited.success
          if (text === current) return saved
        }
        return current
      }
      const readConfig = (): string => readTextOrEmpty(fs, paths.configPath)

      /** what an install builds and stages ahead of its event, for the projection to take */
      const ahead = makeStagedOutputs({ fs, configPath: paths.configPath, spares, cacheParents, pluginDir })

      /**
       * Applies an event to the cache synchronously where it can (an install whose tree was prepared, an uninstall, an
       * event without a tree): what to fsync before the change counts as durable (undefined: no change), or `LATER`
       * when the tree must be built from the blobs first (`buildTree`).
       */
      const projectCacheNow = (event: PluginEvent): TreeDurability | undefined | typeof LATER => {
        switch (event._tag) {
          case "PluginInstalled": {
            // the whole <m>/<p> dir is replaced, as Codex does: version dirs of older installs go with it
            const target = pluginDir(event.pluginId)
            const prepared = ahead.takeTree(target, event.treeHash, event.version)
            if (prepared === undefined) return LATER
            try {
              // a prepared tree that is not there any more is only closed: built from the blobs then
              return swapInPrepared(fs, prepared, target) ?? LATER
            } catch (error) {
              // taken from the map, so no finalizer removes it any more: a failure here must
              discardPrepared(fs, prepared)
              throw error
            }
          }
          case "PluginUninstalled":
            return removeTree(fs, pluginDir(event.pluginId))
          case "ProjectionRepaired":
          case "PluginRolledBack":
            return LATER
          case "PluginEnabled":
          case "PluginDisabled":
          case "LogTailRepaired":
          case "PluginStateChangedExternally":
          case "ConfigUnreadable":
          case "RemoteSyncRecorded":
          case "CuratedMirrorUpdated":
          case "ProcessPluginAdded":
          case "ProcessPluginConfigured":
          case "ProcessPluginCredentialsSet":
          case "ProcessPluginEnabled":
          case "ProcessPluginDisabled":
          case "ProcessPluginRemoved":
          case "ProcessPluginFailed":
          case "ManifestObserved":
            return undefined
        }
      }

      /** An event's tree built from its blobs and swapped in (an install without a prepared tree, a repair, a rollback). */
      const buildTree = (event: PluginEvent): Effect.Effect<TreeDurability | undefined, unknown> => {
        switch (event._tag) {
          case "PluginInstalled":
          case "ProjectionRepaired":
            return materialize(fs, blobs, event.treeHash, pluginDir(event.pluginId), { under: event.version, pool: spares, knownParents: cacheParents })
          case "PluginRolledBack":
            // an earlier content version, rebuilt from its blobs and swapped in whole like an install
            return materialize(fs, blobs, event.toTreeHash, pluginDir(event.pluginId), { under: event.version, pool: spares, knownParents: cacheParents })
          default:
            return Effect.succeed(undefined)
        }
      }

      /**
       * The events' cache changes, in order: synchronously while each can be (the usual: one install, its tree
       * prepared: then the trees themselves, no effect), then one event at a time. Each tree swapped in goes to
       * `produced` (closed if the projection fails). Throws what the synchronous part throws.
       */
      const projectTrees = (
        events: ReadonlyArray<PluginEvent>,
        produced: Array<TreeDurability>
      ): Array<TreeDurability> | Effect.Effect<Array<TreeDurability>, unknown> => {
        const trees: Array<TreeDurability> = []
        const add = (tree: TreeDurability | undefined) => {
          if (tree === undefined) return
          produced.push(tree)
          trees.push(tree)
        }
        let next = 0
        for (; next < events.length; next++) {
          const done = projectCacheNow(events[next]!)
          if (done === LATER) break
          add(done)
        }
        if (next === events.length) return trees
        const rest = events.slice(next)
        return Effect.gen(function*() {
          for (const [index, event] of rest.entries()) {
            // the first of them was found to need building (its prepared tree, if any, already taken)
            const done = index === 0 ? LATER : yield* attempt(() => projectCacheNow(event))
            add(done === LATER ? yield* buildTree(event) : done)
          }
          return trees
        })
      }

      /** Leftovers of crashed projections are swept once per process, at its first projection (start-up). */
      let swept = false
      /**
       * False until a projection of this process succeeds, and again after one fails. Until then the outputs may be
       * what a crashed projection left: visible, but maybe not durable. A config.toml that already holds the
       * projected text is then fsynced (with its dir) instead of being skipped as unchanged.
       */
      let clean = false
      let homeMade = false
      /** where old config.toml files wait to be freed (`retireLink`): the ledger's, not CODEX_HOME, which is the user's */
      const retiredDir = Path.join(paths.ledgerDir, "retired")
      const durability = yield* makeProjectionDurability({
        fs,
        paths,
        log,
        durableDirs: makeDurableDirs(paths.codexHome),
        // and what the next config.toml edit needs from the text just projected, worked out now rather than on the
        // next command's critical path
        afterSettle: Effect.andThen(spares.refill, Effect.sync(prepareNextEdit)),
        settleDelayMs: yield* SettleDelay
      })

      /** what a projection writes, worked out before any output is touched */
      interface ProjectionPlan {
        readonly disk: Checkpoint | undefined
        readonly last: LogRecord
        readonly events: ReadonlyArray<PluginEvent>
        /** config.toml's final text, and whether any event edited it */
        readonly config: string
        readonly touched: boolean
        /** CODEX_HOME and its parents, if this projection made them */
        readonly configDirs: ReadonlyArray<string>
        /** no projection of this process succeeded yet, or the last one failed */
        readonly recovering: boolean
      }

      /** Synchronous (throws): the plan, or undefined when the checkpoint covers every record. */
      const planProjection = (records: ReadonlyArray<LogRecord>, freshFromSeq: number | undefined, hold: Hold | undefined): ProjectionPlan | undefined => {
        const recovering = !clean
        clean = false
        if (!swept) {
          sweepLeftovers(fs, paths.cacheDir)
          sweepTempFiles(fs, paths.configPath)
          sweepTempFiles(fs, paths.checkpointPath)
          sweepRetired(fs, retiredDir)
          swept = true
        }
        const disk = diskCheckpoint(records, hold)
        const checkpoint = durability.position(records, freshFromSeq, disk)
        const pending = recordsAfter(records, checkpoint?.seq ?? 0)
        const last = pending.at(-1)
        if (last === undefined) {
          clean = true
          return undefined
        }
        const fresh = freshFromSeq ?? Number.POSITIVE_INFINITY
        const events: Array<PluginEvent> = []
        const lagging: Array<PluginEvent> = []
        const decidedNow: Array<PluginEvent> = []
        for (const record of pending) {
          const event = readEventOf(record)
          if (event === undefined) continue
          events.push(event)
          if (record.seq < fresh) lagging.push(event)
          else decidedNow.push(event)
        }
        // config.toml's final text is a pure fold of the events, so it is computed before any output is touched
        const current = readConfig()
        let config = baseText(checkpoint, current, events)
        // written when any event edited it, even if a later one undid that: the file (mode, existence) then
        // does not depend on how the records were batched (live one by one, or a replay all at once)
        let touched = config !== current
        for (const event of [...configEditsOf(lagging, records, checkpoint?.seq ?? 0, config), ...decidedNow]) {
          const edited = editConfig(config, event)
          if (Result.isFailure(edited)) throw new ProjectionError({ target: paths.configPath, message: edited.failure.message })
          touched ||= edited.success !== config
          config = edited.success
        }
        // CODEX_HOME is made (if missing) once per process; after a failed projection, again
        const configDirs = touched && !homeMade ? makeDirs(fs, paths.codexHome) : []
        homeMade ||= touched
        return { disk, last, events, config, touched, configDirs, recovering }
      }

      /**
       * Synchronous (throws), once the trees are in place: config.toml's staged temp file (if any) renamed over it, and
       * the chain of projections to make durable extended.
       */
      const commitProjection = (plan: ProjectionPlan, trees: ReadonlyArray<TreeDurability>, staged: StagedFile | undefined): void => {
        if (staged !== undefined) {
          // the old config.toml keeps a second name until the settle, so this rename does not free its blocks
          const retired = retireLink(fs, paths.configPath, retiredDir)
          if (retired !== undefined) durability.retired(retired)
          commitStaged(fs, staged)
        }
        // after a crash, config.toml may hold the projected text without it being durable yet
        const resync = plan.recovering && !plan.touched && plan.events.some((event) => event._tag !== "LogTailRepaired")
        const projected = plan.config
        let configHash: string | undefined
        durability.extend(plan.disk, {
          projectorVersion: PROJECTOR_VERSION,
          seq: plan.last.seq,
          h: plan.last.h,
          // hashed when the checkpoint is written: by the settle, after the answer
          get configHash() {
            configHash ??= sha256Hex(Buffer.from(projected, "utf8"))
            return configHash
          },
          configText: projected
        }, {
          trees,
          files: resync ? [paths.configPath] : [],
          dirs: [...plan.configDirs, ...(staged === undefined && !resync ? [] : [paths.codexHome])]
        })
        clean = true
      }

      /**
       * Returns whether it projected anything (then the chain of projections to make durable grew). The trees it swaps
       * in go to `produced` as they are, for the caller to close if it fails before the chain has them. Synchronous
       * but for building trees the blobs must give and waiting for config.toml's temp file: one install's projection
       * is a dozen runtime steps, not seventy.
       */
      const projectRecords = (
        records: ReadonlyArray<LogRecord>,
        freshFromSeq: number | undefined,
        produced: Array<TreeDurability>
      ): Effect.Effect<boolean, unknown> =>
        Effect.withFiber((fiber) => {
          let plan: ProjectionPlan | undefined
          let trees: ReadonlyArray<TreeDurability> | Effect.Effect<ReadonlyArray<TreeDurability>, unknown>
          try {
            plan = planProjection(records, freshFromSeq, fiber.getRef(LockHold))
            if (plan === undefined) return Effect.succeed(false)
            // the cache trees first; config.toml is renamed in only after them
            trees = projectTrees(plan.events, produced)
          } catch (error) {
            return Effect.fail(error)
          }
          const planned = plan
          const commit = (done: ReadonlyArray<TreeDurability>, staged: StagedFile | undefined): Effect.Effect<boolean, unknown> => {
            try {
              commitProjection(planned, done, staged)
              return Effect.succeed(true)
            } catch (error) {
              return Effect.fail(error)
            }
          }
          const afterTrees = (done: ReadonlyArray<TreeDurability>): Effect.Effect<boolean, unknown> => {
            if (!planned.touched) return commit(done, undefined)
            // config.toml stays atomic: temp file (0600, as Codex writes it: it may hold secrets), fsync, rename. The
            // temp file was staged by `prepare` with exactly these bytes (its fsync issued long before: only joined
            // here), or is written and fsynced now
            const stageNow = Effect.flatMap(
              Effect.suspend(() => stageFile(fs, paths.configPath, Buffer.from(planned.config, "utf8"), 0o600, spares)),
              (staged) => commit(done, staged)
            )
            // taken only now: once taken, only this projection can remove its temp file. Joined uninterruptibly
            const ready = ahead.takeConfig(planned.config)
            if (ready === undefined) return stageNow
            return Effect.matchEffect(Effect.uninterruptible(Fiber.join(ready)), {
              onSuccess: (staged) => commit(done, staged),
              onFailure: () => stageNow
            })
          }
          return Effect.isEffect(trees) ? Effect.flatMap(trees, afterTrees) : afterTrees(trees)
        })

      /** the checkpoint on disk, or this process's chain of projections since it */
      const currentCheckpoint = (hold: Hold | undefined): Checkpoint | undefined => durability.latest(readDisk(hold))


      return Projector.of({
        versionDir,
        pluginDir,
        prepare: ahead.prepare,
        settled: durability.settled,
        checkpoint: Effect.flatMap(LockHold, (hold) =>
          Effect.try({ try: () => currentCheckpoint(hold), catch: () => undefined }).pipe(Effect.catch(() => Effect.succeed(undefined)))),
        project: (records, freshFromSeq) => {
          const produced: Array<TreeDurability> = []
          const asProjectionError = (error: unknown): ProjectionError =>
            error instanceof ProjectionError ? error : new ProjectionError({ target: paths.codexHome, message: describeError(error) })
          return projectRecords(records, freshFromSeq, produced).pipe(
            // whatever was read before the projection is not used after it. An exit handler, not a match: a
            // projection interrupted between its steps (a CLI command's Ctrl-C while a tree is built from the blobs)
            // must close its trees and drop the chain too, and a match's failure branch is skipped on interruption
            Effect.onExit((exit) => {
              readInHold = undefined
              if (exit._tag === "Failure") {
                closeTrees(produced)
                durability.drop()
                homeMade = false
              }
              return Effect.void
            }),
            // a command's own events are made durable after its answer; what a catch-up projected (no fresh
            // events), at once
            Effect.flatMap((projected) => durability.afterProjection(records, projected && freshFromSeq === undefined) ?? Effect.void),
            Effect.mapError(asProjectionError)
          )
        }
      })
    })
  )
}
