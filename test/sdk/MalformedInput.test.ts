/**
 * Malformed stdin lines never crash an SDK plugin: fixed nasty cases, then seeded random garbage (the seed is
 * printed; re-run with SEED=<n>). After each batch the plugin still answers, and every stdout line is JSON-RPC.
 */
import { describe, expect, it } from "vitest"
import { allProtocolLines, METADATA_ECHO, PluginWire, SYNC_ECHO } from "./PluginWire.ts"

const FIXED: ReadonlyArray<string | Buffer> = [
  "",
  "   ",
  "null",
  "42",
  '"text"',
  "[]",
  '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
  "{}",
  '{"jsonrpc":"2.0"}',
  '{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}',
  '{"jsonrpc":"2.0","id":5,"method":7}',
  '{"jsonrpc":"2.0","id":6,"method":"metadata/series/search","params":[1,2]}',
  '{"jsonrpc":"2.0","id":7,"method":"sync/pushProgress","params":{"entries":null}}',
  '{"jsonrpc":"2.0","id":8,"result":{"data":1}}',
  '{"jsonrpc":"2.0","method":"metadata/series/get","params":{"externalId":"n"}}',
  '{"jsonrpc":"2.0","id":9,"method":"__proto__"}',
  '{"jsonrpc":"2.0","id":10,"method":"constructor"}',
  "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ping\"", // truncated
  Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0xc3]),
  "x".repeat(2_000_000),
  `{"jsonrpc":"2.0","id":12,"method":"metadata/series/search","params":{"query":"${"q".repeat(300_000)}"}}`
]

/** mulberry32: small, seedable, good enough to vary garbage. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const PIECES = ['{"jsonrpc":"2.0"', '"id":', "1", "null", '"method":', '"ping"', '"initialize"', '"sync/pullProgress"', '"params":', "{", "}", "[", "]", ",", ":", '"', "\\", "\u0000", "é", "🙂", "true", "-1e999"]

const garbage = (next: () => number): string => {
  const count = 1 + Math.floor(next() * 30)
  let line = ""
  for (let i = 0; i < count; i++) line += PIECES[Math.floor(next() * PIECES.length)] ?? ""
  return line.replace(/\n/g, "")
}

describe("oversize answers", () => {
  it("a result over the host's 1 MiB line limit becomes a -32603 error line instead of a line the host would drop", async () => {
    const wire = new PluginWire(METADATA_ECHO)
    await wire.initialize()
    const response = await wire.request("metadata/series/search", { query: "q".repeat(400_000) })
    expect(response["error"]).toEqual({ code: -32603, message: expect.stringMatching(/^Response too large \(\d+ bytes, max 1048576\)$/) })
    expect(Math.max(...wire.stdout.map((line) => Buffer.byteLength(line)))).toBeLessThan(1_048_576)
    expect(await wire.call("ping")).toBe("pong")
    await wire.kill()
  })
})

describe.each([METADATA_ECHO, SYNC_ECHO])("malformed input to %s", (script) => {
  it("fixed cases: no crash, an answer to what has an id, ping still answered", async () => {
    const wire = new PluginWire(script)
    await wire.initialize()
    for (const line of FIXED) wire.send(line)
    expect(await wire.call("ping")).toBe("pong")
    expect(wire.hasExited).toBe(false)
    expect(allProtocolLines(wire.stdout)).toBe(true)
    // The parse errors carry id null; requests with a usable id got their own answers.
    expect(wire.unmatched.some((m) => (m["error"] as { code?: number } | undefined)?.code === -32700)).toBe(true)
    const answered = () => wire.stdout.map((line) => JSON.parse(line)["id"])
    for (const id of [5, 6, 7, 9, 10, 12]) await wire.waitFor(() => answered().includes(id))
    await wire.kill()
  })

  it("seeded random garbage", async () => {
    const seed = process.env["SEED"] === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env["SEED"])
    console.log(`MalformedInput seed=${seed} (re-run with SEED=${seed})`)
    const next = random(seed)
    const wire = new PluginWire(script)
    await wire.initialize()
    for (let i = 0; i < 300; i++) wire.send(garbage(next))
    expect(await wire.call("ping"), `seed ${seed}`).toBe("pong")
    expect(wire.hasExited, `seed ${seed}`).toBe(false)
    expect(allProtocolLines(wire.stdout), `seed ${seed}`).toBe(true)
    await wire.kill()
  })
})
