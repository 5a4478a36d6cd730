/**
 * The SDK's parts on their own. Conformance cases checked here: 11 error_code_constants, 76 sdk_error_wire_forms,
 * 77 sdk_logger_levels, 72 sdk_response_detection, 73 sdk_storage_request_shape (and 93's "set without TTL has no
 * expiresAt key"), 74 sdk_storage_out_of_order, 75 sdk_storage_error_and_cancel, 94 sdk_has_web_links_guard (with
 * the metadata guards of 37 and 43's series-link order), 42 manifest_search_uri_template_wire_name (what the SDK
 * sends); plus the package export `plugin-ledger/sdk` and manifest checks.
 */
import { describe, expect, it } from "vitest"
import {
  ApiError,
  AuthFailedError,
  ConfigError,
  JSON_RPC_ERROR_CODES,
  NotFoundError,
  PLUGIN_ERROR_CODES,
  RateLimitedError,
  toJsonRpcError
} from "../../src/sdk/PluginErrors.ts"
import { createLogger } from "../../src/sdk/PluginLogger.ts"
import { buildManifest, hasBookMetadataProvider, hasSeriesMetadataProvider, hasWebLinks } from "../../src/sdk/PluginManifest.ts"
import { isJsonRpcResponse } from "../../src/sdk/PluginServer.ts"
import { MAX_LINE_BYTES, PluginStorage, STORAGE_STOPPED, STORAGE_TIMEOUT, StorageError } from "../../src/sdk/PluginStorage.ts"

describe("errors", () => {
  it("codes and wire forms", () => {
    expect(JSON_RPC_ERROR_CODES.PARSE_ERROR).toBe(-32700)
    expect(PLUGIN_ERROR_CODES).toEqual({ RATE_LIMITED: -32001, NOT_FOUND: -32002, AUTH_FAILED: -32003, API_ERROR: -32004, CONFIG_ERROR: -32005 })
    expect(new RateLimitedError(60).toJsonRpcError()).toEqual({ code: -32001, message: "Rate limited, retry after 60s", data: { retryAfterSeconds: 60 } })
    expect(new RateLimitedError(5, "slow down").retryAfterSeconds).toBe(5)
    expect(new NotFoundError("Not found").toJsonRpcError()).toEqual({ code: -32002, message: "Not found", data: undefined })
    expect(new AuthFailedError().message).toBe("Authentication failed")
    expect(new AuthFailedError().code).toBe(-32003)
    expect(new ApiError("Bad gateway", 502).toJsonRpcError()).toEqual({ code: -32004, message: "Bad gateway", data: { statusCode: 502 } })
    expect(new ConfigError("apiKey missing").toJsonRpcError()).toMatchObject({ code: -32005, message: "apiKey missing" })
    expect(toJsonRpcError(new TypeError("boom"))).toEqual({ code: -32603, message: "boom" })
    expect(toJsonRpcError("a string")).toEqual({ code: -32603, message: "Unknown error" })
    expect(new NotFoundError("x")).toBeInstanceOf(Error)
    expect(new NotFoundError("x").name).toBe("NotFoundError")
  })
})

describe("logger", () => {
  it("filters by level, formats `[LEVEL] [name] message - data`, one line per entry", () => {
    const lines: Array<string> = []
    const logger = createLogger({ name: "t", level: "info", timestamps: false, write: (line) => lines.push(line) })
    logger.debug("hidden")
    logger.info("shown", { a: 1 })
    logger.setLevel("debug")
    logger.debug("now shown")
    logger.setLevel("error")
    logger.info("silenced")
    logger.warn("silenced")
    logger.error("multi\nline")
    expect(lines).toEqual(["[INFO] [t] shown - {\"a\":1}\n", "[DEBUG] [t] now shown\n", "[ERROR] [t] multi\\nline\n"])
  })

  it("writes to stderr by default, with an ISO timestamp", async () => {
    const { spawnSync } = await import("node:child_process")
    const script = `import { createLogger } from "plugin-ledger/sdk"; createLogger({ name: "t" }).warn("careful")`
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: import.meta.dirname, encoding: "utf8" })
    expect(run.stdout).toBe("")
    expect(run.stderr).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[WARN\] \[t\] careful\n$/)
  })
})

describe("response detection", () => {
  it("a response has an id, result or error, and no method", () => {
    expect(isJsonRpcResponse({ jsonrpc: "2.0", id: 1, result: null })).toBe(true)
    expect(isJsonRpcResponse({ jsonrpc: "2.0", id: 1, error: { code: 1, message: "x" } })).toBe(true)
    expect(isJsonRpcResponse({ jsonrpc: "2.0", id: null, error: { code: 1, message: "x" } })).toBe(false)
    expect(isJsonRpcResponse({ jsonrpc: "2.0", id: 1, method: "storage/get", result: {} })).toBe(false)
    expect(isJsonRpcResponse({ jsonrpc: "2.0", id: 1 })).toBe(false)
  })
})

describe("storage client", () => {
  const client = (timeoutMs = 5_000) => {
    const sent: Array<string> = []
    const storage = new PluginStorage((line) => sent.push(line), { timeoutMs })
    const answer = (id: number, body: Record<string, unknown>) => storage.handleResponse({ jsonrpc: "2.0", id, ...body })
    return { storage, sent, answer }
  }

  it("request lines: ids from 1, expiresAt only when given, list/clear send {}", async () => {
    const { storage, sent, answer } = client()
    const calls = [
      storage.get("taste_profile"),
      storage.set("profile", { version: 1 }),
      storage.list(),
      storage.set("t", 1, new Date("2030-01-01T00:00:00Z")),
      storage.delete("t"),
      storage.clear()
    ]
    expect(sent).toEqual([
      '{"jsonrpc":"2.0","id":1,"method":"storage/get","params":{"key":"taste_profile"}}\n',
      '{"jsonrpc":"2.0","id":2,"method":"storage/set","params":{"key":"profile","data":{"version":1}}}\n',
      '{"jsonrpc":"2.0","id":3,"method":"storage/list","params":{}}\n',
      '{"jsonrpc":"2.0","id":4,"method":"storage/set","params":{"key":"t","data":1,"expiresAt":"2030-01-01T00:00:00.000Z"}}\n',
      '{"jsonrpc":"2.0","id":5,"method":"storage/delete","params":{"key":"t"}}\n',
      '{"jsonrpc":"2.0","id":6,"method":"storage/clear","params":{}}\n'
    ])
    answer(6, { result: { deletedCount: 5 } })
    answer(5, { result: { deleted: true } })
    answer(4, { result: { success: true } })
    answer(3, { result: { keys: [{ key: "a", updatedAt: "2026-01-01T00:00:00Z" }, { bad: 1 }] } })
    answer(2, { result: { success: true } })
    answer(1, { result: { data: null } })
    expect(await Promise.all(calls)).toEqual([
      { data: null },
      { success: true },
      { keys: [{ key: "a", updatedAt: "2026-01-01T00:00:00Z" }] },
      { success: true },
      { deleted: true },
      { deletedCount: 5 }
    ])
    expect(storage.pendingCount).toBe(0)
  })

  it("out-of-order answers resolve their own requests; unknown ids are not ours", async () => {
    const { storage, answer } = client()
    const first = storage.get("a")
    const second = storage.get("b")
    expect(answer(2, { result: { data: "second", expiresAt: "2030-01-01T00:00:00Z" } })).toBe(true)
    expect(answer(1, { result: { data: "first" } })).toBe(true)
    expect(await first).toEqual({ data: "first" })
    expect(await second).toEqual({ data: "second", expiresAt: "2030-01-01T00:00:00Z" })
    expect(answer(1, { result: { data: "again" } })).toBe(false)
    expect(storage.handleResponse({ jsonrpc: "2.0", id: "1", result: {} })).toBe(false)
  })

  it("host errors, cancelAll, write failures, timeouts and oversize requests reject with StorageError", async () => {
    const { storage, answer } = client()
    const failed = storage.get("a")
    answer(1, { error: { code: -32603, message: "Internal error", data: { why: 1 } } })
    await expect(failed).rejects.toMatchObject({ name: "StorageError", code: -32603, message: "Internal error", data: { why: 1 } })

    const pending = [storage.get("b"), storage.set("c", 1)]
    storage.cancelAll()
    for (const call of pending) await expect(call).rejects.toMatchObject({ code: STORAGE_STOPPED, message: "Storage client stopped" })
    expect(storage.pendingCount).toBe(0)

    const broken = new PluginStorage(() => {
      throw new Error("EPIPE")
    })
    await expect(broken.get("x")).rejects.toThrow(/EPIPE/)
    expect(broken.pendingCount).toBe(0)

    const slow = client(30)
    await expect(slow.storage.get("late")).rejects.toMatchObject({ code: STORAGE_TIMEOUT, message: "Storage request storage/get timed out after 30 ms" })
    expect(slow.answer(1, { result: { data: 1 } })).toBe(false)

    const big = client()
    await expect(big.storage.set("big", "x".repeat(MAX_LINE_BYTES))).rejects.toBeInstanceOf(StorageError)
    expect(big.sent).toEqual([])
  })
})

describe("manifest and package export", () => {
  it("fills protocolVersion 1.0, lets the factory's capability win, refuses what the host would refuse", () => {
    expect(buildManifest({ name: "n", displayName: "N", version: "1", capabilities: { userReadSync: false, x: 1 } }, { userReadSync: true })).toEqual({
      name: "n",
      displayName: "N",
      version: "1",
      protocolVersion: "1.0",
      capabilities: { userReadSync: true, x: 1 }
    })
    expect(() => buildManifest({ name: "", displayName: "N", version: "1" }, {})).toThrow(/name must be a non-empty string/)
    expect(() => buildManifest({ name: "n", displayName: "N", version: "1", protocolVersion: "2.0" }, {})).toThrow(/protocolVersion must be 1\.x/)
    // searchURITemplate goes on the wire under its exact key, and only when given (42)
    const template = "https://mangabaka.org/search?sort_by=popularity_asc&q=<title>"
    expect(JSON.parse(JSON.stringify(buildManifest({ name: "n", displayName: "N", version: "1", searchURITemplate: template }, {})))).toHaveProperty("searchURITemplate", template)
    expect(JSON.stringify(buildManifest({ name: "n", displayName: "N", version: "1" }, {}))).not.toContain("searchURI")
  })

  it("type guards: web links with or without series links (94); series and book metadata (37)", () => {
    const manifest = (capabilities: Record<string, unknown>) => buildManifest({ name: "n", displayName: "N", version: "1", protocolVersion: "1.1" }, capabilities)
    expect(hasWebLinks(manifest({}))).toBe(false)
    expect(hasWebLinks(manifest({ webLinks: { searchUrlTemplate: "{config.baseUrl}/search?q={title}" } }))).toBe(true)
    const full = manifest({
      webLinks: {
        searchUrlTemplate: "https://mangabaka.org/search?q={title}",
        seriesLinks: [
          { source: "mangabaka", urlTemplate: "https://mangabaka.org/{externalId}" },
          { source: "myanimelist", urlTemplate: "https://myanimelist.net/manga/{externalId}" }
        ]
      }
    })
    expect(hasWebLinks(full) ? full.capabilities.webLinks.seriesLinks?.map((l) => l.source) : undefined).toEqual(["mangabaka", "myanimelist"])
    const both = manifest({ metadataProvider: ["series", "book"] })
    expect([hasSeriesMetadataProvider(both), hasBookMetadataProvider(both)]).toEqual([true, true])
    const series = manifest({ metadataProvider: ["series"] })
    expect([hasSeriesMetadataProvider(series), hasBookMetadataProvider(series)]).toEqual([true, false])
    expect([hasSeriesMetadataProvider(manifest({})), hasBookMetadataProvider(manifest({}))]).toEqual([false, false])
  })

  it("`plugin-ledger/sdk` resolves through package.json exports to the SDK", async () => {
    const sdk = await import("plugin-ledger/sdk")
    expect(typeof sdk.createMetadataPlugin).toBe("function")
    expect(typeof sdk.createSyncPlugin).toBe("function")
    expect(typeof sdk.createRecommendationPlugin).toBe("function")
    expect(new sdk.RateLimitedError(1).code).toBe(-32001)
    expect(typeof sdk.hasWebLinks).toBe("function")
    // the built bundle (npm install / npm test build it), so the export also works from node_modules, where Node
    // does not strip TypeScript types
    expect(import.meta.resolve("plugin-ledger/sdk")).toMatch(/\/dist\/sdk\/sdk\.mjs$/)
  })
})
