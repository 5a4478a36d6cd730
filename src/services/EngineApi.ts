import { Context, type Effect, Schema } from "effect"
import type { Actor } from "../domain/Events.ts"
import type {
  HistoryEntryView,
  PluginInstallView,
  PluginListView,
  PluginToggleView
} from "../domain/PluginViews.ts"

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
  readonly history: (input: { readonly pluginId?: string; readonly limit?: number }) => Effect.Effect<ReadonlyArray<HistoryEntryView>, EngineError>
}

export class Engine extends Context.Service<Engine, EngineShape>()("plugin-ledger/services/Engine") {}
