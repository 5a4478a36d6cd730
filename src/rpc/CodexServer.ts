/**
 * The Codex app-server dialect on top of the JSON-RPC peer: request decoding with the reference's
 * serde texts, the initialize handshake, and the plugin methods (delegations to the Engine).
 */
import { Deferred, Effect, Result, Schema, Stream } from "effect"
import type { HistoryQuery } from "../domain/PluginViews.ts"
import { CapabilitiesService } from "../services/Capabilities.ts"
import { Engine, type EngineError, type Origin } from "../services/EngineApi.ts"
import { capabilitiesRequest, mentionItems, MentionParams } from "./CapabilityParams.ts"
import { initializeResult } from "./InitializeResult.ts"
import type { ReplayOptions, ReplayUntil } from "../services/Replay.ts"
import { ErrorCode, type IncomingRequest, type OutgoingNotification, type PeerHandlers, RpcError } from "./JsonRpcPeer.ts"
import type { SessionNotifications } from "./Notifications.ts"
import { ProcessHost } from "../services/ProcessHost.ts"
import { isProcessMethod, runProcessMethod } from "./ProcessMethods.ts"
import { decodeValue } from "./SerdeDecode.ts"
import { methodParams } from "./WireParams.ts"

const invalid = (message: string) => new RpcError({ code: ErrorCode.invalidRequest, message })

const fromEngine = (error: EngineError): RpcError =>
  new RpcError({
    code: error.kind === "InvalidRequest" ? ErrorCode.invalidRequest : ErrorCode.internalError,
    message: error.message
  })

const InitializeParams = Schema.Struct({
  clientInfo: Schema.Struct({ name: Schema.String, title: Schema.NullOr(Schema.String), version: Schema.String })
})
const ListParams = Schema.Struct({ cwds: Schema.NullOr(Schema.Array(Schema.String)), forceRemoteSync: Schema.Boolean })
const PathParams = Schema.Struct({ marketplacePath: Schema.String, pluginName: Schema.String })
const InstallParams = Schema.Struct({
  marketplacePath: Schema.String,
  pluginName: Schema.String,
  forceRemoteSync: Schema.Boolean,
  idempotencyKey: Schema.NullOr(Schema.String)
})
const UninstallParams = Schema.Struct({
  pluginId: Schema.String,
  forceRemoteSync: Schema.Boolean,
  idempotencyKey: Schema.NullOr(Schema.String)
})
const IdParams = Schema.Struct({ pluginId: Schema.String, idempotencyKey: Schema.NullOr(Schema.String) })
const HistoryParams = Schema.Struct({
  pluginId: Schema.NullOr(Schema.String),
  limit: Schema.NullOr(Schema.Number),
  afterSeq: Schema.NullOr(Schema.Number),
  since: Schema.NullOr(Schema.String),
  until: Schema.NullOr(Schema.String),
  actor: Schema.NullOr(Schema.String)
})
const WhyParams = Schema.Struct({ pluginId: Schema.String })
const VerifyParams = Schema.Struct({ repair: Schema.Boolean, idempotencyKey: Schema.NullOr(Schema.String) })
const RollbackParams = Schema.Struct({ pluginId: Schema.String, toSeq: Schema.NullOr(Schema.Number), idempotencyKey: Schema.NullOr(Schema.String) })
const ReplayParams = Schema.Struct({
  untilSeq: Schema.NullOr(Schema.Number),
  until: Schema.NullOr(Schema.String),
  into: Schema.NullOr(Schema.String),
  base: Schema.NullOr(Schema.String)
})

/**
 * `f` of params checked by `decodeValue`; a mismatch here is a bug in the wire tables (a defect). Decoded at once (a
 * `Result`), not as an effect of its own to flatMap: this only gives the checked params their type.
 */
const withParams = <S extends Schema.ConstraintDecoder<unknown>, A, E>(
  schema: S,
  value: unknown,
  f: (params: S["Type"]) => Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  const decoded = Schema.decodeUnknownResult(schema)(value)
  return Result.isSuccess(decoded) ? f(decoded.success) : Effect.die(decoded.failure)
}

export interface SessionOptions {
  /** `plugin/changed` and `marketplace/changed` for this client, from its `initialize` answer on */
  readonly notifications?: SessionNotifications
  /**
   * `initialize` was already answered (by `serve` before the engine was loaded): the session starts initialized
   * for this client, notified of every record after `afterSeq` (the log's end when that answer went out).
   */
  readonly initialized?: { readonly clientName: string; readonly afterSeq: number }
}

/** Per-connection state and dispatch. */
export const makeCodexSession = Effect.fn("makeCodexSession")(function*(options: SessionOptions = {}) {
  const engine = yield* Engine
  // the process-plugin host is optional: sessions without it answer `process/*` with a clear refusal
  const processHost = yield* Effect.serviceOption(ProcessHost)
  // present in serve / daemon; a session built without it answers these methods with an internal error
  const capabilities = yield* Effect.serviceOption(CapabilitiesService)
  let clientName = options.initialized?.clientName
  const methods = [...methodParams.keys()]
  // subscribed while `initialize` is handled, released to the writer once its answer is out
  const subscribed = yield* Deferred.make<Stream.Stream<OutgoingNotification>>()
  let pending: Stream.Stream<OutgoingNotification> | undefined
  if (options.initialized !== undefined && options.notifications !== undefined) {
    yield* Deferred.succeed(subscribed, yield* options.notifications.subscribe(options.initialized.afterSeq))
  }

  const origin = (request: IncomingRequest, idempotencyKey: string | null): Origin => ({
    actor: "rpc",
    requestId: String(request.id),
    ...(clientName === undefined ? {} : { client: clientName }),
    ...(idempotencyKey === null ? {} : { idempotencyKey })
  })

  const run = (request: IncomingRequest, params: unknown): Effect.Effect<unknown, RpcError> => {
    switch (request.method) {
      case "plugin/list":
        return withParams(ListParams, params, (p) => engine.list({ cwds: p.cwds ?? [], forceRemoteSync: p.forceRemoteSync }))
          .pipe(Effect.mapError(fromEngine))
      case "plugin/read":
        return withParams(PathParams, params, (p) => engine.read(p)).pipe(Effect.mapError(fromEngine))
      case "plugin/install":
        return withParams(InstallParams, params, (p) => {
          const install = engine.install(
            { marketplacePath: p.marketplacePath, pluginName: p.pluginName, forceRemoteSync: p.forceRemoteSync },
            origin(request, p.idempotencyKey)
          )
          // the marketplace is watched once the command is done (its answer out), as it looked before the install
          // read it: a change in between is reported all the same
          const used = options.notifications?.marketplaceUsed(p.marketplacePath)
          return used === undefined ? install : Effect.flatMap(used, (watch) => Effect.ensuring(install, watch))
        }).pipe(Effect.mapError(fromEngine))
      case "plugin/uninstall":
        return withParams(UninstallParams, params, (p) =>
          engine.uninstall({ pluginId: p.pluginId, forceRemoteSync: p.forceRemoteSync }, origin(request, p.idempotencyKey))
        ).pipe(Effect.mapError(fromEngine))
      case "plugin/enable":
      case "plugin/disable": {
        const enabled = request.method === "plugin/enable"
        return withParams(IdParams, params, (p) =>
          engine.setEnabled({ pluginId: p.pluginId, enabled }, origin(request, p.idempotencyKey))
        ).pipe(Effect.mapError(fromEngine))
      }
      case "plugin/history":
        return withParams(HistoryParams, params, (p) => Effect.mapError(historyQuery(p), invalid)).pipe(
          Effect.flatMap((query) => Effect.mapError(engine.history(query), fromEngine)),
          Effect.map((events) => ({ events }))
        )
      case "plugin/why":
        return withParams(WhyParams, params, (p) => engine.why(p)).pipe(Effect.mapError(fromEngine))
      case "ledger/verify":
        return withParams(VerifyParams, params, (p) => engine.verify({ repair: p.repair }, origin(request, p.idempotencyKey)))
          .pipe(Effect.mapError(fromEngine))
      case "plugin/rollback":
        return withParams(RollbackParams, params, (p) =>
          engine.rollback({ pluginId: p.pluginId, ...(p.toSeq === null ? {} : { toSeq: p.toSeq }) }, origin(request, p.idempotencyKey))
        ).pipe(Effect.mapError(fromEngine))
      case "ledger/replay":
        return withParams(ReplayParams, params, (p) => Effect.mapError(replayOptions(p), invalid)).pipe(
          Effect.flatMap((options) => Effect.mapError(engine.replay(options), fromEngine))
        )
      case "plugin/capabilities":
      case "plugin/mention": {
        if (capabilities._tag === "None") {
          return Effect.fail(new RpcError({ code: ErrorCode.internalError, message: "capabilities are not available in this session" }))
        }
        const service = capabilities.value
        return request.method === "plugin/capabilities"
          ? Effect.flatMap(Effect.mapError(capabilitiesRequest(params), invalid), (at) =>
            Effect.mapError(at === undefined ? service.current : service.at(at), fromEngine))
          : withParams(MentionParams, params, (p) => Effect.mapError(mentionItems(p), invalid)).pipe(
            Effect.flatMap((items) => Effect.mapError(service.mention(items), fromEngine))
          )
      }
      default:
        return Effect.fail(invalid(`Invalid request: unknown variant \`${request.method}\``))
    }
  }

  const initialize = (params: unknown) =>
    Effect.gen(function*() {
      if (clientName !== undefined) return yield* invalid("Already initialized")
      const { clientInfo } = yield* withParams(InitializeParams, params, Effect.succeed)
      clientName = clientInfo.name
      if (options.notifications !== undefined) pending = yield* options.notifications.subscribe()
      return initializeResult(clientInfo)
    })

  const handlers: PeerHandlers = {
    // checked at once (the peer calls this when the request's turn comes), not in a generator: every request passes
    // here, and only `initialize` has effects of its own to run
    request: (request) => {
      if (isProcessMethod(request.method)) {
        if (clientName === undefined) return Effect.fail(invalid("Not initialized"))
        return runProcessMethod(processHost, request.method, request.params, origin(request, null))
      }
      const shape = methodParams.get(request.method)
      if (shape === undefined) {
        const expected = methods.map((m) => `\`${m}\``).join(", ")
        return Effect.fail(invalid(`Invalid request: unknown variant \`${request.method}\`, expected one of ${expected}`))
      }
      if (request.params === undefined || request.params === null) {
        return Effect.fail(invalid("Invalid request: missing field `params`"))
      }
      const decoded = decodeValue(shape, request.params)
      if (Result.isFailure(decoded)) return Effect.fail(invalid(`Invalid request: ${decoded.failure}`))
      if (request.method === "initialize") return initialize(decoded.success)
      if (clientName === undefined) return Effect.fail(invalid("Not initialized"))
      return run(request, decoded.success)
    },
    notification: () => Effect.void,
    answered: (request) =>
      request.method !== "initialize"
        ? Effect.void
        : Effect.suspend(() => {
          if (pending === undefined) return Effect.void
          const stream = pending
          pending = undefined
          return Deferred.succeed(subscribed, stream)
        }),
    notifications: Stream.unwrap(Deferred.await(subscribed))
  }
  return handlers
})

/** The history filters of a request, with times checked (an unreadable time would silently match nothing). */
const historyQuery = (p: typeof HistoryParams.Type): Effect.Effect<HistoryQuery, string> => {
  for (const [key, value] of [["since", p.since], ["until", p.until]] as const) {
    if (value !== null && Number.isNaN(Date.parse(value))) {
      return Effect.fail(`Invalid request: \`${key}\` is not an ISO-8601 time: ${JSON.stringify(value)}`)
    }
  }
  if (p.limit !== null && p.limit < 0) return Effect.fail(`Invalid request: \`limit\` must not be negative, got ${p.limit}`)
  return Effect.succeed({
    ...(p.pluginId === null ? {} : { pluginId: p.pluginId }),
    ...(p.limit === null ? {} : { limit: p.limit }),
    ...(p.afterSeq === null ? {} : { afterSeq: p.afterSeq }),
    ...(p.since === null ? {} : { since: p.since }),
    ...(p.until === null ? {} : { until: p.until }),
    ...(p.actor === null ? {} : { actor: p.actor })
  })
}

/** `ledger/replay`'s params as options: at most one of `untilSeq` and `until` (an ISO-8601 time). */
const replayOptions = (p: typeof ReplayParams.Type): Effect.Effect<ReplayOptions, string> => {
  if (p.untilSeq !== null && p.until !== null) return Effect.fail("Invalid request: give `untilSeq` or `until`, not both")
  if (p.untilSeq !== null && p.untilSeq < 1) return Effect.fail(`Invalid request: \`untilSeq\` must be at least 1, got ${p.untilSeq}`)
  if (p.until !== null && Number.isNaN(Date.parse(p.until))) {
    return Effect.fail(`Invalid request: \`until\` is not an ISO-8601 time: ${JSON.stringify(p.until)}`)
  }
  const until: ReplayUntil | undefined = p.untilSeq !== null
    ? { _tag: "Seq", seq: p.untilSeq }
    : p.until !== null
    ? { _tag: "Time", time: p.until }
    : undefined
  return Effect.succeed({
    ...(until === undefined ? {} : { until }),
    ...(p.into === null ? {} : { into: p.into }),
    ...(p.base === null ? {} : { base: p.base })
  })
}
