import type { ConfigEntryState, PluginEvent } from "./Events.ts"

/** What the log says about one plugin. */
export interface PluginStatus {
  readonly pluginId: string
  readonly pluginName: string
  readonly marketplaceName: string
  /** a cache tree is projected for it */
  readonly installed: boolean
  /** what its config.toml table holds according to the log (commands and adopted hand edits) */
  readonly config: ConfigEntryState
  /** the effective flag Codex reads: the table exists and says `enabled = true` */
  readonly enabled: boolean
  readonly version: string | undefined
  readonly treeHash: string | undefined
  /** seq of the last event that touched this plugin */
  readonly lastSeq: number
}

export interface PluginState {
  readonly plugins: ReadonlyMap<string, PluginStatus>
  /** hashes of config.toml contents already recorded as unreadable (one event per distinct content) */
  readonly unreadableConfigs: ReadonlySet<string>
  readonly seq: number
}

export const initialState: PluginState = { plugins: new Map(), unreadableConfigs: new Set(), seq: 0 }

const splitId = (pluginId: string): { readonly pluginName: string; readonly marketplaceName: string } => {
  const at = pluginId.lastIndexOf("@")
  return at < 0
    ? { pluginName: pluginId, marketplaceName: "" }
    : { pluginName: pluginId.slice(0, at), marketplaceName: pluginId.slice(at + 1) }
}

const absent: ConfigEntryState = { configured: false, enabled: null }

/** The map `foldEvents` is building; set only while it runs (synchronously). */
let owned: Map<string, PluginStatus> | undefined

const update = (
  state: PluginState,
  seq: number,
  pluginId: string,
  change: (current: PluginStatus) => PluginStatus
): PluginState => {
  const current = state.plugins.get(pluginId) ?? {
    pluginId,
    ...splitId(pluginId),
    installed: false,
    config: absent,
    enabled: false,
    version: undefined,
    treeHash: undefined,
    lastSeq: seq
  }
  const next = change(current)
  // a bulk fold (`foldEvents`) owns its map: nobody else holds it yet, so it is written in place
  const plugins = state.plugins === owned ? owned : new Map(state.plugins)
  plugins.set(pluginId, { ...next, enabled: next.config.configured && next.config.enabled === true, lastSeq: seq })
  return { ...state, plugins, seq }
}

/** Folds one event (recorded at `seq`) into the state. Total over event tags. */
export const evolve = (state: PluginState, event: PluginEvent, seq: number): PluginState => {
  switch (event._tag) {
    case "PluginInstalled":
      return update(state, seq, event.pluginId, (p) => ({
        ...p,
        pluginName: event.pluginName,
        marketplaceName: event.marketplaceName,
        installed: true,
        config: { configured: true, enabled: true },
        version: event.version,
        treeHash: event.treeHash
      }))
    case "PluginEnabled":
      return update(state, seq, event.pluginId, (p) => ({ ...p, config: { configured: true, enabled: true } }))
    case "PluginDisabled":
      return update(state, seq, event.pluginId, (p) => ({ ...p, config: { configured: true, enabled: false } }))
    case "PluginUninstalled":
      return update(state, seq, event.pluginId, (p) => ({
        ...p,
        installed: false,
        config: absent,
        version: undefined,
        treeHash: undefined
      }))
    case "PluginStateChangedExternally":
      return update(state, seq, event.pluginId, (p) => ({ ...p, config: event.after }))
    case "ProjectionRepaired":
      return update(state, seq, event.pluginId, (p) => p)
    case "PluginRolledBack":
      return update(state, seq, event.pluginId, (p) => ({ ...p, version: event.version, treeHash: event.toTreeHash }))
    case "ConfigUnreadable":
      return { ...state, unreadableConfigs: new Set([...state.unreadableConfigs, event.configHash]), seq }
    case "LogTailRepaired":
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
      // process plugins have their own fold (ProcessPluginState.ts)
      return { ...state, seq }
  }
}

/**
 * Folds many events at once: the same result as `evolve` applied one by one, but the plugin map is copied once
 * instead of once per event (a replay of a long log). Items with no event (records of other types) only advance seq.
 */
export const foldEvents = (
  state: PluginState,
  items: Iterable<{ readonly event: PluginEvent | undefined; readonly seq: number }>
): PluginState => {
  const map = new Map(state.plugins)
  let current: PluginState = { ...state, plugins: map }
  owned = map
  try {
    for (const { event, seq } of items) current = event === undefined ? { ...current, seq } : evolve(current, event, seq)
  } finally {
    owned = undefined
  }
  return current
}
