/**
 * The `process/*` methods of our server (our own extension of the Codex dialect): registration commands, list,
 * status, test runs and calls of process plugins. Params are decoded with Schema; a plugin's own error keeps its code and
 * data (`retryAfterSeconds` for -32001) and gains `data.kind`.
 */
import { Effect, Option, Schema } from "effect"
import type { ProcessCallError } from "../domain/ProcessProtocol.ts"
import type { EngineError, Origin } from "../services/EngineApi.ts"
import type { ProcessHost } from "../services/ProcessHost.ts"
import { ErrorCode, RpcError } from "./JsonRpcPeer.ts"

const Obj = Schema.Record(Schema.String, Schema.Unknown)
const Name = Schema.Struct({ name: Schema.String, idempotencyKey: Schema.optionalKey(Schema.NullOr(Schema.String)) })
const params = {
  "process/add": Schema.Struct({
    name: Schema.String,
    command: Schema.String,
    args: Schema.optionalKey(Schema.Array(Schema.String)),
    env: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
    cwd: Schema.optionalKey(Schema.NullOr(Schema.String)),
    timeoutSeconds: Schema.optionalKey(Schema.Number),
    rateLimitPerMinute: Schema.optionalKey(Schema.Number),
    idempotencyKey: Schema.optionalKey(Schema.NullOr(Schema.String))
  }),
  "process/configure": Schema.Struct({
    name: Schema.String,
    adminConfig: Schema.optionalKey(Obj),
    userConfig: Schema.optionalKey(Schema.Struct({ userId: Schema.String, config: Obj })),
    timeoutSeconds: Schema.optionalKey(Schema.Number),
    rateLimitPerMinute: Schema.optionalKey(Schema.Number),
    idempotencyKey: Schema.optionalKey(Schema.NullOr(Schema.String))
  }),
  "process/setCredentials": Schema.Struct({ name: Schema.String, credentials: Obj, idempotencyKey: Schema.optionalKey(Schema.NullOr(Schema.String)) }),
  "process/enable": Name,
  "process/disable": Name,
  "process/remove": Name,
  "process/list": Schema.Struct({}),
  "process/status": Schema.Struct({ name: Schema.String }),
  "process/test": Schema.Struct({ name: Schema.String }),
  "process/call": Schema.Struct({
    name: Schema.String,
    method: Schema.String,
    params: Schema.optionalKey(Schema.Unknown),
    userId: Schema.optionalKey(Schema.NullOr(Schema.String)),
    timeoutSeconds: Schema.optionalKey(Schema.NullOr(Schema.Number))
  })
} as const

export type ProcessMethod = keyof typeof params
export const processMethods: ReadonlyArray<string> = Object.keys(params)
export const isProcessMethod = (method: string): method is ProcessMethod => Object.hasOwn(params, method)

const decode = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, value: unknown) =>
  Schema.decodeUnknownEffect(schema)(value ?? {}).pipe(
    Effect.mapError((e) => new RpcError({ code: ErrorCode.invalidRequest, message: `Invalid request: ${e.message}` }))
  )

const toRpc = (error: EngineError | ProcessCallError): RpcError => {
  if (error._tag === "EngineError") {
    return new RpcError({ code: error.kind === "InvalidRequest" ? ErrorCode.invalidRequest : ErrorCode.internalError, message: error.message })
  }
  const data = typeof error.data === "object" && error.data !== null ? { ...error.data, kind: error.kind } : { kind: error.kind }
  return new RpcError({ code: error.code, message: error.message, data })
}

const keyed = (origin: Origin, key: string | null | undefined): Origin =>
  key === null || key === undefined ? origin : { ...origin, idempotencyKey: key }

export const runProcessMethod = (
  host: Option.Option<ProcessHost["Service"]>,
  method: ProcessMethod,
  raw: unknown,
  origin: Origin
): Effect.Effect<unknown, RpcError> => {
  if (Option.isNone(host)) {
    return Effect.fail(new RpcError({ code: ErrorCode.invalidRequest, message: `Invalid request: \`${method}\` is not available in this server (no process-plugin host)` }))
  }
  const h = host.value
  const run = (): Effect.Effect<unknown, RpcError> => {
    switch (method) {
      case "process/add":
        return decode(params[method], raw).pipe(Effect.flatMap((p) =>
          Effect.mapError(h.add({
            name: p.name,
            command: p.command,
            args: p.args ?? [],
            env: p.env ?? {},
            cwd: p.cwd ?? null,
            ...(p.timeoutSeconds === undefined ? {} : { timeoutSeconds: p.timeoutSeconds }),
            ...(p.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: p.rateLimitPerMinute })
          }, keyed(origin, p.idempotencyKey)), toRpc)))
      case "process/configure":
        return decode(params[method], raw).pipe(Effect.flatMap(({ idempotencyKey, ...p }) => Effect.mapError(h.configure(p, keyed(origin, idempotencyKey)), toRpc)))
      case "process/setCredentials":
        return decode(params[method], raw).pipe(Effect.flatMap((p) =>
          Effect.mapError(h.setCredentials({ name: p.name, credentials: p.credentials }, keyed(origin, p.idempotencyKey)), toRpc)))
      case "process/enable":
      case "process/disable":
        return decode(params[method], raw).pipe(Effect.flatMap((p) =>
          Effect.mapError(h.setEnabled({ name: p.name, enabled: method === "process/enable" }, keyed(origin, p.idempotencyKey)), toRpc)))
      case "process/remove":
        return decode(params[method], raw).pipe(Effect.flatMap((p) => Effect.mapError(h.remove({ name: p.name }, keyed(origin, p.idempotencyKey)), toRpc)))
      case "process/list":
        return decode(params[method], raw).pipe(Effect.flatMap(() => Effect.mapError(h.list, toRpc)), Effect.map((plugins) => ({ plugins })))
      case "process/status":
        return decode(params[method], raw).pipe(Effect.flatMap((p) => Effect.mapError(h.status(p), toRpc)))
      case "process/test":
        return decode(params[method], raw).pipe(Effect.flatMap((p) => Effect.mapError(h.test(p), toRpc)))
      case "process/call":
        return decode(params[method], raw).pipe(Effect.flatMap((p) =>
          Effect.mapError(h.call({
            name: p.name,
            method: p.method,
            params: p.params,
            ...(p.userId === undefined || p.userId === null ? {} : { userId: p.userId }),
            ...(p.timeoutSeconds === undefined || p.timeoutSeconds === null ? {} : { timeoutSeconds: p.timeoutSeconds })
          }), toRpc)),
          Effect.map((result) => ({ result })))
    }
  }
  return run()
}
