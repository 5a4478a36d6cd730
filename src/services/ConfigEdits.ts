/**
 * The config.toml edits of plugin events, as the projection makes them (Codex's semantics), and which of a lagging
 * projection's events are still to be made.
 */
import { Result } from "effect"
import { parseConfig, removePluginTable, replacePluginTable, setPluginEnabled } from "../adapters/ConfigToml.ts"
import { configEditsToApply, tableAfter } from "../domain/ConfigCatchUp.ts"
import type { ConfigEntryState, PluginEvent } from "../domain/Events.ts"
import type { LogRecord } from "./EventLog.ts"
import { readEventOf, recordPluginId } from "./EventRecords.ts"

/** The config.toml edit an event projects to (Codex's semantics: install replaces the table, uninstall clears it). */
export const editConfig = (text: string, event: PluginEvent): Result.Result<string, { readonly message: string }> => {
  switch (event._tag) {
    case "PluginInstalled":
      return replacePluginTable(text, event.pluginId, true)
    case "PluginEnabled":
      return setPluginEnabled(text, event.pluginId, true)
    case "PluginDisabled":
      return setPluginEnabled(text, event.pluginId, false)
    case "PluginUninstalled":
      return removePluginTable(text, event.pluginId)
    case "PluginStateChangedExternally":
      // live, the file already says this (a no-op edit, so nothing is rewritten); a replay writes it. A table
      // without a boolean `enabled` is kept as it is (our editor does not create bare tables)
      if (!event.after.configured) return removePluginTable(text, event.pluginId)
      return event.after.enabled === null ? Result.succeed(text) : setPluginEnabled(text, event.pluginId, event.after.enabled)
    case "LogTailRepaired":
    case "ConfigUnreadable":
    case "ProjectionRepaired":
    case "RemoteSyncRecorded":
    case "CuratedMirrorUpdated":
    case "PluginRolledBack":
    case "ProcessPluginAdded":
    case "ProcessPluginConfigured":
    case "ProcessPluginCredentialsSet":
    case "ProcessPluginEnabled":
    case "ProcessPluginDisabled":
    case "ProcessPluginRemoved":
    case "ProcessPluginFailed":
    case "ManifestObserved":
      return Result.succeed(text)
  }
}

/** Applies the edits of several events in order; the first refusal wins. Used to check before appending. */
export const applyConfigEdits = (
  text: string,
  events: ReadonlyArray<PluginEvent>
): Result.Result<string, { readonly message: string }> => {
  let current = text
  for (const event of events) {
    const edited = editConfig(current, event)
    if (Result.isFailure(edited)) return edited
    current = edited.success
  }
  return Result.succeed(current)
}

/**
 * The pending events whose config.toml edits are made (see `configEditsToApply`): a table the user edited since
 * the projection lagged behind is not overwritten by re-applying older events. An unparsable file gets them all
 * (the edit then fails with the parser's message).
 */
export const configEditsOf = (
  pending: ReadonlyArray<PluginEvent>,
  records: ReadonlyArray<LogRecord>,
  projectedSeq: number,
  text: string
): ReadonlyArray<PluginEvent> => {
  // the live path has no lagging events: nothing to compare, so config.toml is not parsed for it
  if (pending.length === 0) return pending
  const parsed = parseConfig(text)
  if (Result.isFailure(parsed)) return pending
  const tables = parsed.success.plugins
  return configEditsToApply(
    pending,
    (pluginId) => {
      let table: ConfigEntryState = { configured: false, enabled: null }
      for (const record of records) {
        if (record.seq > projectedSeq) break
        if (recordPluginId(record) !== pluginId) continue
        const event = readEventOf(record)
        table = (event === undefined ? undefined : tableAfter(event)) ?? table
      }
      return table
    },
    (pluginId) => {
      const entry = tables.get(pluginId)
      return entry === undefined ? { configured: false, enabled: null } : { configured: true, enabled: entry.enabled ?? null }
    }
  )
}
