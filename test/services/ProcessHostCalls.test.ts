/**
 * How the host runs calls, against real child processes (the hand-written fixture plugin), case by case from
 * process-conformance.json: 2 caller_deadline_overrides_default_timeout, 57 request_timeout_override,
 * 58 consecutive_failure_threshold, 60 token_bucket (the per-plugin rate limit, its settings and its error),
 * 45 legacy_total_book_count_ignored, 46 preview_without_format_still_parses, 81 host_match_result_shape_mismatch,
 * 93 storage_wire_shapes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { processLayer } from "../../src/cli/ProcessLayer.ts"
import { ProcessHost } from "../../src/services/ProcessHost.ts"
import { addFixture, baseOptions, FIXTURE, logRecords, origin, tempHome, withHost } from "../support/ProcessHostKit.ts"

const search = (host: ProcessHost["Service"], query: string, extra: { readonly name?: string; readonly timeoutSeconds?: number } = {}) =>
  host.call({ name: extra.name ?? "echo", method: "metadata/series/search", params: { query }, ...(extra.timeoutSeconds === undefined ? {} : { timeoutSeconds: extra.timeoutSeconds }) })

const pidOf = (host: ProcessHost["Service"]) =>
  host.call({ name: "echo", method: "metadata/series/get", params: { externalId: "x" } }).pipe(
    Effect.map((got) => Schema.decodeUnknownSync(Schema.Struct({ pid: Schema.Number }))(got).pid)
  )

describe("timeouts", () => {
  it.live("a call's own deadline overrides the plugin's (2); timeout 0 means the host's default, negatives are refused (57)", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host)
        assert.strictEqual((yield* host.status({ name: "echo" })).timeoutSeconds, 7, "none set: the host's default")
        const hung = yield* Effect.flip(search(host, "hang", { timeoutSeconds: 0.2 }))
        assert.strictEqual(hung._tag === "ProcessCallError" ? hung.kind : hung._tag, "Timeout")
        assert.strictEqual(hung.message, "process plugin `echo` did not answer `metadata/series/search` within 0.2 s")
        for (const bad of [0, -1, 4000]) assert.include((yield* Effect.flip(search(host, "x", { timeoutSeconds: bad }))).message, "a call's timeout must be")

        yield* host.configure({ name: "echo", timeoutSeconds: 12 }, origin)
        assert.strictEqual((yield* host.status({ name: "echo" })).timeoutSeconds, 12)
        yield* host.configure({ name: "echo", timeoutSeconds: 0 }, origin)
        assert.strictEqual((yield* host.status({ name: "echo" })).timeoutSeconds, 7, "0: back to the host's default")
        assert.include((yield* Effect.flip(host.configure({ name: "echo", timeoutSeconds: -5 }, origin))).message, "timeout must be between 0")
        const configured = logRecords(paths).filter((r) => r.type === "ProcessPluginConfigured").map((r) => r.data["timeoutSeconds"])
        assert.deepStrictEqual(configured, [12, 0])
      }), { ...baseOptions, requestTimeoutSeconds: 7 })
  }, 30_000)

  it.live("three calls in a row that time out or answer unusably replace the process (58); any answer resets the count", () => {
    const paths = tempHome()
    const hang = (host: ProcessHost["Service"]) => Effect.flip(search(host, "hang", { timeoutSeconds: 0.2 }))
    const invalid = (host: ProcessHost["Service"]) => Effect.flip(host.call({ name: "echo", method: "metadata/series/get", params: { externalId: "bad-status" } }))
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host)
        const first = yield* pidOf(host)
        yield* hang(host)
        yield* hang(host)
        assert.strictEqual(yield* pidOf(host), first, "two failures, then an answer: the same process")
        yield* hang(host)
        yield* hang(host)
        yield* Effect.flip(search(host, "error:-32002"))
        yield* hang(host)
        assert.strictEqual(yield* pidOf(host), first, "an error the plugin answered resets the count too")
        yield* hang(host)
        yield* invalid(host)
        yield* hang(host)
        const second = yield* pidOf(host)
        assert.notStrictEqual(second, first, "the third failure in a row ended the process; the next call started a new one")
        // not a spawn/initialize failure: nothing recorded, nothing counted toward the auto-disable
        assert.strictEqual((yield* host.status({ name: "echo" })).recentFailures, 0)
      }))
  }, 30_000)
})

describe("rate limit", () => {
  it.live("per plugin: calls over the limit fail with -32001 and retryAfterSeconds before reaching the plugin; configurable, 0 = none (60)", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* host.add({ name: "echo", command: "node", args: [FIXTURE, "echo"], env: {}, cwd: null, rateLimitPerMinute: 3 }, origin)
        yield* addFixture(host, "other")
        for (let i = 0; i < 3; i++) yield* search(host, `q${i}`)
        const limited = yield* Effect.flip(search(host, "q3"))
        assert.strictEqual(limited._tag, "ProcessCallError")
        if (limited._tag !== "ProcessCallError") return
        assert.strictEqual(limited.kind, "RateLimited")
        assert.strictEqual(limited.code, -32001)
        assert.isAtLeast(limited.retryAfterSeconds ?? 0, 1)
        assert.isAtMost(limited.retryAfterSeconds ?? 0, 20)
        assert.include(limited.message, "Rate limit exceeded for process plugin `echo`: 3 requests/minute")
        // users share the plugin's bucket; other plugins have their own (the host's default here: 5)
        assert.strictEqual((yield* Effect.flip(host.call({ name: "echo", method: "metadata/series/search", params: { query: "u" }, userId: "u1" })))._tag, "ProcessCallError")
        for (let i = 0; i < 5; i++) yield* search(host, `o${i}`, { name: "other" })
        assert.include((yield* Effect.flip(search(host, "o5", { name: "other" }))).message, "5 requests/minute")

        yield* host.configure({ name: "echo", rateLimitPerMinute: 0 }, origin)
        for (let i = 0; i < 20; i++) yield* search(host, `free${i}`)
        const view = yield* host.status({ name: "echo" })
        assert.strictEqual(view.rateLimitPerMinute, 0)
        assert.strictEqual((yield* host.status({ name: "other" })).rateLimitPerMinute, 5)
        const events = logRecords(paths).filter((r) => r.data["processPlugin"] === "echo" && r.type.startsWith("ProcessPlugin"))
        assert.deepStrictEqual(events.map((r) => [r.type, r.data["rateLimitPerMinute"]]), [["ProcessPluginAdded", 3], ["ProcessPluginConfigured", 0]])
        assert.include((yield* Effect.flip(host.configure({ name: "echo", rateLimitPerMinute: 1.5 }, origin))).message, "rate limit must be a whole number")
      }), { ...baseOptions, rateLimitPerMinute: 5 })
  }, 30_000)

  it.live("the default comes from PLUGIN_LEDGER_PROCESS_RATE_LIMIT; a bad value stops the host with the variable named", () => {
    const paths = tempHome()
    return Effect.gen(function*() {
      yield* withHost(paths, (host) =>
        Effect.gen(function*() {
          yield* addFixture(host)
          assert.strictEqual((yield* host.status({ name: "echo" })).rateLimitPerMinute, 2)
          yield* search(host, "a")
          yield* search(host, "b")
          assert.strictEqual((yield* Effect.flip(search(host, "c")))._tag, "ProcessCallError")
        }), { ...baseOptions, env: { ...baseOptions.env, PLUGIN_LEDGER_PROCESS_RATE_LIMIT: "2" } })
      const bad = yield* Effect.flip(Effect.gen(function*() {
        return yield* ProcessHost
      }).pipe(
        Effect.provide(processLayer(paths, { ...baseOptions, env: { ...baseOptions.env, PLUGIN_LEDGER_PROCESS_RATE_LIMIT: "lots" } })),
        Effect.scoped
      ))
      assert.strictEqual(bad._tag, "EngineError")
      assert.strictEqual(bad.message, "PLUGIN_LEDGER_PROCESS_RATE_LIMIT must be a whole number of calls per minute >= 0, got `lots`")
    })
  }, 30_000)
})

describe("results", () => {
  it.live("checked against the method's shape and handed on as sent: legacy fields (45), old previews (46), the SDK's match shape (81)", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host)
        const get = (externalId: string) => host.call({ name: "echo", method: "metadata/series/get", params: { externalId } })
        const match = (title: string) => host.call({ name: "echo", method: "metadata/series/match", params: { title } })
        assert.deepStrictEqual(yield* get("legacy"), { externalId: "old-1", externalUrl: "https://example.com/old-1", totalBookCount: 14 })
        const old = yield* search(host, "preview-old")
        assert.deepStrictEqual(old, { results: [{ externalId: "p-1", title: "Old", alternateTitles: [], preview: { status: "ongoing", genres: [], bookCount: 14 } }] })
        const hit = { externalId: "match-one-piece", title: "One Piece", alternateTitles: [], relevanceScore: 0.9 }
        assert.deepStrictEqual(yield* match("One Piece"), hit)
        assert.isNull(yield* match("none"))
        assert.deepStrictEqual(yield* match("sdk-shape"), { match: { ...hit, title: "sdk-shape" }, confidence: 0.85, alternatives: [] })

        for (const [call, field] of [[get("bad-status"), "status"], [get("no-url"), "externalUrl"], [match("bad"), "externalId"]] as const) {
          const error = yield* Effect.flip(call)
          assert.strictEqual(error._tag === "ProcessCallError" ? error.kind : error._tag, "InvalidResponse")
          assert.include(error.message, "with an invalid result")
          assert.include(error.message, field)
        }
      }))
  }, 30_000)
})

describe("storage wire shapes (93)", () => {
  it.live("list entries carry key and updatedAt, expiresAt only when set; a missing get is exactly {data: null}; clear counts", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host)
        const ops = (list: ReadonlyArray<readonly [string, unknown]>) =>
          host.call({ name: "echo", method: "sync/pushProgress", params: { ops: list }, userId: "w" }).pipe(
            Effect.map((r) => (r as { storage: ReadonlyArray<{ result?: unknown }> }).storage.map((a) => a.result))
          )
        const [missing] = yield* ops([["storage/get", { key: "nothing" }]])
        assert.deepStrictEqual(missing, { data: null })
        yield* ops([
          ["storage/set", { key: "plain", data: 1 }],
          ["storage/set", { key: "timed", data: 2, expiresAt: "2099-01-01T00:00:00Z" }],
          ...[1, 2, 3].map((i) => ["storage/set", { key: `k${i}`, data: i }] as const)
        ])
        const [listed] = yield* ops([["storage/list", {}]])
        const keys = (listed as { keys: ReadonlyArray<Record<string, unknown>> }).keys
        assert.deepStrictEqual(keys.map((k) => Object.keys(k).sort()), [["key", "updatedAt"], ["key", "updatedAt"], ["key", "updatedAt"], ["key", "updatedAt"], ["expiresAt", "key", "updatedAt"]])
        assert.deepStrictEqual(keys.map((k) => k["key"]), ["k1", "k2", "k3", "plain", "timed"])
        assert.deepStrictEqual(yield* ops([["storage/get", { key: "plain" }], ["storage/clear", {}]]), [{ data: 1 }, { deletedCount: 5 }])
      }))
  }, 30_000)
})
