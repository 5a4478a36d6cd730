import type { PluginEvent } from "./Events.ts"

/** What the log says about one plugin. */
export interface PluginStatus {
  readonly pluginId: string
  readonly pluginName: string
  readonly marketplaceName: string
  readonly installed: boolean
  readonly enabled: boolean
  readonly version: string | undefined
  readonly treeHash: string | undefined
  /** seq of the last event that touched this plugin */
  readonly lastSeq: number
}

export interface PluginState {
  readonly plugins: ReadonlyMap<string, PluginStatus>
  readonly seq: number
}

export const initialState: PluginState = { plugins: new Map(), seq: 0 }

const splitId = (pluginId: string): { readonly pluginName: string; readonly marketplaceName: string } => {
  const at = pluginId.lastIndexOf("@")
  return at < 0
    ? { pluginName: pluginId, marketplaceName: "" }
    : { pluginName: pluginId.slice(0, at), marketplaceName: pluginId.slice(at + 1) }
}

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
    enabled: false,
    version: undefined,
    treeHash: undefined,
    lastSeq: seq
  }
  const plugins = new Map(state.plugins)
  plugins.set(pluginId, { ...change(current), lastSeq: seq })
  return { plugins, seq }
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
        enabled: true,
        version: event.version,
        treeHash: event.treeHash
      }))
    case "PluginEnabled":
      return update(state, seq, event.pluginId, (p) => ({ ...p, enabled: true }))
    case "PluginDisabled":
      return update(state, seq, event.pluginId, (p) => ({ ...p, enabled: false }))
    case "PluginUninstalled":
      return update(state, seq, event.pluginId, (p) => ({
        ...p,
        installed: false,
        enabled: false,
        version: undefined,
        treeHash: undefined
      }))
    case "LogTailRepaired":
      return { ...state, seq }
  }
}
