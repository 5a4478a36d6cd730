/**
 * metadata-echo as a child process: each metadata method, parameter checks, error codes, storage round trips.
 * Conformance cases checked here: 71 sdk_param_validation_messages (on the wire), 6-10 error_*_maps and
 * 11 error_code_constants (the plugin side of each code: what the host maps from), 81
 * host_match_result_shape_mismatch (SDK match answers a bare SearchResult or null, which the host accepts),
 * 74 sdk_storage_out_of_order (over stdio), 75 sdk_storage_error_and_cancel (a host storage error reaches the
 * handler), 79 sdk_lifecycle (onInitialize gets the storage client: the counter survives a restart).
 */
import { describe, expect, it } from "vitest"
import { FakeHostStore, METADATA_ECHO, PluginWire } from "./PluginWire.ts"

const started = async (adminConfig: Record<string, unknown> = {}, store?: FakeHostStore) => {
  const wire = new PluginWire(METADATA_ECHO, store === undefined ? {} : { store })
  await wire.initialize({ adminConfig })
  return wire
}

describe("metadata-echo methods", () => {
  it("series and book search/get/match answer the protocol shapes", async () => {
    const wire = await started()
    expect(await wire.call("metadata/series/search", { query: "One Piece", limit: 5 })).toEqual({
      results: [
        {
          externalId: "echo-One%20Piece",
          title: "One Piece",
          alternateTitles: ["One Piece (echo)"],
          relevanceScore: 1,
          preview: { description: "search #1", genres: [], authors: [] }
        }
      ]
    })
    expect(await wire.call("metadata/series/get", { externalId: "echo-One%20Piece" })).toEqual({
      externalId: "echo-One%20Piece",
      externalUrl: "https://echo.invalid/series/echo-One%2520Piece",
      title: "One Piece",
      summary: "Echo of series echo-One%20Piece"
    })
    // The host reads Option<SearchResult>: a bare result (externalId at the top) or null, never {match, ...}.
    const match = await wire.call("metadata/series/match", { title: "One Piece", year: 1997 })
    expect(match).toHaveProperty("externalId", "echo-One%20Piece")
    expect(match).not.toHaveProperty("match")
    expect(await wire.call("metadata/series/match", { title: "missing thing" })).toBeNull()
    expect(await wire.call("metadata/book/search", { isbn: "9780000000000" })).toMatchObject({ results: [{ title: "isbn:9780000000000" }] })
    expect(await wire.call("metadata/book/get", { externalId: "b-1" })).toMatchObject({ externalId: "b-1", externalUrl: expect.any(String) })
    // No book match handler: the capability covers it, the plugin does not.
    expect((await wire.request("metadata/book/match", { title: "x", authors: [] }))["error"]).toEqual({
      code: -32601,
      message: "This plugin does not support book match"
    })
    await wire.kill()
  })

  it("parameter checks answer -32602 'Invalid params: <message>' with data {field}", async () => {
    const wire = await started()
    const cases: ReadonlyArray<readonly [string, unknown, string, string]> = [
      ["metadata/series/search", null, "params", "params is required"],
      ["metadata/series/search", "string", "params", "params must be an object"],
      ["metadata/series/search", {}, "query", "query is required"],
      ["metadata/series/search", { query: 123 }, "query", "query must be a string"],
      ["metadata/series/search", { query: "  " }, "query", "query cannot be empty"],
      ["metadata/series/search", { query: "x", limit: "5" }, "limit", "limit must be a number"],
      ["metadata/series/get", {}, "externalId", "externalId is required"],
      ["metadata/series/match", { year: 2000 }, "title", "title is required"],
      ["metadata/book/search", { author: "x" }, "isbn", "either isbn or query is required"],
      ["metadata/book/get", { externalId: "" }, "externalId", "externalId cannot be empty"]
    ]
    for (const [method, params, field, message] of cases) {
      const response = await wire.request(method, params)
      expect(response["error"], `${method} ${JSON.stringify(params)}`).toEqual({ code: -32602, message: `Invalid params: ${message}`, data: { field } })
    }
    // Nothing was stored by the refused calls.
    expect(wire.store.calls).toEqual([])
    await wire.kill()
  })

  it("handler errors keep their protocol codes; other throws are -32603 with their message", async () => {
    const expected: ReadonlyArray<readonly [string, unknown]> = [
      ["rate-limit", { code: -32001, message: "Rate limited, retry after 42s", data: { retryAfterSeconds: 42 } }],
      ["auth", { code: -32003, message: "Authentication failed" }],
      ["api", { code: -32004, message: "Upstream answered 502", data: { statusCode: 502 } }],
      ["config", { code: -32005, message: "apiKey is required" }],
      ["crash", { code: -32603, message: "echo crashed on purpose" }]
    ]
    for (const [failWith, error] of expected) {
      const wire = await started({ failWith })
      expect((await wire.request("metadata/series/search", { query: "x" }))["error"], failWith).toEqual(error)
      expect(await wire.call("ping")).toBe("pong")
      await wire.kill()
      if (failWith === "crash") expect(wire.stderr).toContain("[ERROR] [metadata-echo] metadata/series/search failed - Error: echo crashed on purpose")
    }
    const wire = await started()
    expect((await wire.request("metadata/series/get", { externalId: "missing-7" }))["error"]).toEqual({ code: -32002, message: "No series missing-7" })
    await wire.kill()
  })
})

describe("metadata-echo storage", () => {
  it("keeps its counter in host storage across restarts of the process", async () => {
    const store = new FakeHostStore()
    const first = await started({}, store)
    await first.call("metadata/series/search", { query: "a" })
    await first.call("metadata/series/search", { query: "b" })
    await first.call("shutdown")
    await first.exit
    const second = await started({}, store)
    expect(await second.call("metadata/series/search", { query: "c" })).toMatchObject({ results: [{ preview: { description: "search #3" } }] })
    expect(store.values.get("searchCount")?.data).toBe(3)
    // The plugin's own requests: ids 1, 2, ... per process, `storage/get` then `storage/set` per search.
    const ids = second.pluginRequests.map((m) => [m["id"], m["method"], m["params"]])
    expect(ids).toEqual([
      [1, "storage/get", { key: "searchCount" }],
      [2, "storage/set", { key: "searchCount", data: 3 }]
    ])
    await second.kill()
  })

  it("matches storage answers that arrive out of order to their own requests", async () => {
    const held: Array<Record<string, unknown>> = []
    const wire = new PluginWire(METADATA_ECHO, {
      onPluginRequest: (message) => {
        if (message["method"] !== "storage/get") return false
        held.push(message)
        return true
      }
    })
    await wire.initialize()
    const a = wire.request("metadata/series/search", { query: "a" })
    const b = wire.request("metadata/series/search", { query: "b" })
    await wire.waitFor(() => held.length === 2)
    const [first, second] = held
    wire.reply(second?.["id"], { result: { data: 20 } })
    wire.reply(first?.["id"], { result: { data: 10 } })
    const [ra, rb] = await Promise.all([a, b])
    expect(ra["result"]).toMatchObject({ results: [{ title: "a", preview: { description: "search #11" } }] })
    expect(rb["result"]).toMatchObject({ results: [{ title: "b", preview: { description: "search #21" } }] })
    await wire.kill()
  })

  it("a storage error from the host fails that call only; answers to unknown ids are ignored", async () => {
    const wire = new PluginWire(METADATA_ECHO, {
      onPluginRequest: (message, w) => {
        if (message["method"] !== "storage/set") return false
        w.reply(message["id"], { error: { code: -32602, message: "Storage key limit exceeded (max 100 keys)" } })
        return true
      }
    })
    await wire.initialize()
    expect((await wire.request("metadata/series/search", { query: "a" }))["error"]).toEqual({
      code: -32603,
      message: "Storage key limit exceeded (max 100 keys)"
    })
    wire.reply(999, { result: { data: 1 } })
    wire.send(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32603, message: "x" } }))
    expect(await wire.call("ping")).toBe("pong")
    await wire.waitFor(() => wire.stderr.includes("Response for unknown request id 999"))
    await wire.kill()
  })
})
