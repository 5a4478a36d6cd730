/** The Engine's side of `rollback`: the command built from the log and the blob store, and the answer. */
import { Result } from "effect"
import type { BlobStore } from "../adapters/BlobStore.ts"
import { treeAvailable } from "../adapters/TreeBlobRefs.ts"
import { RollbackPlugin } from "../domain/Commands.ts"
import type { EventCause, PluginEvent } from "../domain/Events.ts"
import type { PluginState } from "../domain/PluginState.ts"
import { chooseRollbackTarget, type PluginRollbackView } from "../domain/Rollback.ts"
import type { LogRecord } from "./EventLog.ts"
import { eventOf, recordPluginId } from "./EventRecords.ts"

/** The plugin's own events, in log order. */
const eventsOf = (records: ReadonlyArray<LogRecord>, pluginId: string) => {
  const mine: Array<{ readonly seq: number; readonly event: PluginEvent }> = []
  for (const record of records) {
    if (recordPluginId(record) !== pluginId) continue
    const event = eventOf(record)
    if (event !== undefined) mine.push({ seq: record.seq, event })
  }
  return mine
}

/** Chooses the content to restore and checks that its blobs are all still there; fails with a message for people. */
export const rollbackCommand = (
  records: ReadonlyArray<LogRecord>,
  blobs: BlobStore,
  pluginId: string,
  toSeq: number | undefined,
  cause: EventCause
): Result.Result<RollbackPlugin, string> => {
  const chosen = chooseRollbackTarget(pluginId, eventsOf(records, pluginId), records.at(-1)?.seq ?? 0, toSeq)
  if (Result.isFailure(chosen)) return Result.fail(chosen.failure.message)
  const { target } = chosen.success
  return Result.succeed(new RollbackPlugin({
    pluginId,
    toSeq: target.origin,
    toTreeHash: target.treeHash,
    version: target.version,
    contentAvailable: chosen.success._tag === "AlreadyCurrent" || treeAvailable(blobs, target.treeHash),
    cause
  }))
}

/** The answer from the recorded event (a first run or a retry with the same key), else from the state. */
export const rollbackView = (pluginId: string, events: ReadonlyArray<LogRecord>, state: PluginState): PluginRollbackView => {
  for (const record of events) {
    const event = eventOf(record)
    if (event?._tag === "PluginRolledBack") {
      return { pluginId, changed: true, seq: record.seq, version: event.version, treeHash: event.toTreeHash, restoredFromSeq: event.toSeq }
    }
  }
  const status = state.plugins.get(pluginId)
  return {
    pluginId,
    changed: false,
    seq: null,
    version: status?.version ?? null,
    treeHash: status?.treeHash ?? null,
    restoredFromSeq: null
  }
}
