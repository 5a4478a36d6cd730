/**
 * `ledger/verify` and `plugin-ledger verify`: the log's hash chain, every installed plugin's cache tree against
 * the content its install recorded, and config.toml against the log. With `repair`, broken trees are restored
 * from the blob store by recording `ProjectionRepaired` and projecting it (request -> decide -> append -> project).
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import type { BlobStore } from "../adapters/BlobStore.ts"
import { describeError } from "../adapters/FsPort.ts"
import { checkTree } from "../adapters/TreeCheck.ts"
import type { TreeFs } from "../adapters/TreeFs.ts"
import { type ConfigObservation, configDifferences } from "../domain/ConfigAdoption.ts"
import { type EventCause, ProjectionRepaired, type TreeProblem } from "../domain/Events.ts"
import type { PluginState } from "../domain/PluginState.ts"
import type { LedgerVerifyView } from "../domain/PluginViews.ts"
import type { EngineError, Origin } from "./EngineApi.ts"
import type { EventLog, LogRecord } from "./EventLog.ts"
import { newRecordOf } from "./EventRecords.ts"
import { eventOf } from "./EventRecords.ts"

interface TreeCheck {
  readonly pluginId: string
  readonly version: string
  readonly treeHash: string
  readonly problems: ReadonlyArray<TreeProblem>
  readonly error: string | null
}

export interface VerifierDeps {
  readonly fs: TreeFs
  readonly log: EventLog["Service"]
  readonly blobs: BlobStore
  readonly pluginDir: (pluginId: string) => string
  readonly fold: (records: ReadonlyArray<LogRecord>) => PluginState
  readonly observeNow: Effect.Effect<ConfigObservation, EngineError>
  readonly projectAll: (all: ReadonlyArray<LogRecord>, appended: ReadonlyArray<LogRecord>) => Effect.Effect<void, EngineError>
  readonly toEngineError: (error: { readonly message: string }) => EngineError
  readonly causeOf: (origin: Origin) => EventCause
  readonly now: () => string
}

export const makeVerifier = (deps: VerifierDeps) => {
  const checkTrees = (state: PluginState): ReadonlyArray<TreeCheck> => {
    const checks: Array<TreeCheck> = []
    for (const [pluginId, status] of [...state.plugins].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!status.installed || status.version === undefined || status.treeHash === undefined) continue
      const base = { pluginId, version: status.version, treeHash: status.treeHash }
      try {
        checks.push({ ...base, problems: checkTree(deps.fs, deps.blobs, status.treeHash, deps.pluginDir(pluginId), status.version), error: null })
      } catch (error) {
        checks.push({ ...base, problems: [], error: `cannot check the cache tree: ${describeError(error)}` })
      }
    }
    return checks
  }
  const broken = (checks: ReadonlyArray<TreeCheck>) => checks.filter((c) => c.error === null && c.problems.length > 0)

  /** Under the lock, checks again and records one `ProjectionRepaired` per broken tree; returns their seqs by plugin. */
  const repair = (origin: Origin) => {
    const key = origin.idempotencyKey ?? randomUUID()
    return deps.log.transact(
      (records) =>
        Effect.sync(() => ({
          value: undefined,
          append: broken(checkTrees(deps.fold(records))).map((check, index) =>
            newRecordOf(
              new ProjectionRepaired({
                pluginId: check.pluginId,
                version: check.version,
                treeHash: check.treeHash,
                problems: check.problems,
                cause: deps.causeOf(origin)
              }),
              `${key}:${index}`,
              deps.now()
            )
          )
        })),
      (appended, all) => deps.projectAll(all, appended)
    ).pipe(
      Effect.map(({ appended }) =>
        new Map(appended.flatMap((record) => {
          const event = eventOf(record)
          return event?._tag === "ProjectionRepaired" ? [[event.pluginId, record.seq] as const] : []
        }))
      ),
      Effect.mapError(deps.toEngineError)
    )
  }

  return (input: { readonly repair: boolean }, origin: Origin): Effect.Effect<LedgerVerifyView, EngineError> =>
    Effect.gen(function*() {
      const chain = yield* deps.log.verify.pipe(Effect.mapError(deps.toEngineError))
      yield* deps.log.refresh.pipe(Effect.mapError(deps.toEngineError))
      const state = deps.fold(yield* deps.log.records)
      const checks = checkTrees(state)
      const repaired = input.repair && broken(checks).length > 0 ? yield* repair(origin) : new Map<string, number>()
      const observation = yield* deps.observeNow
      const plugins = checks.map((c) => {
        const repairedSeq = repaired.get(c.pluginId) ?? null
        return {
          pluginId: c.pluginId,
          version: c.version,
          ok: c.error === null && (c.problems.length === 0 || repairedSeq !== null),
          problems: c.problems,
          error: c.error,
          repairedSeq
        }
      })
      const configUnreadable = observation._tag === "Unreadable" ? observation.message : null
      return {
        ok: chain.ok && configUnreadable === null && plugins.every((p) => p.ok),
        log: chain,
        plugins,
        configDifferences: observation._tag === "Readable" ? configDifferences(state, observation.tables) : [],
        configUnreadable
      }
    })
}
