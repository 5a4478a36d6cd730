/**
 * Which config.toml edits a catch-up projection still has to make. After a crash the checkpoint can lag behind
 * the log, or be lost, so events are projected again; but config.toml belongs to the user, who may have edited
 * it meanwhile (the documented way to switch a plugin off). Re-applying an old install would silently undo that
 * edit. So, per plugin, the file's table is compared with the states the log gives it before and after each
 * pending event: if it shows one of them, the events after the first such state are applied (the usual case: it
 * shows the state before them all); if it shows none, the user changed it, it is left alone, and the adoption
 * that follows records the edit. Pure.
 */
import type { ConfigEntryState, PluginEvent } from "./Events.ts"

const absent: ConfigEntryState = { configured: false, enabled: null }

/** The table an event leaves in config.toml, or undefined for events that do not edit config.toml. */
export const tableAfter = (event: PluginEvent): ConfigEntryState | undefined => {
  switch (event._tag) {
    case "PluginInstalled":
    case "PluginEnabled":
      return { configured: true, enabled: true }
    case "PluginDisabled":
      return { configured: true, enabled: false }
    case "PluginUninstalled":
      return absent
    case "PluginStateChangedExternally":
      return event.after
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
      return undefined
  }
}

const same = (a: ConfigEntryState, b: ConfigEntryState): boolean => a.configured === b.configured && a.enabled === b.enabled

/**
 * The pending events whose config.toml edits are to be made, in order. `before` is the log's table of a plugin as
 * of the last projected record; `file` the table config.toml has now.
 */
export const configEditsToApply = (
  pending: ReadonlyArray<PluginEvent>,
  before: (pluginId: string) => ConfigEntryState,
  file: (pluginId: string) => ConfigEntryState
): ReadonlyArray<PluginEvent> => {
  const byPlugin = new Map<string, Array<{ readonly index: number; readonly table: ConfigEntryState }>>()
  pending.forEach((event, index) => {
    const table = tableAfter(event)
    if (table !== undefined && "pluginId" in event) {
      byPlugin.set(event.pluginId, [...(byPlugin.get(event.pluginId) ?? []), { index, table }])
    }
  })
  const skipped = new Set<number>()
  for (const [pluginId, edits] of byPlugin) {
    // the table before the pending events, then after each of them. The FIRST state the file shows is taken as
    // applied, so a file showing the state before them all (live projection, a fresh replay) gets every edit, in
    // order, exactly as a replay writes it. (After a lost checkpoint, edits already made may be made again: same
    // tables, but one removed and added again moves to the end of the file.)
    const states = [before(pluginId), ...edits.map((e) => e.table)]
    const shown = file(pluginId)
    const applied = states.findIndex((state) => same(state, shown))
    // none shown: a hand edit, left alone (adopted next); k shown: the first k edits are in the file already
    for (const edit of edits.slice(0, applied < 0 ? edits.length : applied)) skipped.add(edit.index)
  }
  return pending.filter((_, index) => !skipped.has(index))
}
