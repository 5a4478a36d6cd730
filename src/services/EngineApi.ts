import { Context, type Effect, Schema } from "effect"
import type { Actor } from "../domain/Events.ts"
import type {
  HistoryEntryView,
  HistoryQuery,
  LedgerVerifyView,
  PluginInstallView,
  PluginListView,
  PluginToggleView,
  PluginWhyView
} from "../domain/PluginViews.ts"
import type { CuratedSyncOptions, CuratedSyncView, RemoteSyncView } from "./CuratedSync.ts"
import type { PluginRollbackView } from "../domain/Rollback.ts"
import type { ReplayOptions, ReplayView } from "./Replay.ts"

/** A failed request: `InvalidRequest` maps to -32600, `Internal` to -32603 (the reference's codes). */
export class EngineError extends Schema.TaggedError<EngineError>()("EngineError", {
  kind: Schema.Literals(["InvalidRequest", "Internal"]),
  message: Schema.String
}) {}

export const invalidRequest = (message: string) => new EngineError({ kind: "InvalidRequest", message })
export const internalError = (message: string) => new EngineError({ kind: "Internal", message })

/** Where a command came from; recorded as the events' cause. */
export interface Origin {
  readonly actor: Extract<Actor, "rpc" | "cli">
  readonly requestId?: string
  readonly client?: string
  /** a client-chosen key: a retry with the same key applies nothing twice */
  readonly idempotencyKey?: string
}

export interface PluginReadView {
  readonly plugin: unknown
}

export interface EngineShape {
  readonly list: (input: { readonly cwds: ReadonlyArray<string>; readonly forceRemoteSync: boolean }) => Effect.Effect<PluginListView, EngineError>
  readonly read: (input: { readonly marketplacePath: string; readonly pluginName: string }) => Effect.Effect<PluginReadView, EngineError>
  readonly install: (
    input: { readonly marketplacePath: string; readonly pluginName: string; readonly forceRemoteSync?: boolean },
    origin: Origin
  ) => Effect.Effect<PluginInstallView, EngineError>
  readonly uninstall: (input: { readonly pluginId: string; readonly forceRemoteSync?: boolean }, origin: Origin) => Effect.Effect<Record<string, never>, EngineError>
  readonly setEnabled: (
    input: { readonly pluginId: string; readonly enabled: boolean },
    origin: Origin
  ) => Effect.Effect<PluginToggleView, EngineError>
  readonly history: (query: HistoryQuery) => Effect.Effect<ReadonlyArray<HistoryEntryView>, EngineError>
  /** the plugin's state according to the log, and the events that decided it */
  readonly why: (input: { readonly pluginId: string }) => Effect.Effect<PluginWhyView, EngineError>
  /** checks the log chain, the cache trees and config.toml; with `repair`, restores broken trees from the blobs */
  readonly verify: (input: { readonly repair: boolean }, origin: Origin) => Effect.Effect<LedgerVerifyView, EngineError>
  /** restores the content the plugin had at `toSeq` (default: the install before the current content) from the blobs */
  readonly rollback: (input: { readonly pluginId: string; readonly toSeq?: number }, origin: Origin) => Effect.Effect<PluginRollbackView, EngineError>
  /** projects the log (up to a seq or time) into a fresh directory; reads the live CODEX_HOME only */
  readonly replay: (options: ReplayOptions) => Effect.Effect<ReplayView, EngineError>
  /** adopts hand edits of config.toml now (the config watcher calls it); returns the events recorded */
  readonly adoptConfigEdits: Effect.Effect<ReadonlyArray<HistoryEntryView>, EngineError>
  /** the remote curated sync (`GET {chatgpt_base_url}/plugins/list`), recorded whether it succeeds or fails */
  readonly syncRemote: (origin?: Origin) => Effect.Effect<RemoteSyncView, EngineError>
  /** updates the curated mirror, records it, refreshes curated installs, applies INSTALLED_BY_DEFAULT */
  readonly syncCurated: (options: CuratedSyncOptions, origin?: Origin) => Effect.Effect<CuratedSyncView, EngineError>
}

export class Engine extends Context.Service<Engine, EngineShape>()("plugin-ledger/services/Engine") {}
