/**
 * Adopting hand edits of config.toml. Editing `[plugins."<id>"] enabled` is the documented way to switch a plugin
 * off, so the ledger never fights it: what the file says about the tables it manages is compared with what the log
 * says, and every difference becomes a `PluginStateChangedExternally` event. A file Codex could not load becomes
 * one `ConfigUnreadable` per distinct content. Pure: the file arrives already read and hashed.
 */
import { type ConfigEntryState, ConfigUnreadable, type EventCause, PluginStateChangedExternally } from "./Events.ts"
import { isValidPluginId } from "./PluginId.ts"
import type { PluginState } from "./PluginState.ts"

/** config.toml as the engine read it. */
export type ConfigObservation =
  | {
    readonly _tag: "Readable"
    /** sha256 of the file's bytes (of the empty string when there is no file) */
    readonly hash: string
    /** every `[plugins."<id>"]` table, with its `enabled` when that is a boolean */
    readonly tables: ReadonlyMap<string, { readonly enabled: boolean | undefined }>
  }
  | {
    readonly _tag: "Unreadable"
    readonly hash: string
    /** why Codex would refuse it (syntax error with position, or a mistyped key) */
    readonly message: string
  }

export interface ConfigDifference {
  readonly pluginId: string
  readonly before: ConfigEntryState
  readonly after: ConfigEntryState
}

const absent: ConfigEntryState = { configured: false, enabled: null }

const sameEntry = (a: ConfigEntryState, b: ConfigEntryState): boolean => a.configured === b.configured && a.enabled === b.enabled

/**
 * Where the file's plugin tables differ from the log's. Only tables named by a valid plugin id are managed;
 * anything else in `[plugins]` is the user's business. Order: removed tables (by id), then the file's tables in
 * the order they appear in it (`tables` iterates in file order), so a replay, which appends new tables in event
 * order, writes them in the same order as the user did.
 */
export const configDifferences = (
  state: PluginState,
  tables: ReadonlyMap<string, { readonly enabled: boolean | undefined }>
): ReadonlyArray<ConfigDifference> => {
  const removed: Array<string> = []
  for (const [id, status] of state.plugins) if (status.config.configured && !tables.has(id)) removed.push(id)
  const ids = [...removed.sort(), ...[...tables.keys()].filter(isValidPluginId)]
  const differences: Array<ConfigDifference> = []
  for (const pluginId of ids) {
    const before = state.plugins.get(pluginId)?.config ?? absent
    const table = tables.get(pluginId)
    const after: ConfigEntryState = table === undefined ? absent : { configured: true, enabled: table.enabled ?? null }
    if (!sameEntry(before, after)) differences.push({ pluginId, before, after })
  }
  return differences
}

/** The events that adopt config.toml as observed: none when it agrees with the log. */
export const adoptConfig = (
  state: PluginState,
  observation: ConfigObservation,
  cause: EventCause
): ReadonlyArray<PluginStateChangedExternally | ConfigUnreadable> => {
  if (observation._tag === "Unreadable") {
    return state.unreadableConfigs.has(observation.hash)
      ? []
      : [new ConfigUnreadable({ configHash: observation.hash, message: observation.message, cause })]
  }
  return configDifferences(state, observation.tables).map((difference) =>
    new PluginStateChangedExternally({ ...difference, configHash: observation.hash, cause })
  )
}
