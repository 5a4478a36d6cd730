/**
 * Read models in the exact shape (and key order) of the reference's wire types, so they can be
 * serialised as they are. Built from the log's state, config.toml and marketplace discovery.
 */
import type { AuthPolicy, EventCause, InstallPolicy } from "./Events.ts"
import type { WirePluginInterface } from "./Manifest.ts"

/** The wire `PluginInterface` (14 keys in the reference's order). */
export type PluginInterfaceView = WirePluginInterface

export interface PluginSummaryView {
  readonly id: string
  readonly name: string
  readonly source: { readonly type: "local"; readonly path: string }
  readonly installed: boolean
  readonly enabled: boolean
  readonly installPolicy: InstallPolicy
  readonly authPolicy: AuthPolicy
  readonly interface: PluginInterfaceView | null
}

export interface MarketplaceView {
  readonly name: string
  readonly path: string
  readonly interface: { readonly displayName: string | null } | null
  readonly plugins: ReadonlyArray<PluginSummaryView>
}

export interface MarketplaceLoadErrorView {
  readonly marketplacePath: string
  readonly message: string
}

export interface PluginListView {
  readonly marketplaces: ReadonlyArray<MarketplaceView>
  readonly remoteSyncError: string | null
  /** present only when a marketplace file was skipped (our documented deviation) */
  readonly marketplaceLoadErrors?: ReadonlyArray<MarketplaceLoadErrorView>
}

export interface AppSummaryView {
  readonly id: string
  readonly name: string
  readonly description: string | null
  readonly installUrl: string | null
}

export interface PluginInstallView {
  readonly authPolicy: AuthPolicy
  readonly appsNeedingAuth: ReadonlyArray<AppSummaryView>
}

export interface HistoryEntryView {
  readonly seq: number
  readonly at: string
  readonly type: string
  readonly pluginId: string | null
  readonly cause: EventCause | null
  readonly data: unknown
}

export interface PluginToggleView {
  readonly pluginId: string
  readonly enabled: boolean
  /** false when the plugin already was in that state (nothing was recorded) */
  readonly changed: boolean
  readonly seq: number | null
}
