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
 * The last state and plugin tables found to agree. After every projection the watcher checks config.toml against the
 * state, and the next command checks the same tables (one parse is shared while the text is unchanged) against the
 * same state (the fold is reused while the log has not grown): compared once, not again for every command.
 */
let agreed: { readonly state: PluginState; readonly tables: Extract<ConfigObservation, { _tag: "Readable" }>["tables"] } | undefined

/**
 * The records adopting `observation` on top of `state`, whose last record is `headSeq`. Ids: one
 * `config-unreadable:<hash>` per distinct unreadable content; `config-edit:<headSeq>:<hash>:<i>` for changes,
 * so an edit that is undone and redone later is recorded again (it is a new position in the log).
 */
export const adoptionOf = (state: PluginState, headSeq: number, observation: ConfigObservation, ts: string): Adoption => {
  // a readable file's events depend on its tables and the state only, both immutable
  if (observation._tag === "Readable" && agreed?.state === state && agreed.tables === observation.tables) {
    return { records: [], state }
  }
  const events: ReadonlyArray<PluginEvent> = adoptConfig(state, observation, configEditCause)
  if (events.length === 0 && observation._tag === "Readable") agreed = { state, tables: observation.tables }
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
