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
  const plugins = new Map(state.plugins)
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
    case "ConfigUnreadable":
      return { ...state, unreadableConfigs: new Set([...state.unreadableConfigs, event.configHash]), seq }
    case "LogTailRepaired":
    case "RemoteSyncRecorded":
    case "CuratedMirrorUpdated":
      return { ...state, seq }
  }
}
