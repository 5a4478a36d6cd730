/** `createSyncPlugin`: reading-progress sync with an external service (`userReadSync`). */
import { InvalidParamsError, JSON_RPC_ERROR_CODES, JsonRpcError } from "./PluginErrors.ts"
import { createLogger, type LogLevel } from "./PluginLogger.ts"
import { optionalNumber, optionalParams, optionalString, type Params, requireObjectArray, requireParams, requireString } from "./ParamChecks.ts"
import { type HandlerContext, type MethodHandler, type PluginServer, runPluginServer } from "./PluginServer.ts"
import { buildManifest } from "./PluginManifest.ts"
import type {
  InitializeParams,
  ManifestFields,
  SyncEntry,
  SyncPullParams,
  SyncPullResponse,
  SyncPushResponse,
  SyncStatus,
  SyncStatusResponse,
  SyncUserInfo
} from "./PluginTypes.ts"

type Awaitable<T> = T | Promise<T>

export interface SyncProvider {
  readonly getUserInfo: (context: HandlerContext) => Awaitable<SyncUserInfo>
  readonly pushProgress: (params: { readonly entries: ReadonlyArray<SyncEntry> }, context: HandlerContext) => Awaitable<SyncPushResponse>
  readonly pullProgress: (params: SyncPullParams, context: HandlerContext) => Awaitable<SyncPullResponse>
  readonly status?: (context: HandlerContext) => Awaitable<SyncStatusResponse>
}

export interface SyncPluginOptions {
  readonly manifest: ManifestFields
  readonly provider: SyncProvider
  readonly onInitialize?: (params: InitializeParams, context: HandlerContext) => void | Promise<void>
  readonly logLevel?: LogLevel
  readonly storageTimeoutMs?: number
}

const SYNC_STATUSES: ReadonlyArray<SyncStatus> = ["reading", "completed", "on_hold", "dropped", "plan_to_read"]

const isSyncStatus = (value: unknown): value is SyncStatus => SYNC_STATUSES.some((status) => status === value)

/** Unknown fields of an entry (progress, score, library data, ...) are kept as the host sent them. */
const syncEntry = (entry: Params, path: string): SyncEntry => {
  const status = entry["status"]
  if (!isSyncStatus(status)) {
    throw new InvalidParamsError(`${path}.status`, `${path}.status must be one of ${SYNC_STATUSES.join(", ")}`)
  }
  return { ...entry, externalId: requireString(entry, "externalId"), status }
}

const pullParams = (params: Params): SyncPullParams => {
  const since = optionalString(params, "since")
  const limit = optionalNumber(params, "limit")
  const cursor = optionalString(params, "cursor")
  return { ...(since === undefined ? {} : { since }), ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) }
}

export const createSyncPlugin = (options: SyncPluginOptions): PluginServer => {
  const { provider } = options
  const manifest = buildManifest(options.manifest, { userReadSync: true })
  const { status } = provider
  const methods = new Map<string, MethodHandler>([
    ["sync/getUserInfo", (p, c) => (optionalParams(p), provider.getUserInfo(c))],
    ["sync/pushProgress", (p, c) => provider.pushProgress({ entries: requireObjectArray(requireParams(p), "entries", syncEntry) }, c)],
    ["sync/pullProgress", (p, c) => provider.pullProgress(pullParams(optionalParams(p)), c)],
    [
      "sync/status",
      status === undefined
        ? () => {
            throw new JsonRpcError(JSON_RPC_ERROR_CODES.METHOD_NOT_FOUND, "This plugin does not support sync/status")
          }
        : (p, c) => (optionalParams(p), status(c))
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
