/**
 * The public surface of `plugin-ledger/sdk` (package.json `exports`). This is the one re-exporting module in
 * the code base: a package entry point has to gather what plugin authors import from a single specifier.
 */
export { createMetadataPlugin } from "./MetadataPlugin.ts"
export type { BookMetadataProvider, MetadataPluginOptions, SeriesMetadataProvider } from "./MetadataPlugin.ts"
export { createSyncPlugin } from "./SyncPlugin.ts"
export type { SyncPluginOptions, SyncProvider } from "./SyncPlugin.ts"
export { createRecommendationPlugin } from "./RecommendationPlugin.ts"
export type { RecommendationPluginOptions, RecommendationProvider } from "./RecommendationPlugin.ts"
export { createLogger } from "./PluginLogger.ts"
export { hasBookMetadataProvider, hasSeriesMetadataProvider, hasWebLinks } from "./PluginManifest.ts"
export type { Logger, LoggerOptions, LogLevel } from "./PluginLogger.ts"
export {
  ApiError,
  AuthFailedError,
  ConfigError,
  InvalidParamsError,
  JSON_RPC_ERROR_CODES,
  JsonRpcError,
  NotFoundError,
  PLUGIN_ERROR_CODES,
  PluginError,
  RateLimitedError
} from "./PluginErrors.ts"
export type { JsonRpcErrorObject } from "./PluginErrors.ts"
export { PluginStorage, STORAGE_STOPPED, STORAGE_TIMEOUT, StorageError } from "./PluginStorage.ts"
export type { StorageGetResult, StorageKeyEntry } from "./PluginStorage.ts"
export type { HandlerContext, PluginServer } from "./PluginServer.ts"
export type * from "./PluginTypes.ts"
