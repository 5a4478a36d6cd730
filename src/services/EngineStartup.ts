/**
 * The Engine's start-up: records a tail repair found at open and lets projections catch up with the log. When the
 * checkpoint already names the log's head and config.toml agrees with the log, nothing is written and the lock is
 * not taken. The Engine adopts hand edits of config.toml made while no process was running right after.
 */
import { Clock, Effect } from "effect"
import { LogTailRepaired } from "../domain/Events.ts"
import type { PluginState } from "../domain/PluginState.ts"
import { type EngineError, internalError } from "./EngineApi.ts"
import type { EventLog, LogRecord } from "./EventLog.ts"
import { newRecordOf } from "./EventRecords.ts"
import type { LedgerPaths } from "./LedgerPaths.ts"
import type { Projector } from "./Projector.ts"

export interface LedgerOpening {
  readonly log: EventLog["Service"]
  readonly projector: Projector["Service"]
  readonly paths: LedgerPaths
  /** the Engine's fold (it reuses the previous fold when the log only grew) */
  readonly fold: (records: ReadonlyArray<LogRecord>) => PluginState
  /** whether the checkpoint covers these records and config.toml agrees with them */
  readonly projectedUpTo: (records: ReadonlyArray<LogRecord>) => Effect.Effect<boolean>
}

/** Brings the projections up to the log (or refuses writes, see below); the state the log folds to. */
export const openLedger = (deps: LedgerOpening): Effect.Effect<PluginState, EngineError> =>
  Effect.gen(function*() {
    const { log, projector, paths, fold, projectedUpTo } = deps
    const repair = log.tailRepair
    const openedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
    // projections made from records the log no longer has: committed records were lost (a restored or truncated
    // ledger/events). Rebuilding silently from the shorter log would undo acknowledged changes: refuse writes instead.
    // The checkpoint is read first and the log caught up after it: other processes append and only then advance the
    // checkpoint, so it is never ahead of a log read after it unless records really are missing (read the other way
    // round, another process's command landing in between looked like lost records). A catch-up that fails leaves
    // the log as the open read it
    const projected = yield* projector.checkpoint
    yield* Effect.ignore(log.refresh)
    const atOpen = yield* log.records
    const head = atOpen.at(-1)
    if (projected !== undefined && head !== undefined && projected.seq > head.seq) {
      yield* log.refuseWrites(
        `the log ends at seq ${head.seq}, but config.toml and the plugin cache were projected from records up to seq ` +
          `${projected.seq}: committed records are missing from ${paths.ledgerDir}/events. Nothing is written until they ` +
          `are restored (to accept the shorter log instead, remove ${paths.checkpointPath})`
      )
    }
    const upToDate = repair === undefined && (yield* projectedUpTo(atOpen))
    if (log.readOnlyReason === undefined && upToDate) return fold(atOpen)
    if (log.readOnlyReason === undefined) {
      /** the state the projection was made from, once it is */
      let opened: PluginState | undefined
      yield* log.transact(
        () =>
          Effect.succeed({
            value: undefined,
            // named by where the tail was cut and what was cut: the same garbage torn again later is a new repair,
            // while two processes recording this one append it once (record ids are idempotency keys)
            append: repair === undefined
              ? []
              : [newRecordOf(new LogTailRepaired({ ...repair, cause: { actor: "repair" } }), `repair:${atOpen.at(-1)?.seq ?? 0}:${repair.sha256}`, openedAt)]
          }),
        (_, all) => {
          const state = fold(all)
          return projector.project(all).pipe(Effect.map(() => {
            opened = state
          }))
        }
      ).pipe(Effect.mapError((e) => internalError(`failed to open the ledger: ${e.message}`)))
      // set by the projection, which runs whenever the transaction succeeds
      return opened ?? fold(atOpen)
    }
    yield* Effect.logWarning(`the ledger is read-only: ${log.readOnlyReason}`)
    return fold(atOpen)
  })
