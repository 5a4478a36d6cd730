/**
 * `createMetadataPlugin`: a metadata provider for series and/or books. The declared `metadataProvider`
 * capability follows from which providers are given, so the manifest cannot promise what the plugin lacks.
 */
import { InvalidParamsError, JSON_RPC_ERROR_CODES, JsonRpcError } from "./PluginErrors.ts"
import { createLogger, type LogLevel } from "./PluginLogger.ts"
import { optionalNumber, optionalString, optionalStringArray, type Params, requireParams, requireString } from "./ParamChecks.ts"
import { type HandlerContext, type MethodHandler, type PluginServer, runPluginServer } from "./PluginServer.ts"
import { buildManifest } from "./PluginManifest.ts"
import type {
  BookMatchParams,
  BookSearchParams,
  ContentType,
  GetParams,
  InitializeParams,
  ManifestFields,
  MetadataRecord,
  SearchResponse,
  SearchResult,
  SeriesMatchParams,
  SeriesSearchParams
} from "./PluginTypes.ts"

type Awaitable<T> = T | Promise<T>

export interface SeriesMetadataProvider {
  readonly search: (params: SeriesSearchParams, context: HandlerContext) => Awaitable<SearchResponse>
  readonly get: (params: GetParams, context: HandlerContext) => Awaitable<MetadataRecord>
  /** The host reads a bare `SearchResult` or `null` (no match). */
  readonly match?: (params: SeriesMatchParams, context: HandlerContext) => Awaitable<SearchResult | null>
}

export interface BookMetadataProvider {
  readonly search: (params: BookSearchParams, context: HandlerContext) => Awaitable<SearchResponse>
  readonly get: (params: GetParams, context: HandlerContext) => Awaitable<MetadataRecord>
  readonly match?: (params: BookMatchParams, context: HandlerContext) => Awaitable<SearchResult | null>
}

export interface MetadataPluginOptions {
  readonly manifest: ManifestFields
  readonly series?: SeriesMetadataProvider
  readonly book?: BookMetadataProvider
  readonly onInitialize?: (params: InitializeParams, context: HandlerContext) => void | Promise<void>
  /** Until `initialize` brings the host's level. */
  readonly logLevel?: LogLevel
  readonly storageTimeoutMs?: number
}

const unsupported = (what: string) => () => {
  throw new JsonRpcError(JSON_RPC_ERROR_CODES.METHOD_NOT_FOUND, `This plugin does not support ${what}`)
}

const searchParams = (params: Params): SeriesSearchParams => {
  const limit = optionalNumber(params, "limit")
  const cursor = optionalString(params, "cursor")
  return { query: requireString(params, "query"), ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) }
}

const bookSearchParams = (params: Params): BookSearchParams => {
  const isbn = optionalString(params, "isbn")
  const query = optionalString(params, "query")
  if ((isbn === undefined || isbn.trim() === "") && (query === undefined || query.trim() === "")) {
    throw new InvalidParamsError("isbn", "either isbn or query is required")
  }
  const author = optionalString(params, "author")
  const year = optionalNumber(params, "year")
  const limit = optionalNumber(params, "limit")
  const cursor = optionalString(params, "cursor")
  return {
    ...(isbn === undefined ? {} : { isbn }),
    ...(query === undefined ? {} : { query }),
    ...(author === undefined ? {} : { author }),
    ...(year === undefined ? {} : { year }),
    ...(limit === undefined ? {} : { limit }),
    ...(cursor === undefined ? {} : { cursor })
  }
}

const seriesMatchParams = (params: Params): SeriesMatchParams => {
  const year = optionalNumber(params, "year")
  const author = optionalString(params, "author")
  return { title: requireString(params, "title"), ...(year === undefined ? {} : { year }), ...(author === undefined ? {} : { author }) }
}

const bookMatchParams = (params: Params): BookMatchParams => {
  const authors = optionalStringArray(params, "authors")
  const isbn = optionalString(params, "isbn")
  const year = optionalNumber(params, "year")
  const publisher = optionalString(params, "publisher")
  return {
    title: requireString(params, "title"),
    ...(authors === undefined ? {} : { authors }),
    ...(isbn === undefined ? {} : { isbn }),
    ...(year === undefined ? {} : { year }),
    ...(publisher === undefined ? {} : { publisher })
  }
}

const getParams = (params: Params): GetParams => ({ externalId: requireString(params, "externalId") })

export const createMetadataPlugin = (options: MetadataPluginOptions): PluginServer => {
  const { series, book } = options
  const provides: Array<ContentType> = []
  if (series !== undefined) provides.push("series")
  if (book !== undefined) provides.push("book")
  if (provides.length === 0) throw new TypeError("createMetadataPlugin needs a series or a book provider")
  const manifest = buildManifest(options.manifest, { metadataProvider: provides })

  const methods = new Map<string, MethodHandler>([
    ["metadata/series/search", series ? (p, c) => series.search(searchParams(requireParams(p)), c) : unsupported("series metadata")],
    ["metadata/series/get", series ? (p, c) => series.get(getParams(requireParams(p)), c) : unsupported("series metadata")],
    [
      "metadata/series/match",
      series?.match ? (p, c) => series.match?.(seriesMatchParams(requireParams(p)), c) ?? null : unsupported(series ? "series match" : "series metadata")
    ],
    ["metadata/book/search", book ? (p, c) => book.search(bookSearchParams(requireParams(p)), c) : unsupported("book metadata")],
    ["metadata/book/get", book ? (p, c) => book.get(getParams(requireParams(p)), c) : unsupported("book metadata")],
    [
      "metadata/book/match",
      book?.match ? (p, c) => book.match?.(bookMatchParams(requireParams(p)), c) ?? null : unsupported(book ? "book match" : "book metadata")
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
