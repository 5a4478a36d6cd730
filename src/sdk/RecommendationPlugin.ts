/** `createRecommendationPlugin`: per-user recommendations (`userRecommendationProvider`). */
import { InvalidParamsError, JSON_RPC_ERROR_CODES, JsonRpcError } from "./PluginErrors.ts"
import { createLogger, type LogLevel } from "./PluginLogger.ts"
import {
  optionalNumber,
  optionalParams,
  optionalString,
  optionalStringArray,
  type Params,
  requireObjectArray,
  requireParams,
  requireString
} from "./ParamChecks.ts"
import { type HandlerContext, type MethodHandler, type PluginServer, runPluginServer } from "./PluginServer.ts"
import { buildManifest } from "./PluginManifest.ts"
import type {
  DismissParams,
  DismissReason,
  InitializeParams,
  ManifestFields,
  RecommendationsParams,
  RecommendationsResponse,
  UserLibraryEntry
} from "./PluginTypes.ts"

type Awaitable<T> = T | Promise<T>

export interface RecommendationProvider {
  readonly get: (params: RecommendationsParams, context: HandlerContext) => Awaitable<RecommendationsResponse>
  readonly dismiss?: (params: DismissParams, context: HandlerContext) => Awaitable<{ readonly dismissed: boolean }>
  readonly clear?: (context: HandlerContext) => Awaitable<{ readonly cleared: boolean }>
  readonly updateProfile?: (
    params: { readonly entries: ReadonlyArray<UserLibraryEntry> },
    context: HandlerContext
  ) => Awaitable<{ readonly updated: boolean; readonly entriesProcessed: number }>
}

export interface RecommendationPluginOptions {
  readonly manifest: ManifestFields
  readonly provider: RecommendationProvider
  readonly onInitialize?: (params: InitializeParams, context: HandlerContext) => void | Promise<void>
  readonly logLevel?: LogLevel
  readonly storageTimeoutMs?: number
}

const DISMISS_REASONS: ReadonlyArray<DismissReason> = ["not_interested", "already_read", "already_owned"]

const libraryEntry = (entry: Params): UserLibraryEntry => ({
  ...entry,
  seriesId: requireString(entry, "seriesId"),
  title: requireString(entry, "title")
})

const getParams = (params: Params): RecommendationsParams => {
  const limit = optionalNumber(params, "limit")
  const excludeIds = optionalStringArray(params, "excludeIds")
  return {
    library: requireObjectArray(params, "library", libraryEntry),
    ...(limit === undefined ? {} : { limit }),
    ...(excludeIds === undefined ? {} : { excludeIds })
  }
}

const dismissParams = (params: Params): DismissParams => {
  const raw = optionalString(params, "reason")
  const externalId = requireString(params, "externalId")
  if (raw === undefined) return { externalId }
  const reason = DISMISS_REASONS.find((known) => known === raw)
  if (reason === undefined) throw new InvalidParamsError("reason", `reason must be one of ${DISMISS_REASONS.join(", ")}`)
  return { externalId, reason }
}

const unsupported = (method: string) => () => {
  throw new JsonRpcError(JSON_RPC_ERROR_CODES.METHOD_NOT_FOUND, `This plugin does not support ${method}`)
}

export const createRecommendationPlugin = (options: RecommendationPluginOptions): PluginServer => {
  const { get, dismiss, clear, updateProfile } = options.provider
  const manifest = buildManifest(options.manifest, { userRecommendationProvider: true })
  const methods = new Map<string, MethodHandler>([
    ["recommendations/get", (p, c) => get(getParams(requireParams(p)), c)],
    ["recommendations/dismiss", dismiss ? (p, c) => dismiss(dismissParams(requireParams(p)), c) : unsupported("recommendations/dismiss")],
    ["recommendations/clear", clear ? (p, c) => (optionalParams(p), clear(c)) : unsupported("recommendations/clear")],
    [
      "recommendations/updateProfile",
      updateProfile
        ? (p, c) => updateProfile({ entries: requireObjectArray(requireParams(p), "entries", libraryEntry) }, c)
        : unsupported("recommendations/updateProfile")
    ]
  ])
  const logger = createLogger({ name: manifest.name, level: options.logLevel ?? "info" })
  return runPluginServer({
    manifest,
    methods,
    logger,
    ...(options.onInitialize === undefined ? {} : { onInitialize: options.onInitialize }),
    ...(options.storageTimeoutMs === undefined ? {} : { storageTimeoutMs: options.storageTimeoutMs })
  })
}
