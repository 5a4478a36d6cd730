/**
 * The process-plugin host: the registration (ProcessRegistry, recorded in the log) and the running plugins. A
 * plugin is spawned on its first call per user (its own process, storage scope and user config; calls that name
 * no user share the plugin's own process and scope), started by ProcessLauncher, and kept until it crashes, fails
 * its pings or its calls, or its registration changes. Calls are routed by declared capability, limited per plugin
 * (ProcessRateLimiter), timed out per plugin or per call, and their results checked (ProcessResults). The
 * implementation is in ProcessHostLive.ts, imported when a host is built: most `serve` sessions never need it.
 */
import { Context, Effect, Layer, Result, Scope } from "effect"
import type { ProcessCallError } from "../domain/ProcessProtocol.ts"
import { type ProcessSettings, settingsFromEnv } from "../domain/ProcessSettings.ts"
import { type EngineError, invalidRequest, type Origin } from "./EngineApi.ts"
import type { EventLog } from "./EventLog.ts"
import type { LedgerConfig } from "./LedgerConfig.ts"
import type { ProcessAddInput, ProcessChangeView } from "./ProcessRegistry.ts"
import type { ProcessInstanceView, ProcessPluginView, ProcessTestView } from "./ProcessViews.ts"
import type { Projector } from "./Projector.ts"

/** Settings over the environment's (`PLUGIN_LEDGER_PROCESS_*`) over the defaults. */
export interface ProcessHostOptions extends Partial<ProcessSettings> {
  /**
   * folders whose executables may be registered by absolute path (default: `$CODEX_HOME/process-plugins` and the
   * absolute paths in `PLUGIN_LEDGER_PROCESS_FOLDERS`, separated by the path delimiter)
   */
  readonly allowedFolders?: ReadonlyArray<string>
  /** where PATH, the settings and the credentials key come from (default: process.env); nothing else reaches a plugin */
  readonly env?: NodeJS.ProcessEnv
}

type Json = Readonly<Record<string, unknown>>

export interface ProcessHostShape {
  readonly add: (input: ProcessAddInput, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly configure: (input: {
    readonly name: string
    readonly adminConfig?: Json
    readonly userConfig?: { readonly userId: string; readonly config: Json }
    readonly timeoutSeconds?: number
    readonly rateLimitPerMinute?: number
  }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly setCredentials: (input: { readonly name: string; readonly credentials: Json }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly setEnabled: (input: { readonly name: string; readonly enabled: boolean }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly remove: (input: { readonly name: string }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly list: Effect.Effect<ReadonlyArray<ProcessPluginView>, EngineError>
  readonly status: (input: { readonly name: string }) => Effect.Effect<ProcessPluginView & { readonly instances: ReadonlyArray<ProcessInstanceView> }, EngineError>
  /** `timeoutSeconds`: this call's deadline instead of the plugin's */
  readonly call: (input: {
    readonly name: string
    readonly method: string
    readonly params: unknown
    readonly userId?: string
    readonly timeoutSeconds?: number
  }) => Effect.Effect<unknown, ProcessCallError | EngineError>
  /** a throwaway process (no storage, nothing recorded, even when disabled): initialize, ping, shutdown */
  readonly test: (input: { readonly name: string }) => Effect.Effect<ProcessTestView, EngineError>
}

/** The implementation's module, loaded when a host is first built. */
const live = Effect.promise(() => import("./ProcessHostLive.ts"))

export class ProcessHost extends Context.Service<ProcessHost, ProcessHostShape>()("plugin-ledger/services/ProcessHost") {
  static readonly layer = (options: ProcessHostOptions = {}): Layer.Layer<ProcessHost, EngineError, EventLog | LedgerConfig | Projector> =>
    Layer.effect(ProcessHost, Effect.flatMap(live, (m) => m.makeProcessHost(options)))

  /**
   * The same host, built on its first use (`serve`, `daemon`): a session that makes no `process/*` request never
   * loads it. Bad settings in the environment still fail the layer at once.
   */
  static readonly layerOnFirstUse = (
    options: ProcessHostOptions = {}
  ): Layer.Layer<ProcessHost, EngineError, EventLog | LedgerConfig | Projector> =>
    Layer.effect(
      ProcessHost,
      Effect.gen(function*() {
        const fromEnv = settingsFromEnv(options.env ?? process.env)
        if (Result.isFailure(fromEnv)) return yield* invalidRequest(fromEnv.failure)
        const context = yield* Effect.context<EventLog | LedgerConfig | Projector>()
        const scope = yield* Effect.scope
        // built once, in the layer's scope (its processes stop with it), by whichever request comes first
        const host = yield* Effect.cached(
          Effect.flatMap(live, (m) => m.makeProcessHost(options)).pipe(Effect.provideContext(context), Effect.provideService(Scope.Scope, scope))
        )
        const use = <A, E>(f: (host: ProcessHostShape) => Effect.Effect<A, E>): Effect.Effect<A, E | EngineError> => Effect.flatMap(host, f)
        return ProcessHost.of({
          add: (input, origin) => use((h) => h.add(input, origin)),
          configure: (input, origin) => use((h) => h.configure(input, origin)),
          setCredentials: (input, origin) => use((h) => h.setCredentials(input, origin)),
          setEnabled: (input, origin) => use((h) => h.setEnabled(input, origin)),
          remove: (input, origin) => use((h) => h.remove(input, origin)),
          list: use((h) => h.list),
          status: (input) => use((h) => h.status(input)),
          call: (input) => use((h) => h.call(input)),
          test: (input) => use((h) => h.test(input))
        })
      })
    )
}
