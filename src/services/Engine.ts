/**
 * Command handling: request -> decide (pure) -> append (fsynced) -> project -> answer. Every mutation runs
 * inside `EventLog.transact`, i.e. under the single-writer lock after catching up with other processes, and
 * looks at config.toml and the cache only there, so decisions see what is really on disk.
 */
import { Clock, Context, Effect, Layer, Result, Scope } from "effect"
import { randomUUID } from "node:crypto"
import { inspectConfig } from "../adapters/ConfigToml.ts"
import { decodeUtf8Strict, isDirectory as isDirectoryAt, readBytesOrEmpty } from "../adapters/FsQueries.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { makeBlobStore } from "../adapters/BlobStore.ts"
import { rustIoError } from "../adapters/RustIoError.ts"
import { MAX_RECORD_BYTES } from "../adapters/LogRecordFormat.ts"
import { DisablePlugin, EnablePlugin, type Observed, type PluginCommand, UninstallPlugin } from "../domain/Commands.ts"
import { decide } from "../domain/decide.ts"
import type { EventCause } from "../domain/Events.ts"
import { parsePluginId } from "../domain/PluginId.ts"
import { initialState, type PluginState } from "../domain/PluginState.ts"
import type { HistoryQuery, PluginInstallView, PluginToggleView } from "../domain/PluginViews.ts"
import { explain, historyEntryOf, queryHistory } from "./Audit.ts"
import { makeVerifier } from "./LedgerVerifier.ts"
import { Catalog } from "./Catalog.ts"
import { prepareInstall } from "./InstallPreparation.ts"
import { describeConfigProblem } from "./ConfigProblems.ts"
import { EarlyAnswer } from "./EarlyAnswer.ts"
import { remoteMutationError } from "./RemoteAuth.ts"
import { Engine, EngineError, internalError, invalidRequest, type Origin } from "./EngineApi.ts"
import { EventLog, type LogRecord, type NewRecord } from "./EventLog.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { applyConfigEdits } from "./ConfigEdits.ts"
import { Projector } from "./Projector.ts"
import type { Checkpoint } from "./ProjectionCheckpoint.ts"
import { observeConfig, observeConfigBytes } from "../adapters/ConfigObservationFile.ts"
import type { ConfigObservation } from "../domain/ConfigAdoption.ts"
import { type Adoption, adoptionOf } from "./ConfigAdopter.ts"
import { eventOf, newRecordOf, recordPluginId, recordsOfKey } from "./EventRecords.ts"
import { makeCuratedSync } from "./CuratedSync.ts"
import { foldRecords } from "./RecordFold.ts"
import { rollbackCommand, rollbackView } from "./RollbackCommand.ts"
import { replayLedger, type ReplayOptions } from "./Replay.ts"
import { openLedger } from "./EngineStartup.ts"

const recordBytes = (record: NewRecord): number => Buffer.byteLength(JSON.stringify(record))

const causeOf = (origin: Origin): EventCause => ({
  actor: origin.actor,
  ...(origin.requestId === undefined ? {} : { requestId: origin.requestId }),
  ...(origin.client === undefined ? {} : { client: origin.client })
})

/** Folds records into the state, reusing the previous fold when the log only grew. */
const makeFolder = () => {
  let folded: { readonly seq: number; readonly state: PluginState } = { seq: 0, state: initialState }
  return (records: ReadonlyArray<LogRecord>): PluginState => {
    let state = folded.seq <= (records.at(-1)?.seq ?? 0) ? folded.state : initialState
    state = foldRecords(state, records, state === initialState ? 0 : folded.seq)
    folded = { seq: records.at(-1)?.seq ?? 0, state }
    return state
  }
}

export const EngineLayer: Layer.Layer<Engine, EngineError, LedgerConfig | LedgerFs | EventLog | Projector | Catalog> = Layer.effect(
  Engine,
  Effect.gen(function*() {
    const paths = yield* LedgerConfig
    const clock = yield* Clock.Clock
    const fs = yield* LedgerFs
    const log = yield* EventLog
    const projector = yield* Projector
    const catalog = yield* Catalog
    const blobs = makeBlobStore(fs, paths.blobsDir)
    const fold = makeFolder()
    const preparation = { fs, paths, blobs, pluginDir: projector.pluginDir, knownMarketplace: catalog.knownMarketplace }
    /**
     * The state after the last projection, for answers. A plain variable, not a Ref: only this layer's fibers read
     * and set it, each access a single synchronous step (an effect of its own cost a runtime op on every command)
     */
    let lastState: PluginState = initialState

    const toEngineError = (error: EngineError | { readonly message: string }): EngineError =>
      error instanceof EngineError ? error : internalError(error.message)

    const isDirectory = (path: string): boolean => isDirectoryAt(fs, path)
    /**
     * config.toml's bytes as a command reads them once under the lock: the adoption of hand edits, the command's
     * observation and the preview of its edit work on them (a read failure is reported where each of those reported
     * its own before). The projection reads it again right before it writes, so a hand edit made meanwhile is kept.
     */
    const readConfigUnderLock = (): Result.Result<Buffer, unknown> =>
      Result.try({ try: () => readBytesOrEmpty(fs, paths.configPath), catch: (e) => e })
    /** config.toml's text as read, synchronously (in a step the caller runs anyway) */
    const configTextResult = (read: Result.Result<Buffer, unknown>, failure: string): Result.Result<string, EngineError> =>
      Result.try({
        try: () => {
          if (Result.isFailure(read)) throw read.failure
          return decodeUtf8Strict(read.success)
        },
        catch: (e) => internalError(`${failure}: ${rustIoError(e)}`)
      })
    const configTextOf = (read: Result.Result<Buffer, unknown>, failure: string): Effect.Effect<string, EngineError> =>
      Effect.suspend(() => Effect.fromResult(configTextResult(read, failure)))

    /** What config.toml (as read under the lock) and the cache say about a plugin; fails when config.toml is unreadable. */
    const observe = (pluginId: string, failure: string, checkTypes: boolean, read: Result.Result<Buffer, unknown>): Effect.Effect<Observed, EngineError> =>
      configTextOf(read, failure).pipe(
        Effect.flatMap((text) => {
          const { problem, config } = inspectConfig(text)
          // clearing a table needs only a parsable document (the reference does not type-check it then)
          if (problem !== undefined && (checkTypes || config === undefined)) {
            return Effect.fail(internalError(`${failure}: ${describeConfigProblem(problem, paths.configPath, "edit")}`))
          }
          const entry = config?.plugins.get(pluginId)
          return Effect.try({
            try: (): Observed => ({
              configured: entry !== undefined,
              ...(entry?.enabled === undefined ? {} : { configEnabled: entry.enabled }),
              cachePresent: isDirectory(projector.pluginDir(pluginId))
            }),
            catch: (e) => internalError(`${failure}: ${rustIoError(e)}`)
          })
        })
      )

    /** Whether config.toml and the cache already reflect every record (else a hand edit cannot be told from a lag). */
    const isProjectedUpTo = (checkpoint: Checkpoint | undefined, records: ReadonlyArray<LogRecord>): boolean => {
      const head = records.at(-1)
      return head !== undefined && checkpoint?.seq === head.seq && checkpoint.h === head.h
    }
    const projectedUpTo = (records: ReadonlyArray<LogRecord>): Effect.Effect<boolean> =>
      Effect.map(projector.checkpoint, (checkpoint) => isProjectedUpTo(checkpoint, records))

    /**
     * The adoption of config.toml as it is now, when Codex can read it and the projection is current (commands
     * report unreadable files themselves; a lagging projection is caught up and adopted from by the next check).
     */
    const adoptReadable = (
      state: PluginState,
      records: ReadonlyArray<LogRecord>,
      read: Result.Result<Buffer, unknown> = readConfigUnderLock()
    ): Effect.Effect<Adoption> =>
      Effect.map(projector.checkpoint, (checkpoint) => {
        const none: Adoption = { records: [], state }
        if (!isProjectedUpTo(checkpoint, records)) return none
        // the command's own observation reports a read failure
        if (Result.isFailure(read)) return none
        let observation: ConfigObservation
        try {
          observation = observeConfigBytes(read.success, paths.configPath)
        } catch {
          return none
        }
        if (observation._tag === "Unreadable") return none
        return adoptionOf(state, records.at(-1)?.seq ?? 0, observation, new Date(clock.currentTimeMillisUnsafe()).toISOString())
      })

    /**
     * Runs one command: under the lock, build it from fresh observations, decide, append, project.
     * With an idempotency key whose records already exist, nothing is decided again.
     */
    const execute = <A>(
      origin: Origin,
      /** the event type and plugin this command records; a reused idempotency key must match them */
      intent: { readonly type: string; readonly pluginId: string },
      configFailure: string,
      build: (state: PluginState, config: Result.Result<Buffer, unknown>) => Effect.Effect<PluginCommand, EngineError>,
      answer: (events: ReadonlyArray<LogRecord>, state: PluginState) => A,
      /** awaited under the lock right before the events are appended (an install: its blobs made durable) */
      beforeAppend: Effect.Effect<void, EngineError> = Effect.void
    ): Effect.Effect<A, EngineError> =>
      // one step, not a generator, and the layer's clock read in place: each effect is a runtime op per command. The
      // fiber's EarlyAnswer is read here too (a lookup of its own was more)
      Effect.withFiber((fiber) => {
        const early = fiber.getRef(EarlyAnswer)
        const key = origin.idempotencyKey ?? randomUUID()
        const prefix = `${key}:`
        /** the records this command appended (ids `<key>:<index>`; adopted hand edits have ids of their own) */
        const ownOf = (appended: ReadonlyArray<LogRecord>) => appended.filter((r) => r.id.startsWith(prefix))
        const now = new Date(clock.currentTimeMillisUnsafe()).toISOString()
        return log.transact(
          (records) =>
            Effect.gen(function*() {
              // exactly `<key>:<index>` (a prefix match would take `k` for `k:0`, or `repair` for a `repair:<sha>`
              // record), looked up by id. Only with a key the client gave: a fresh one names no record yet
              const previous = origin.idempotencyKey === undefined ? [] : recordsOfKey(log.recordById, key)
              if (previous.length > 0) {
                const sameCommand = previous.every((r) => r.type === intent.type && recordPluginId(r) === intent.pluginId)
                if (!sameCommand) {
                  return yield* invalidRequest(`idempotency key \`${key}\` was already used for a different command`)
                }
                return { append: [], value: previous }
              }
              // hand edits of config.toml since the last look are adopted first, so the command decides on them
              const configRead = readConfigUnderLock()
              const adoption = yield* adoptReadable(fold(records), records, configRead)
              const state = adoption.state
              const command = yield* build(state, configRead)
              const decided = decide(state, command)
              if (Result.isFailure(decided)) return yield* invalidRequest(decided.failure.message)
              // the projection must be able to write config.toml before anything is recorded
              const configText = yield* Effect.fromResult(configTextResult(configRead, configFailure))
              const preview = applyConfigEdits(configText, decided.success)
              if (Result.isFailure(preview)) return yield* internalError(`${configFailure}: ${preview.failure.message}`)
              const append: Array<NewRecord> = [
                ...adoption.records,
                ...decided.success.map((event, index) => newRecordOf(event, `${prefix}${index}`, now))
              ]
              // a request id, client name or key of megabytes would make a record the log refuses (a defect there)
              const tooLarge = append.find((r) => recordBytes(r) > MAX_RECORD_BYTES - 512)
              if (tooLarge !== undefined) {
                return yield* invalidRequest(`the ${tooLarge.type} event would be ${recordBytes(tooLarge)} bytes, more than the log's limit of ${MAX_RECORD_BYTES}`)
              }
              yield* beforeAppend
              const replayed: ReadonlyArray<LogRecord> = []
              return { append, value: replayed }
            }),
          (appended, all) =>
            projectAll(all, appended, () => {
              // durable and projected: the answer can go now, before the lock is released (see EarlyAnswer)
              const own = ownOf(appended)
              if (early !== undefined && own.length > 0) early(answer(own, lastState))
            })
        ).pipe(Effect.matchEffect({
          onFailure: (error) => Effect.fail(toEngineError(error)),
          onSuccess: (result) => {
            const events = result.value.length > 0 ? result.value : ownOf(result.appended)
            return Effect.succeed(answer(events, lastState))
          }
        }))
      })

    const pluginIdOrFail = (pluginId: string) => {
      const parsed = parsePluginId(pluginId)
      return Result.isFailure(parsed) ? Effect.fail(invalidRequest(parsed.failure.message)) : Effect.succeed(parsed.success)
    }

    const install = (
      input: { readonly marketplacePath: string; readonly pluginName: string; readonly forceRemoteSync?: boolean },
      origin: Origin
    ): Effect.Effect<PluginInstallView, EngineError> => {
      // the synchronous part (plan, source, blobs started) in one step; the scope holds what is prepared for the
      // projection until the command is done
      const fresh = Effect.scoped(Effect.withFiber((fiber) => {
        const scope = Context.getUnsafe(fiber.context, Scope.Scope)
        const prepared = prepareInstall(
          preparation,
          { marketplacePath: input.marketplacePath, pluginName: input.pluginName, forceRemoteSync: input.forceRemoteSync === true },
          causeOf(origin),
          scope,
          fiber.context
        )
        if (Result.isFailure(prepared)) return Effect.fail(prepared.failure)
        const { command, tree, configText, blobsDurable } = prepared.success
        // meanwhile the cache tree is built in a staging dir beside its target, and config.toml's temp file written
        // (its fsync joined by the projection), for the projection to rename in after the append; nothing reads them
        // before, and if no event takes them they are removed with the scope
        const staged = projector.prepare(command.pluginId, command.version, tree, configText)
        const warned = tree.skipped.length === 0 ? staged : Effect.andThen(staged, Effect.forEach(tree.skipped, (skipped) =>
          Effect.logWarning(`not copying ${skipped} of ${command.pluginId}: symlinks and special files stay out of the cache`), { discard: true }))
        return Effect.andThen(warned, execute(
          origin,
          { type: "PluginInstalled", pluginId: command.pluginId },
          "failed to persist installed plugin config",
          () => Effect.succeed(command),
          (): PluginInstallView => ({ authPolicy: command.authPolicy, appsNeedingAuth: [] }),
          blobsDurable
        ))
      }))
      // without a key there is nothing to look up (the common case: no effect of its own for it)
      const key = origin.idempotencyKey
      if (key === undefined) return fresh
      return Effect.flatMap(
        recordedInstall(key, input.marketplacePath, input.pluginName),
        (replayed) => replayed !== undefined ? Effect.succeed(replayed) : fresh
      )
    }

    /**
     * A retried install (same idempotency key) answers from the log without reading the marketplace or
     * copying again; `execute` re-checks under the lock for the race where the first attempt is still running.
     */
    const recordedInstall = (key: string, marketplacePath: string, pluginName: string) =>
      Effect.gen(function*() {
        yield* log.refresh.pipe(Effect.mapError(toEngineError))
        const previous = log.recordById(`${key}:0`)
        if (previous === undefined) return undefined
        const event = eventOf(previous)
        if (event?._tag !== "PluginInstalled" || event.pluginName !== pluginName || event.marketplacePath !== marketplacePath) {
          return yield* invalidRequest(`idempotency key \`${key}\` was already used for a different command`)
        }
        const view: PluginInstallView = { authPolicy: event.authPolicy, appsNeedingAuth: [] }
        return view
      })

    const uninstall = (input: { readonly pluginId: string; readonly forceRemoteSync?: boolean }, origin: Origin) =>
      Effect.gen(function*() {
        const id = yield* pluginIdOrFail(input.pluginId)
        if (input.forceRemoteSync === true) return yield* internalError(remoteMutationError(fs, paths, "uninstall"))
        return yield* execute(
          origin,
          { type: "PluginUninstalled", pluginId: id.id },
          "failed to clear plugin config",
          (_, config) =>
            Effect.map(observe(id.id, "failed to clear plugin config", false, config), (observed) =>
              new UninstallPlugin({ pluginId: id.id, observed, cause: causeOf(origin) })),
          (): Record<string, never> => ({})
        )
      })

    const setEnabled = (input: { readonly pluginId: string; readonly enabled: boolean }, origin: Origin) =>
      Effect.gen(function*() {
        const id = yield* pluginIdOrFail(input.pluginId)
        return yield* execute(
          origin,
          { type: input.enabled ? "PluginEnabled" : "PluginDisabled", pluginId: id.id },
          "failed to persist plugin config",
          (_, config) =>
            Effect.map(observe(id.id, "failed to persist plugin config", true, config), (observed) => {
              const fields = { pluginId: id.id, observed, cause: causeOf(origin) }
              return input.enabled ? new EnablePlugin(fields) : new DisablePlugin(fields)
            }),
          (events): PluginToggleView => ({
            pluginId: id.id,
            enabled: input.enabled,
            changed: events.length > 0,
            seq: events.at(-1)?.seq ?? null
          })
        )
      })

    const rollback = (input: { readonly pluginId: string; readonly toSeq?: number }, origin: Origin) =>
      Effect.gen(function*() {
        const id = yield* pluginIdOrFail(input.pluginId)
        return yield* execute(
          origin,
          { type: "PluginRolledBack", pluginId: id.id },
          "failed to roll back plugin",
          () =>
            Effect.flatMap(log.records, (records) => {
              const command = rollbackCommand(records, blobs, id.id, input.toSeq, causeOf(origin))
              return Result.isFailure(command) ? Effect.fail(invalidRequest(command.failure)) : Effect.succeed<PluginCommand>(command.success)
            }),
          (events, state) => rollbackView(id.id, events, state)
        )
      })

    const replay = (options: ReplayOptions) =>
      replayLedger(paths, options, fs).pipe(Effect.mapError((e) => new EngineError({ kind: e.kind, message: e.message })))

    // read at once and not kept: the live array, no copy (the watcher runs this after every config.toml write)
    const refreshed = log.refresh.pipe(Effect.andThen(log.live), Effect.mapError(toEngineError))

    const history = (query: HistoryQuery) => Effect.map(refreshed, (records) => queryHistory(records, query))

    const why = (input: { readonly pluginId: string }) =>
      pluginIdOrFail(input.pluginId).pipe(
        Effect.andThen(refreshed),
        Effect.map((records) => explain(records, input.pluginId))
      )

    /**
     * Adopts config.toml as it is now (the watcher and start-up call this). The lock is taken only when there is
     * something to record, or when projections lag behind the log (they catch up first: a file that does not
     * show the newest events yet is not a hand edit).
     */
    const adoptConfigEdits = Effect.gen(function*() {
      const records = yield* refreshed
      if (!(yield* projectedUpTo(records))) yield* catchUp
      const latest = yield* refreshed
      const observed = yield* observeNow
      if (adoptionOf(fold(latest), latest.at(-1)?.seq ?? 0, observed, "").records.length === 0) return []
      const result = yield* log.transact(
        (all) =>
          Effect.gen(function*() {
            if (!(yield* projectedUpTo(all))) return { value: undefined, append: [] }
            const observation = yield* observeNow
            const ts = new Date(clock.currentTimeMillisUnsafe()).toISOString()
            return { value: undefined, append: adoptionOf(fold(all), all.at(-1)?.seq ?? 0, observation, ts).records }
          }),
        (appended, all) => projectAll(all, appended)
      ).pipe(Effect.mapError(toEngineError))
      return result.appended.flatMap((record) => historyEntryOf(record) ?? [])
    })

    const catchUp = log.transact(() => Effect.succeed({ value: undefined, append: [] }), (_, all) => projectAll(all)).pipe(
      Effect.mapError(toEngineError),
      Effect.asVoid
    )

    const observeNow = Effect.try({
      try: () => observeConfig(fs, paths.configPath),
      catch: (e) => internalError(`failed to read ${paths.configPath}: ${rustIoError(e)}`)
    })

    /**
     * Projects what the checkpoint does not cover; `appended` were just decided on config.toml as it is now. `then`
     * runs once it is projected, in the same step (a command's early answer).
     */
    const projectAll = (all: ReadonlyArray<LogRecord>, appended: ReadonlyArray<LogRecord> = [], then?: () => void) => {
      // folded when the projection is built, as before (`all` is the log as the transaction left it)
      const state = fold(all)
      return projector.project(all, appended[0]?.seq).pipe(
        Effect.map(() => {
          lastState = state
          then?.()
        }),
        Effect.mapError((e) => internalError(`failed to project the ledger: ${e.message}`))
      )
    }

    const verify = makeVerifier({
      fs,
      log,
      blobs,
      pluginDir: projector.pluginDir,
      fold,
      observeNow,
      projectAll,
      toEngineError,
      causeOf,
      now: () => new Date(clock.currentTimeMillisUnsafe()).toISOString()
    })

    const curated = makeCuratedSync({
      fs,
      paths,
      log,
      blobs,
      pluginDir: projector.pluginDir,
      fold,
      adopt: adoptReadable,
      projectAll,
      toEngineError,
      now: () => new Date(clock.currentTimeMillisUnsafe()).toISOString()
    })

    /** `forceRemoteSync`: the sync first, then the listing; a failed sync only sets `remoteSyncError` (fail-open). */
    const list = (input: { readonly cwds: ReadonlyArray<string>; readonly forceRemoteSync: boolean }) =>
      input.forceRemoteSync
        ? curated.syncRemote().pipe(
          Effect.map((view) => view.error),
          Effect.catch((error) => Effect.succeed(error.message)),
          Effect.flatMap((remoteSyncError) =>
            Effect.map(catalog.list({ cwds: input.cwds, forceRemoteSync: false }), (view) => ({ ...view, remoteSyncError }))
          )
        )
        : catalog.list(input)

    lastState = yield* openLedger({ log, projector, paths, fold, projectedUpTo })
    if (log.readOnlyReason === undefined) {
      // a config.toml that cannot be read at all (EACCES) must not keep the ledger from opening
      yield* adoptConfigEdits.pipe(
        Effect.catch((error) => Effect.logWarning(`could not check config.toml for hand edits: ${error.message}`))
      )
    }

    return Engine.of({
      list,
      read: catalog.read,
      install,
      uninstall,
      setEnabled,
      history,
      why,
      verify,
      adoptConfigEdits,
      syncRemote: curated.syncRemote,
      syncCurated: curated.syncCurated,
      rollback,
      replay
    })
  })
)
