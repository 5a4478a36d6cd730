/**
 * The I/O half of adopting hand edits of config.toml (the decision is `adoptConfig` in the domain): read the
 * file, decide against the log's state, and name the records so that a retry or a second process adopting the
 * same edit at the same log position appends nothing twice.
 */
import { adoptConfig, type ConfigObservation } from "../domain/ConfigAdoption.ts"
import type { EventCause, PluginEvent } from "../domain/Events.ts"
import { evolve, type PluginState } from "../domain/PluginState.ts"
import type { NewRecord } from "./EventLog.ts"
import { newRecordOf } from "./EventRecords.ts"

export const configEditCause: EventCause = { actor: "config-edit" }

export interface Adoption {
  readonly records: ReadonlyArray<NewRecord>
  /** the state with the adopted events applied (what a command decided in the same transaction sees) */
  readonly state: PluginState
}

/**
 * The records adopting `observation` on top of `state`, whose last record is `headSeq`. Ids: one
 * `config-unreadable:<hash>` per distinct unreadable content; `config-edit:<headSeq>:<hash>:<i>` for changes,
 * so an edit that is undone and redone later is recorded again (it is a new position in the log).
 */
export const adoptionOf = (state: PluginState, headSeq: number, observation: ConfigObservation, ts: string): Adoption => {
  const events: ReadonlyArray<PluginEvent> = adoptConfig(state, observation, configEditCause)
  let next = state
  const records = events.map((event, index) => {
    next = evolve(next, event, headSeq + index + 1)
    const id = event._tag === "ConfigUnreadable"
      ? `config-unreadable:${event.configHash}`
      : `config-edit:${headSeq}:${observation.hash.slice(0, 16)}:${index}`
    return newRecordOf(event, id, ts)
  })
  return { records, state: next }
}
