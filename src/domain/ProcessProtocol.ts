/**
 * The process-plugin protocol's data: the manifest an `initialize` returns, which capability each host->plugin
 * method needs, and the error a call ends with (the plugin's JSON-RPC error codes mapped, or the host's own). Pure.
 */
import { Result, Schema } from "effect"

export const ErrorCodes = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  rateLimited: -32001,
  notFound: -32002,
  authFailed: -32003,
  apiError: -32004,
  configError: -32005
} as const

/** The host's size limits (bytes): one stdout line, and one stored value. */
export const MAX_LINE_BYTES = 1_048_576
/**
 * 1 MB (decimal) per stored value: a value just over it still fits a 1 MiB line, so the plugin gets the size error
 * instead of a dropped line.
 */
export const MAX_VALUE_BYTES = 1_000_000
export const MAX_KEYS = 100
/**
 * The protocol version this host speaks (the reference's constant: 1.1 added totalVolumeCount/totalChapterCount,
 * 1.2 dropped totalBookCount). It is never sent; a manifest's protocolVersion must only share its major version.
 */
export const PROTOCOL_VERSION = "1.2"

const optional = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

const Capabilities = Schema.Struct({
  metadataProvider: Schema.optionalKey(Schema.Array(Schema.Literals(["series", "book"]))),
  userReadSync: Schema.optionalKey(Schema.Boolean),
  externalIdSource: Schema.optionalKey(Schema.String),
  userRecommendationProvider: Schema.optionalKey(Schema.Boolean),
  wantsFullMetadata: Schema.optionalKey(Schema.Boolean),
  wantsDetailedProgress: Schema.optionalKey(Schema.Boolean),
  // releases are not routed here, but a declared release source opens `releases/*` in the permission table
  releaseSource: optional(Schema.Struct({ kinds: Schema.optionalKey(Schema.Array(Schema.Literals(["rss-uploader", "rss-series", "api-feed", "metadata-feed"]))) })),
  // a pure declaration (links shown by the library server's UI): checked and recorded, never called
  webLinks: optional(Schema.Struct({
    searchUrlTemplate: Schema.String,
    seriesLinks: Schema.optionalKey(Schema.Array(Schema.Struct({ source: Schema.String, urlTemplate: Schema.String })))
  }))
})
export type Capabilities = typeof Capabilities.Type

const CredentialField = Schema.Struct({
  key: Schema.String,
  label: Schema.String,
  credentialType: Schema.optionalKey(Schema.Literals(["string", "password", "oauth"]))
})

export const Manifest = Schema.Struct({
  name: Schema.String,
  displayName: Schema.String,
  version: Schema.String,
  protocolVersion: Schema.String,
  capabilities: Capabilities,
  description: optional(Schema.String),
  author: optional(Schema.String),
  pluginType: Schema.optionalKey(Schema.Literals(["system", "user"])),
  requiredCredentials: Schema.optionalKey(Schema.Array(CredentialField)),
  oauth: optional(Schema.Struct({ authorizationUrl: Schema.String, tokenUrl: Schema.String })),
  searchURITemplate: optional(Schema.String)
})
export type Manifest = typeof Manifest.Type

const decodeManifest = Schema.decodeUnknownResult(Manifest)

/** Required fields, known capability values, and the host's protocol major version ("1", "1.0", "1.2", "1.9"...). */
export const validateManifest = (value: unknown): Result.Result<Manifest, string> => {
  const decoded = decodeManifest(value)
  if (Result.isFailure(decoded)) return Result.fail(`invalid manifest: ${decoded.failure.message}`)
  const major = /^(\d+)(?:\.\d+)*$/.exec(decoded.success.protocolVersion)?.[1]
  const hostMajor = PROTOCOL_VERSION.split(".")[0]
  if (major !== hostMajor) {
    return Result.fail(`invalid manifest: protocolVersion \`${decoded.success.protocolVersion}\` is not a ${hostMajor}.x version (this host speaks ${PROTOCOL_VERSION})`)
  }
  return Result.succeed(decoded.success)
}

/**
 * Whether the plugin needs credentials before it can act (an OAuth flow or required credentials declared), as the
 * reference decides it; credential-less plugins are usable as soon as they are enabled.
 */
export const requiresAuthentication = (manifest: Manifest): boolean =>
  (manifest.oauth !== undefined && manifest.oauth !== null) || (manifest.requiredCredentials?.length ?? 0) > 0

/** The capability a host->plugin method needs, or undefined for a method the host does not route. */
export const capabilityFor = (method: string): { readonly name: string; readonly has: (c: Capabilities) => boolean } | undefined => {
  const series = /^metadata\/series\/(search|get|match)$/.test(method)
  const book = /^metadata\/book\/(search|get|match)$/.test(method)
  if (series || book) {
    const kind = series ? "series" : "book"
    return { name: `metadataProvider: ${kind}`, has: (c) => c.metadataProvider?.includes(kind) === true }
  }
  if (/^sync\/(getUserInfo|pushProgress|pullProgress|status)$/.test(method)) {
    return { name: "userReadSync", has: (c) => c.userReadSync === true }
  }
  if (/^recommendations\/(get|dismiss|clear|updateProfile)$/.test(method)) {
    return { name: "userRecommendationProvider", has: (c) => c.userRecommendationProvider === true }
  }
  return undefined
}

export type CallErrorKind =
  | "RateLimited"
  | "NotFound"
  | "AuthFailed"
  | "ApiError"
  | "ConfigError"
  | "PluginError"
  | "Timeout"
  | "Crashed"
  | "InvalidResponse"
  | "Unavailable"

/** How a call to a process plugin failed; `code`/`message`/`data` are what our own RPC answers with. */
export class ProcessCallError extends Schema.TaggedError<ProcessCallError>()("ProcessCallError", {
  kind: Schema.Literals([
    "RateLimited",
    "NotFound",
    "AuthFailed",
    "ApiError",
    "ConfigError",
    "PluginError",
    "Timeout",
    "Crashed",
    "InvalidResponse",
    "Unavailable"
  ]),
  code: Schema.Number,
  message: Schema.String,
  data: Schema.optionalKey(Schema.Unknown),
  retryAfterSeconds: Schema.optionalKey(Schema.Number)
}) {}

const kindOfCode = (code: number): CallErrorKind => {
  switch (code) {
    case ErrorCodes.rateLimited:
      return "RateLimited"
    case ErrorCodes.notFound:
      return "NotFound"
    case ErrorCodes.authFailed:
      return "AuthFailed"
    case ErrorCodes.apiError:
      return "ApiError"
    case ErrorCodes.configError:
      return "ConfigError"
    default:
      return "PluginError"
  }
}

/** A JSON-RPC error object from a plugin, mapped (-32001 carries `retryAfterSeconds`, 60 when absent). */
export const callErrorOf = (error: unknown): ProcessCallError => {
  if (typeof error !== "object" || error === null || Array.isArray(error)) {
    return new ProcessCallError({ kind: "InvalidResponse", code: ErrorCodes.internalError, message: "invalid response: `error` is not an object" })
  }
  const code = Reflect.get(error, "code")
  const message = Reflect.get(error, "message")
  const data: unknown = Reflect.get(error, "data")
  const numeric = typeof code === "number" && Number.isInteger(code) ? code : ErrorCodes.internalError
  const text = typeof message === "string" ? message : "(no message)"
  const kind = kindOfCode(numeric)
  if (kind === "RateLimited") {
    const raw = typeof data === "object" && data !== null ? Reflect.get(data, "retryAfterSeconds") : undefined
    const retryAfterSeconds = typeof raw === "number" && Number.isFinite(raw) && raw >= 0 ? Math.floor(raw) : 60
    return new ProcessCallError({ kind, code: numeric, message: text, data: { retryAfterSeconds }, retryAfterSeconds })
  }
  return new ProcessCallError({ kind, code: numeric, message: text, ...(data === undefined ? {} : { data }) })
}

export const unavailable = (message: string) => new ProcessCallError({ kind: "Unavailable", code: ErrorCodes.invalidRequest, message })
