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

/** `plugin/history` filters; all optional, combined with "and"; `limit` keeps the newest entries. */
export interface HistoryQuery {
  readonly pluginId?: string
  /** only events with a seq above this one */
  readonly afterSeq?: number
  /** only events recorded at or after this ISO-8601 time */
  readonly since?: string
  /** only events recorded before this ISO-8601 time */
  readonly until?: string
  readonly actor?: string
  readonly limit?: number
}

/** `plugin/why`: a plugin's current state according to the log, and the events that made it so. */
export interface PluginWhyView {
  readonly pluginId: string
  readonly state: {
    /** the log has events about it */
    readonly known: boolean
    readonly installed: boolean
    /** its config.toml table exists (as the log last saw it) */
    readonly configured: boolean
    readonly enabled: boolean
    readonly version: string | null
    readonly lastSeq: number | null
  }
  /** one sentence per fact of the state, naming the event that decided it */
  readonly because: ReadonlyArray<string>
  /** the chain: every event about the plugin since its last install (all of them if it never was installed) */
  readonly events: ReadonlyArray<HistoryEntryView>
}

export interface TreeProblemView {
  readonly path: string
  readonly kind: "missing" | "modified" | "extra" | "type" | "mode"
}

/** `ledger/verify`: the log's chain, each installed plugin's cache tree, and config.toml against the log. */
export interface LedgerVerifyView {
  readonly ok: boolean
  readonly log: { readonly ok: boolean; readonly records: number; readonly problems: ReadonlyArray<string> }
  readonly plugins: ReadonlyArray<{
    readonly pluginId: string
    readonly version: string
    readonly ok: boolean
    readonly problems: ReadonlyArray<TreeProblemView>
    /** set when the tree could not be checked or restored (e.g. its blobs are gone) */
    readonly error: string | null
    /** the seq of the `ProjectionRepaired` event that restored it (with `repair`) */
    readonly repairedSeq: number | null
  }>
  /** config.toml differences not yet adopted (the next check adopts them as events) */
  readonly configDifferences: ReadonlyArray<{ readonly pluginId: string; readonly before: unknown; readonly after: unknown }>
  readonly configUnreadable: string | null
}
