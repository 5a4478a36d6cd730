/**
 * Metadata echo plugin: answers every metadata call with what it was asked, and counts searches in host storage.
 * Run: `node examples/process-plugins/metadata-echo/metadata-echo.ts` (newline-delimited JSON-RPC on stdio).
 * External ids `missing-*` answer NotFound, and the admin config `{"failWith": "rate-limit"|"auth"|"api"|"config"|"crash"}`
 * makes searches fail that way, so hosts can exercise their error mapping. With the admin config
 * `{"recordPayloads": true}` (and `maxPayloadFiles`, default 500) every answered call is written to
 * `<dataDir>/payloads/` by the payload recorder (recorder.ts); off by default here, unlike the reference echo plugin,
 * so tests and benchmarks do not write a file pair per call.
 */
import {
  ApiError,
  AuthFailedError,
  ConfigError,
  createMetadataPlugin,
  type HandlerContext,
  NotFoundError,
  RateLimitedError,
  type BookSearchParams,
  type SearchResult,
  type SeriesMatchParams
} from "plugin-ledger/sdk"
import { PayloadRecorder, redactConfig } from "./recorder.ts"

let recorder: PayloadRecorder | undefined

/** The handler, its answer recorded when recording is on. */
const recorded = <P, R>(method: string, handler: (params: P, context: HandlerContext) => R | Promise<R>) =>
  async (params: P, context: HandlerContext): Promise<R> => {
    const answer = await handler(params, context)
    await recorder?.record(method, params, answer)
    return answer
  }

const failure = (context: HandlerContext): Error | undefined => {
  switch (context.init.adminConfig?.["failWith"]) {
    case "rate-limit":
      return new RateLimitedError(42)
    case "auth":
      return new AuthFailedError()
    case "api":
      return new ApiError("Upstream answered 502", 502)
    case "config":
      return new ConfigError("apiKey is required")
    case "crash":
      return new Error("echo crashed on purpose")
    default:
      return undefined
  }
}

/** Bumps the stored search counter; the host keeps it across restarts of this process. */
const countSearch = async (context: HandlerContext): Promise<number> => {
  const { data } = await context.storage.get("searchCount")
  const next = (typeof data === "number" ? data : 0) + 1
  await context.storage.set("searchCount", next)
  return next
}

const echoResult = (query: string, count: number): SearchResult => ({
  externalId: `echo-${encodeURIComponent(query)}`,
  title: query,
  alternateTitles: [`${query} (echo)`],
  relevanceScore: 1,
  preview: { description: `search #${count}`, genres: [], authors: [] }
})

const getRecord = (kind: string) => (params: { readonly externalId: string }) => {
  if (params.externalId.startsWith("missing-")) throw new NotFoundError(`No ${kind} ${params.externalId}`)
  return {
    externalId: params.externalId,
    externalUrl: `https://echo.invalid/${kind}/${encodeURIComponent(params.externalId)}`,
    title: decodeURIComponent(params.externalId.replace(/^echo-/, "")),
    summary: `Echo of ${kind} ${params.externalId}`
  }
}

createMetadataPlugin({
  manifest: {
    name: "metadata-echo",
    displayName: "Metadata Echo",
    version: "1.0.0",
    description: "Echoes metadata requests back; for testing hosts",
    author: "plugin-ledger"
  },
  onInitialize: (params, context) => {
    const maxFiles = params.adminConfig?.["maxPayloadFiles"]
    recorder = params.adminConfig?.["recordPayloads"] === true
      ? new PayloadRecorder({
        pluginName: "metadata-echo",
        ...(params.dataDir === undefined ? {} : { dataDir: params.dataDir }),
        ...(typeof maxFiles === "number" ? { maxFiles } : {}),
        configSnapshot: redactConfig(params),
        logger: context.logger
      })
      : undefined
    context.logger.info(`initialized with admin config keys: ${Object.keys(params.adminConfig ?? {}).join(",")}`)
  },
  series: {
    search: recorded("metadata/series/search", async (params, context) => {
      const error = failure(context)
      if (error !== undefined) throw error
      const count = await countSearch(context)
      const limit = params.limit ?? 10
      return { results: limit > 0 ? [echoResult(params.query, count)] : [] }
    }),
    get: recorded("metadata/series/get", getRecord("series")),
    match: recorded("metadata/series/match", (params: SeriesMatchParams) => (params.title.startsWith("missing") ? null : echoResult(params.title, 0)))
  },
  book: {
    search: recorded("metadata/book/search", async (params: BookSearchParams, context) => {
      const count = await countSearch(context)
      return { results: [echoResult(params.query ?? `isbn:${params.isbn ?? ""}`, count)] }
    }),
    get: recorded("metadata/book/get", getRecord("book"))
  }
})
