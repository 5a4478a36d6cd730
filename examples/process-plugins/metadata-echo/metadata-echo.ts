/**
 * Metadata echo plugin: answers every metadata call with what it was asked, and counts searches in host storage.
 * Run: `node examples/process-plugins/metadata-echo/metadata-echo.ts` (newline-delimited JSON-RPC on stdio).
 * External ids `missing-*` answer NotFound, and the admin config `{"failWith": "rate-limit"|"auth"|"api"|"config"|"crash"}`
 * makes searches fail that way, so hosts can exercise their error mapping.
 */
import {
  ApiError,
  AuthFailedError,
  ConfigError,
  createMetadataPlugin,
  type HandlerContext,
  NotFoundError,
  RateLimitedError,
  type SearchResult
} from "plugin-ledger/sdk"

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
  onInitialize: (params, context) => context.logger.info(`initialized with admin config keys: ${Object.keys(params.adminConfig ?? {}).join(",")}`),
  series: {
    search: async (params, context) => {
      const error = failure(context)
      if (error !== undefined) throw error
      const count = await countSearch(context)
      const limit = params.limit ?? 10
      return { results: limit > 0 ? [echoResult(params.query, count)] : [] }
    },
    get: getRecord("series"),
    match: (params) => (params.title.startsWith("missing") ? null : echoResult(params.title, 0))
  },
  book: {
    search: async (params, context) => {
      const count = await countSearch(context)
      return { results: [echoResult(params.query ?? `isbn:${params.isbn ?? ""}`, count)] }
    },
    get: getRecord("book")
  }
})
