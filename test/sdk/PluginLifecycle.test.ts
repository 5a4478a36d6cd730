/**
 * Lifecycle of the three example plugins as real child processes, driven with raw JSON-RPC lines.
 * Conformance cases of process-conformance.json checked here:
 *  - 36 manifest_minimal / 38 manifest_empty_capabilities (the manifest each plugin answers has the host's
 *    required fields, a 1.x protocolVersion and the capability its factory declares),
 *  - 48 initialize_params_empty (initialize with `{}` and with no params at all succeeds),
 *  - 47 initialize_params_split_config (adminConfig/userConfig/credentials reach onInitialize and handlers),
 *  - 78 sdk_unknown_method_and_parse_error, 79 sdk_lifecycle, 77 sdk_logger_levels (stderr only, level from
 *    initialize's logLevel).
 */
import { describe, expect, it } from "vitest"
import { allProtocolLines, METADATA_ECHO, PluginWire, RECOMMENDATIONS_ECHO, SYNC_ECHO } from "./PluginWire.ts"

const EXAMPLES = [
  { script: METADATA_ECHO, name: "metadata-echo", capability: { metadataProvider: ["series", "book"] } },
  { script: SYNC_ECHO, name: "sync-echo", capability: { userReadSync: true, externalIdSource: "api:echo" } },
  { script: RECOMMENDATIONS_ECHO, name: "recommendations-echo", capability: { userRecommendationProvider: true } }
] as const

describe.each(EXAMPLES)("$name lifecycle", ({ script, name, capability }) => {
  it("initialize answers a valid manifest; ping; unknown method; parse error; shutdown exits 0 after its reply", async () => {
    const wire = new PluginWire(script)
    const initialize = await wire.request("initialize", { adminConfig: {}, logLevel: "debug" })
    const manifest = initialize["result"]
    expect(manifest).toMatchObject({ name, displayName: expect.any(String), version: "1.0.0", capabilities: capability })
    expect(manifest).toHaveProperty("protocolVersion", expect.stringMatching(/^1\.\d+$/))

    expect(await wire.request("ping")).toEqual({ jsonrpc: "2.0", id: 2, result: "pong" })
    expect(await wire.requestRaw(9, JSON.stringify({ jsonrpc: "2.0", id: 9, method: "nope/x" }))).toEqual({
      jsonrpc: "2.0",
      id: 9,
      error: { code: -32601, message: "Method not found: nope/x" }
    })
    wire.send("{not json")
    await wire.waitFor(() => wire.unmatched.length === 1)
    expect(wire.unmatched[0]).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error: invalid JSON" } })

    expect(await wire.request("shutdown")).toEqual({ jsonrpc: "2.0", id: 3, result: null })
    expect(await wire.exit).toEqual({ code: 0, signal: null })
    expect(allProtocolLines(wire.stdout)).toBe(true)
    // logLevel "debug" from initialize reached the SDK logger, whose lines go to stderr with the host's tags.
    expect(wire.stderr).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[^ ]+ \\[DEBUG\\] \\[${name}\\] shutdown requested$`, "m"))
  })

  it("initialize without params and with {} both work; at the default level debug lines are not written", async () => {
    const wire = new PluginWire(script)
    const bare = await wire.requestRaw(1, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize" }))
    expect(bare["result"]).toMatchObject({ name })
    expect(await wire.call("initialize", {})).toMatchObject({ name })
    expect(await wire.call("shutdown")).toBeNull()
    await wire.exit
    expect(wire.stderr).not.toContain("[DEBUG]")
  })

  it("exits 0 when stdin closes", async () => {
    const wire = new PluginWire(script)
    await wire.initialize()
    wire.endInput()
    expect(await wire.exit).toEqual({ code: 0, signal: null })
  })
})

describe("initialize params", () => {
  it("adminConfig, userConfig and credentials reach onInitialize and the handlers (split config)", async () => {
    const wire = new PluginWire(SYNC_ECHO)
    await wire.initialize({ adminConfig: { clientId: "abc" }, userConfig: { progressUnit: "chapters" }, credentials: { access_token: "secret" }, userId: "u-1" })
    // sync-echo's getUserInfo refuses without `credentials.access_token` and names the user from `userId`.
    expect(await wire.call("sync/getUserInfo", {})).toEqual({ externalId: "echo-user", username: "u-1" })
    const meta = new PluginWire(METADATA_ECHO)
    await meta.initialize({ adminConfig: { clientId: "abc", other: 1 } })
    await meta.call("shutdown")
    await meta.exit
    expect(meta.stderr).toContain("[INFO] [metadata-echo] initialized with admin config keys: clientId,other")
    expect(meta.stderr).not.toContain("secret")
    await wire.kill()
  })

  it("non-object initialize params are refused with -32602 and the plugin keeps serving", async () => {
    const wire = new PluginWire(METADATA_ECHO)
    const response = await wire.request("initialize", "nope")
    expect(response["error"]).toEqual({ code: -32602, message: "Invalid params: params must be an object", data: { field: "params" } })
    expect(await wire.call("ping")).toBe("pong")
    await wire.kill()
  })
})

describe("shutdown with calls in flight", () => {
  it("answers the running call before the shutdown reply, then exits 0", async () => {
    // Hold the plugin's storage request so a search stays in flight across the shutdown.
    let held: unknown
    const wire = new PluginWire(METADATA_ECHO, {
      onPluginRequest: (message) => {
        if (held !== undefined || message["method"] !== "storage/get") return false
        held = message["id"]
        return true
      }
    })
    await wire.initialize()
    const search = wire.request("metadata/series/search", { query: "Dune" })
    await wire.waitFor(() => held !== undefined)
    const shutdown = wire.request("shutdown")
    wire.reply(held, { result: { data: 41 } })
    const [searched, stopped] = await Promise.all([search, shutdown])
    expect(searched["result"]).toMatchObject({ results: [{ title: "Dune" }] })
    expect(stopped).toMatchObject({ result: null })
    // Responses in stdout order: initialize (1), the search (2), then shutdown (3).
    const order = wire.stdout.map((line) => JSON.parse(line)).filter((m) => m.method === undefined).map((m) => m.id)
    expect(order).toEqual([1, 2, 3])
    expect(await wire.exit).toEqual({ code: 0, signal: null })
  })
})
