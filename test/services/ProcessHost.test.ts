/**
 * The process-plugin host against real child processes (test/fixtures/process-plugins/raw-plugin.mjs, a plugin
 * written by hand against the protocol) in real temp CODEX_HOMEs; assertions read the log file and the files on disk.
 *
 * Conformance cases of process-conformance.json covered here: error_not_found_maps (6),
 * error_rate_limited_maps_with_retry_after (7), error_auth_failed_maps (8), error_api_error_maps (9),
 * error_config_error_maps (10), unknown_reverse_method (15), storage_get_missing (18), storage_set_then_get (19),
 * storage_set_with_ttl (20), storage_set_bad_timestamp (21), storage_delete (22), storage_list_sorted (23),
 * storage_clear (24), storage_missing_params (25), storage_invalid_params (26), storage_isolation_between_connections
 * (28), storage_upsert (29), storage_reply_echoes_id (30, via the SDK-less fixture's ids), storage_value_too_large (31,
 * over stdio: 1 MB decimal fits a 1 MiB line), storage_key_limit (32), storage_upsert_at_key_limit (33),
 * storage_expired_get_deletes (35), manifest_minimal (36), command_allowlist (51), env_blocklist (52),
 * failure_window_count (59, as the auto-disable), host_crash_mid_request (82), host_garbage_and_oversize_stdout (83:
 * dropped with a warning; the oversize answer's caller fails at once instead of timing out).
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { KEY_ENV } from "../../src/adapters/CredentialCipher.ts"
import type { ProcessHost } from "../../src/services/ProcessHost.ts"
import { addFixture as addEcho, baseOptions, FIXTURE, logRecords, logText, origin, tempHome, withHost } from "../support/ProcessHostKit.ts"

const search = (host: ProcessHost["Service"], query: string, name = "echo", userId?: string) =>
  host.call({ name, method: "metadata/series/search", params: { query }, ...(userId === undefined ? {} : { userId }) })

const SearchResult = Schema.Struct({ results: Schema.Array(Schema.Struct({ title: Schema.String })) })
const firstTitle = (result: unknown): string | undefined => Schema.decodeUnknownSync(SearchResult)(result).results[0]?.title

const failureOf = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

describe("ProcessHost registration", () => {
  it.live("records add/configure/enable/disable/remove with causes; refuses what the allowlist and rules forbid", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        const refusals: Array<[string, Effect.Effect<unknown, { readonly message: string }>]> = [
          ["not in the plugin allowlist", host.add({ name: "a", command: "bash", args: [], env: {}, cwd: null }, origin)],
          ["not in the plugin allowlist", host.add({ name: "a", command: "./x.js", args: [], env: {}, cwd: null }, origin)],
          ["not under an allowed plugin folder", host.add({ name: "a", command: "/bin/sh", args: [], env: {}, cwd: null }, origin)],
          ["does not exist", host.add({ name: "a", command: "/nonexistent/plugin", args: [], env: {}, cwd: null }, origin)],
          ["invalid process plugin name", host.add({ name: "Bad_Name", command: "node", args: [], env: {}, cwd: null }, origin)],
          ["may not be set", host.add({ name: "a", command: "node", args: [], env: { path: "/x" }, cwd: null }, origin)],
          ["may not be set", host.add({ name: "a", command: "node", args: [], env: { LD_PRELOAD: "/x" }, cwd: null }, origin)],
          ["not registered", host.setEnabled({ name: "ghost", enabled: true }, origin)]
        ]
        for (const [text, effect] of refusals) {
          const error = yield* failureOf(effect)
          assert.include(error.message, text)
        }
        assert.deepStrictEqual(yield* host.list, [])
        // an absolute path whose real path is under an allowed folder is accepted; a symlink out of it is not
        const folder = Path.join(paths.codexHome, "process-plugins")
        NodeFs.mkdirSync(folder, { recursive: true })
        NodeFs.symlinkSync("/bin/sh", Path.join(folder, "escape"))
        assert.include((yield* failureOf(host.add({ name: "esc", command: Path.join(folder, "escape"), args: [], env: {}, cwd: null }, origin))).message, "resolves to")
        NodeFs.copyFileSync(FIXTURE, Path.join(folder, "p.mjs"))
        yield* host.add({ name: "inside", command: Path.join(folder, "p.mjs"), args: [], env: {}, cwd: null }, origin)

        const added = yield* addEcho(host, "echo", "echo", { API_TOKEN: "tok-123-secret", REGION: "eu" })
        assert.isTrue(added.changed)
        assert.include((yield* failureOf(addEcho(host))).message, "already registered")
        yield* host.configure({ name: "echo", adminConfig: { maxResults: 5 }, userConfig: { userId: "u1", config: { unit: "chapters" } }, timeoutSeconds: 12 }, origin)
        assert.isTrue((yield* host.setEnabled({ name: "echo", enabled: false }, origin)).changed)
        assert.isFalse((yield* host.setEnabled({ name: "echo", enabled: false }, origin)).changed)
        yield* host.setEnabled({ name: "echo", enabled: true }, origin)
        const [echo, inside] = yield* host.list
        assert.strictEqual(inside?.name, "inside")
        assert.deepStrictEqual(echo?.envKeys, ["API_TOKEN", "REGION"])
        assert.strictEqual(echo?.timeoutSeconds, 12)
        assert.deepStrictEqual(echo?.userIds, ["u1"])
        yield* host.remove({ name: "inside" }, origin)
        assert.deepStrictEqual((yield* host.list).map((p) => p.name), ["echo"])

        const records = logRecords(paths).filter((r) => r.type.startsWith("Process"))
        assert.deepStrictEqual(records.map((r) => r.type), [
          "ProcessPluginAdded", "ProcessPluginAdded", "ProcessPluginConfigured", "ProcessPluginDisabled", "ProcessPluginEnabled", "ProcessPluginRemoved"
        ])
        const echoAdded = records[1]?.data
        assert.deepStrictEqual(echoAdded?.["env"], { REGION: "eu" })
        assert.deepStrictEqual(echoAdded?.["secretEnvKeys"], ["API_TOKEN"])
        assert.deepStrictEqual(records[3]?.data["cause"], { actor: "cli", requestId: "r1", client: "test" })
        assert.notInclude(logText(paths), "tok-123-secret")
      }))
  })
})

describe("ProcessHost calls", () => {
  it.live("routes calls, multiplexes them on one process, maps error codes, passes only the explicit env and credentials", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addEcho(host, "echo", "echo", { API_TOKEN: "tok-123-secret", REGION: "eu" })
        yield* host.setCredentials({ name: "echo", credentials: { api_key: "cred-456-secret" } }, origin)
        yield* host.configure({ name: "echo", adminConfig: { maxResults: 5 } }, origin)
        assert.deepStrictEqual(yield* search(host, "one"), { results: [{ externalId: "e-one", title: "one", alternateTitles: [] }] })

        // 20 calls at once, answered in reverse order of sending, all on one process
        const many = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => search(host, `sleep:${(20 - i) * 10}`)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(many.length, 20)
        const status = yield* host.status({ name: "echo" })
        assert.strictEqual(status.instances.length, 1)

        const got = yield* host.call({ name: "echo", method: "metadata/series/get", params: { externalId: "x" } })
        const seen = got as { init: Record<string, unknown>; env: Record<string, string> }
        assert.deepStrictEqual(Object.keys(seen.env).sort(), ["API_TOKEN", "PATH", "REGION"])
        assert.strictEqual(seen.env["API_TOKEN"], "tok-123-secret")
        assert.deepStrictEqual(seen.init["credentials"], { api_key: "cred-456-secret" })
        assert.deepStrictEqual(seen.init["adminConfig"], { maxResults: 5 })
        assert.notProperty(seen.init, "userConfig")

        const codes = [[-32001, "RateLimited"], [-32002, "NotFound"], [-32003, "AuthFailed"], [-32004, "ApiError"], [-32005, "ConfigError"], [-32602, "PluginError"]] as const
        for (const [code, kind] of codes) {
          const error = yield* failureOf(search(host, `error:${code}`))
          assert.strictEqual(error._tag, "ProcessCallError")
          if (error._tag !== "ProcessCallError") continue
          assert.strictEqual(error.kind, kind)
          assert.strictEqual(error.code, code)
          if (code === -32001) assert.strictEqual(error.retryAfterSeconds, 60)
        }
        const limited = yield* failureOf(search(host, "error:-32001:120"))
        assert.deepStrictEqual(limited._tag === "ProcessCallError" ? [limited.retryAfterSeconds, limited.data] : [], [120, { retryAfterSeconds: 120 }])
        assert.include((yield* failureOf(host.call({ name: "echo", method: "recommendations/get", params: {} }))).message, "does not declare the capability")
        assert.include((yield* failureOf(host.call({ name: "echo", method: "releases/poll", params: {} }))).message, "not a method the host routes")
        // a reverse call the host does not know (conformance 15)
        const reverse = yield* host.call({ name: "echo", method: "sync/pushProgress", params: { ops: [["frobnicate/zap", {}]] } })
        assert.deepStrictEqual((reverse as { storage: unknown }).storage, [{ error: { code: -32601, message: "unknown method `frobnicate/zap` (no permission mapping)" } }])

        // at rest: sealed, 0600, never in clear; and not in the log
        const sealed = NodeFs.readFileSync(Path.join(paths.ledgerDir, "process-credentials", "echo.sealed.json"), "utf8")
        assert.notInclude(sealed, "cred-456-secret")
        assert.notInclude(sealed, "tok-123-secret")
        assert.strictEqual(NodeFs.statSync(Path.join(paths.ledgerDir, "process-credentials", "echo.sealed.json")).mode & 0o777, 0o600)
        assert.notInclude(logText(paths), "cred-456-secret")
        const credentialsSet = logRecords(paths).find((r) => r.type === "ProcessPluginCredentialsSet")
        assert.deepStrictEqual(credentialsSet?.data["keys"], ["api_key"])
      }))
  })

  it.live("faults: crash mid-request, hang, garbage, stderr flood, oversize answer; the host keeps serving", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addEcho(host)
        yield* host.configure({ name: "echo", timeoutSeconds: 1 }, origin)
        yield* search(host, "warm")
        const pid = (yield* host.status({ name: "echo" })).instances[0]?.pid
        // a crash fails the pending call and the one made alongside it, clearly
        const [crashed, alongside] = yield* Effect.all([failureOf(search(host, "crash")), failureOf(search(host, "sleep:500"))], { concurrency: "unbounded" })
        assert.match(crashed.message, /exited \(code 3\) while `metadata\/series\/search` was pending/)
        assert.match(alongside.message, /exited \(code 3\)/)
        // the next call starts a new process
        assert.deepStrictEqual(yield* search(host, "after"), { results: [{ externalId: "e-after", title: "after", alternateTitles: [] }] })
        assert.notStrictEqual((yield* host.status({ name: "echo" })).instances[0]?.pid, pid)

        const hung = yield* failureOf(search(host, "hang"))
        assert.include(hung.message, "did not answer `metadata/series/search` within 1 s")
        assert.deepStrictEqual(firstTitle(yield* search(host, "garbage")), "garbage")
        assert.deepStrictEqual(firstTitle(yield* search(host, "flood")), "flood")
        const started = Date.now()
        const oversize = yield* failureOf(search(host, "oversize"))
        assert.include(oversize.message, "over the 1048576-byte line limit")
        assert.isBelow(Date.now() - started, 900, "the oversize answer fails at once, not by timeout")
        assert.strictEqual(firstTitle(yield* search(host, "still")), "still")
      }))
  }, 30_000)

  it.live("spawn/initialize failures: bad manifests refused; three failures within the hour auto-disable, recorded", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        for (const [mode, text] of [
          ["bad-manifest-missing", "displayName"],
          ["bad-manifest-capability", "[\"capabilities\"][\"metadataProvider\"]"],
          ["bad-manifest-protocol", "is not a 1.x version"],
          ["bad-manifest-string", "invalid manifest"]
        ] as const) {
          yield* addEcho(host, mode, mode)
          const error = yield* failureOf(search(host, "x", mode))
          assert.include(error.message, text, error.message)
        }
        yield* addEcho(host, "dies", "exit-on-init")
        for (let i = 0; i < 3; i++) {
          const error = yield* failureOf(search(host, "x", "dies"))
          assert.include(error.message, "failed to start (initialize)")
        }
        const disabled = yield* failureOf(search(host, "x", "dies"))
        assert.include(disabled.message, "is disabled (auto-disabled after 3 spawn/initialize failures within 1 hour)")
        const events = logRecords(paths).filter((r) => r.data["processPlugin"] === "dies")
        assert.deepStrictEqual(events.map((r) => r.type), ["ProcessPluginAdded", "ProcessPluginFailed", "ProcessPluginFailed", "ProcessPluginFailed", "ProcessPluginDisabled"])
        assert.deepStrictEqual(events[4]?.data["cause"], { actor: "host" })
        // enabling again starts a fresh window
        yield* host.setEnabled({ name: "dies", enabled: true }, origin)
        assert.strictEqual((yield* host.status({ name: "dies" })).recentFailures, 0)
      }))
  }, 30_000)

  it.live("records ManifestObserved once per distinct manifest; a restart after a crash waits for the backoff", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addEcho(host)
        yield* search(host, "a")
        yield* failureOf(search(host, "crash"))
        const before = Date.now()
        yield* search(host, "b") // same manifest: nothing recorded; waited for the backoff of 50 ms
        yield* failureOf(search(host, "crash"))
        yield* search(host, "c") // second consecutive crash: 100 ms
        // each backoff runs from its crash's detection, a little before `before` for the first one: only the second
        // one (100 ms, detected after `before`) is a strict lower bound, whatever the load
        assert.isAtLeast(Date.now() - before, 100)
        const observed = logRecords(paths).filter((r) => r.type === "ManifestObserved")
        assert.strictEqual(observed.length, 1)
        assert.strictEqual(observed[0]?.data["version"], "1.0.0")
        assert.strictEqual(observed[0]?.data["previousVersion"], null)
      }))
  }, 30_000)
})

describe("ProcessHost storage", () => {
  const ops = (host: ProcessHost["Service"], list: ReadonlyArray<readonly [string, unknown]>, userId = "u1") =>
    host.call({ name: "echo", method: "sync/pushProgress", params: { ops: list }, userId }).pipe(
      Effect.map((r) => (r as { storage: ReadonlyArray<{ result?: unknown; error?: { code: number; message: string } }> }).storage)
    )

  it.live("get/set/delete/list/clear, limits, TTL, isolation between users, durable across restarts", () => {
    const paths = tempHome()
    return Effect.gen(function*() {
      yield* withHost(paths, (host) =>
        Effect.gen(function*() {
          yield* addEcho(host)
          const r = yield* ops(host, [
            ["storage/get", { key: "missing" }],
            ["storage/set", { key: "profile", data: { score: 0.95 } }],
            ["storage/get", { key: "profile" }],
            ["storage/set", { key: "cache", data: [1, 2, 3], expiresAt: "2030-12-31T23:59:59Z" }],
            ["storage/get", { key: "cache" }],
            ["storage/set", { key: "bad", data: "t", expiresAt: "not-a-timestamp" }],
            ["storage/set", { key: "old", data: "t", expiresAt: "2000-01-01T00:00:00Z" }],
            ["storage/get", { key: "old" }],
            ["storage/get", undefined],
            ["storage/get", { wrong_field: "x" }],
            ["storage/delete", { key: "cache" }],
            ["storage/delete", { key: "nope" }],
            ["storage/list", undefined],
            ["storage/set", { key: "big", data: "x".repeat(1_000_001) }]
          ])
          assert.deepStrictEqual(r[0], { result: { data: null } })
          assert.deepStrictEqual(r[1], { result: { success: true } })
          assert.deepStrictEqual(r[2], { result: { data: { score: 0.95 } } })
          assert.deepStrictEqual(r[4], { result: { data: [1, 2, 3], expiresAt: "2030-12-31T23:59:59.000Z" } })
          assert.strictEqual(r[5]?.error?.code, -32602)
          assert.include(r[5]?.error?.message, "Invalid expiresAt timestamp")
          assert.deepStrictEqual(r[7], { result: { data: null } })
          assert.deepStrictEqual(r[8]?.error, { code: -32602, message: "params is required" })
          assert.deepStrictEqual(r[9]?.error, { code: -32602, message: "Invalid params: missing field `key`" })
          assert.deepStrictEqual([r[10], r[11]], [{ result: { deleted: true } }, { result: { deleted: false } }])
          const listed = r[12]?.result as { keys: Array<{ key: string }> }
          assert.deepStrictEqual(listed.keys.map((k) => k.key), ["profile"])
          assert.strictEqual(r[13]?.error?.code, -32602)
          assert.include(r[13]?.error?.message, "maximum size of 1MB")

          // another user of the same plugin sees nothing of u1's
          const other = yield* ops(host, [["storage/get", { key: "profile" }], ["storage/set", { key: "profile", data: { owner: "u2" } }]], "u2")
          assert.deepStrictEqual(other[0], { result: { data: null } })

          // 100 keys: a new one is refused, an upsert passes
          const fill = Array.from({ length: 99 }, (_, i) => ["storage/set", { key: `key_${i}`, data: i }] as const)
          yield* ops(host, fill)
          const limit = yield* ops(host, [["storage/set", { key: "one_too_many", data: 1 }], ["storage/set", { key: "key_0", data: "updated" }], ["storage/get", { key: "key_0" }]])
          assert.deepStrictEqual(limit[0]?.error, { code: -32602, message: "Storage key limit exceeded (max 100 keys)" })
          assert.deepStrictEqual(limit[1], { result: { success: true } })
          assert.deepStrictEqual(limit[2], { result: { data: "updated" } })
        }))
      // a new host (a restart) reads what the old one stored; clear then empties only u1's scope
      yield* withHost(paths, (host) =>
        Effect.gen(function*() {
          const r = yield* ops(host, [["storage/get", { key: "profile" }], ["storage/clear", undefined], ["storage/list", {}]])
          assert.deepStrictEqual(r[0], { result: { data: { score: 0.95 } } })
          assert.deepStrictEqual(r[1], { result: { deletedCount: 100 } })
          assert.deepStrictEqual(r[2], { result: { keys: [] } })
          const other = yield* ops(host, [["storage/get", { key: "profile" }]], "u2")
          assert.deepStrictEqual(other[0], { result: { data: { owner: "u2" } } })
        }))
      const files = NodeFs.readdirSync(Path.join(paths.ledgerDir, "process-storage", "echo"))
      assert.strictEqual(files.length, 2)
    })
  }, 30_000)
})

it.live("the key file is created with mode 0600 when no key is in the environment", () => {
  const paths = tempHome()
  const { [KEY_ENV]: _, ...env } = baseOptions.env ?? {}
  return withHost(paths, (host) =>
    Effect.gen(function*() {
      yield* addEcho(host)
      yield* host.setCredentials({ name: "echo", credentials: { token: "zzz-secret" } }, origin)
      const keyFile = Path.join(paths.ledgerDir, "credentials.key")
      assert.strictEqual(NodeFs.statSync(keyFile).mode & 0o777, 0o600)
      const got = yield* host.call({ name: "echo", method: "metadata/series/get", params: { externalId: "x" } })
      assert.deepStrictEqual((got as { init: { credentials: unknown } }).init.credentials, { token: "zzz-secret" })
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(host.status({ name: "echo" }))))
    }), { ...baseOptions, env })
})
