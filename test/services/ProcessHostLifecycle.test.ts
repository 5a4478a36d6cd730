/**
 * The host's side of a plugin's lifecycle against real child processes (the hand-written fixture plugin), case by
 * case from process-conformance.json:
 *  1 initialize_not_blocked_by_reverse_rpc_during_on_initialize, 12 reverse_rpc_before_init_rejected,
 *  13 reverse_rpc_waits_for_late_capabilities and 16 storage_without_handler (through `process test`, whose
 *  throwaway process has no storage), 86 api_test_plugin_bad_script (`process test` is this host's admin Test),
 *  14 releases_method_denied_without_capability, 15 unknown_reverse_method and 27 storage_unknown_method (through
 *  the permission table), 49 initialize_params_user_identity, 34 storage_system_scope,
 *  3 dropping_client_releases_process (the host's scope), 53 stderr_level_detection (as logged by the host).
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References, Schema } from "effect"
import { processLayer } from "../../src/cli/ProcessLayer.ts"
import { ProcessHost } from "../../src/services/ProcessHost.ts"
import { userPluginIdOf } from "../../src/services/ProcessLauncher.ts"
import { addFixture, baseOptions, isAlive, logRecords, origin, tempHome, withHost } from "../support/ProcessHostKit.ts"

const Seen = Schema.Struct({
  pid: Schema.Number,
  init: Schema.Record(Schema.String, Schema.Unknown),
  initStorage: Schema.Unknown
})
const seen = (host: ProcessHost["Service"], name: string, userId?: string) =>
  host.call({ name, method: "metadata/series/get", params: { externalId: "x" }, ...(userId === undefined ? {} : { userId }) }).pipe(
    Effect.map((got) => Schema.decodeUnknownSync(Seen)(got))
  )

/** Runs storage calls from the plugin (the fixture's sync/pushProgress drives them) and returns their answers. */
const storageOps = (host: ProcessHost["Service"], name: string, ops: ReadonlyArray<readonly [string, unknown]>, userId?: string) =>
  host.call({ name, method: "sync/pushProgress", params: { ops }, ...(userId === undefined ? {} : { userId }) }).pipe(
    Effect.map((r) => (r as { storage: ReadonlyArray<unknown> }).storage)
  )

describe("reverse calls while initializing", () => {
  it.live("a storage call sent before the initialize answer neither blocks it nor is refused: it waits, then is answered (1)", () => {
    const paths = tempHome()
    // a readiness wait longer than the test's own timeout: a blocked initialize could only end by failing the test
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host, "early", "init-storage")
        const got = yield* seen(host, "early")
        assert.deepStrictEqual(got.initStorage, { result: { data: null } }, "answered by the storage, past the gate")
      }), { ...baseOptions, readinessTimeoutMs: 60_000 })
  }, 30_000)

  it.live("one awaited before the initialize answer waits out the readiness timeout, then gets -32601 (12)", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host, "eager", "init-storage-await")
        const got = yield* seen(host, "eager")
        assert.deepStrictEqual(got.initStorage, { error: { code: -32601, message: "plugin not initialized; capabilities unknown" } })
        // the plugin then answered initialize: it runs, and its manifest was recorded
        assert.strictEqual(logRecords(paths).filter((r) => r.type === "ManifestObserved").length, 1)
      }), { ...baseOptions, readinessTimeoutMs: 50 })
  }, 30_000)

  it.live("process test: a throwaway process without storage; a held call gets past the gate to -32601 (13, 16); nothing recorded", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host, "probe", "init-storage")
        yield* host.setEnabled({ name: "probe", enabled: false }, origin)
        const before = logRecords(paths).length
        const report = yield* host.test({ name: "probe" })
        assert.isTrue(report.ok, report.error ?? "")
        assert.strictEqual(report.manifest?.name, "raw-echo")
        assert.isNumber(report.pingMs)
        // the fixture answers ping only once its initialize-time storage call is answered, and writes that answer
        const answer: unknown = JSON.parse(NodeFs.readFileSync(Path.join(paths.ledgerDir, "process-data", "probe", "init-storage.json"), "utf8"))
        assert.deepStrictEqual(answer, { error: { code: -32601, message: "Storage is not available for this plugin" } })
        assert.deepStrictEqual((yield* host.status({ name: "probe" })).instances, [], "the throwaway process is gone")

        yield* addFixture(host, "dies", "exit-on-init")
        const failed = yield* host.test({ name: "dies" })
        assert.isFalse(failed.ok)
        assert.include(failed.error, "failed to start (initialize)")
        assert.strictEqual(logRecords(paths).length - before, 1, "only the second registration was recorded: no failure, no manifest")
        assert.include((yield* Effect.flip(host.test({ name: "ghost" }))).message, "not registered")

        // a script that does not exist: node exits, initialize dies with it (86, the reference's admin Test)
        yield* host.add({ name: "missing", command: "node", args: ["/nonexistent/script/that/does/not/exist.js"], env: {}, cwd: null }, origin)
        const missing = yield* host.test({ name: "missing" })
        assert.isFalse(missing.ok)
        assert.match(missing.error ?? "", /fail|error|not found|MODULE_NOT_FOUND|ENOENT/i)
      }), { ...baseOptions, readinessTimeoutMs: 2_000 })
  }, 30_000)

  it.live("requests the permission table refuses: releases without releaseSource (14), unmapped methods (15, 27)", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host)
        const answers = yield* storageOps(host, "echo", [["releases/record", {}], ["frobnicate/zap", {}], ["storage/unknown", {}], ["storage/get", { key: "k" }]])
        assert.deepStrictEqual(answers, [
          { error: { code: -32003, message: "method `releases/record` requires the `ReleaseSource` capability, which the plugin did not declare" } },
          { error: { code: -32601, message: "unknown method `frobnicate/zap` (no permission mapping)" } },
          { error: { code: -32601, message: "unknown method `storage/unknown` (no permission mapping)" } },
          { result: { data: null } }
        ])
      }))
  }, 30_000)
})

describe("identity and scopes", () => {
  it.live("userId and userPluginId go to a user's process only (49); calls without a user share the plugin's own scope (34)", () => {
    const paths = tempHome()
    return withHost(paths, (host) =>
      Effect.gen(function*() {
        yield* addFixture(host, "feeds")
        yield* addFixture(host, "other")
        const system = yield* seen(host, "feeds")
        assert.notProperty(system.init, "userId")
        assert.notProperty(system.init, "userPluginId")
        const alice = yield* seen(host, "feeds", "alice")
        assert.strictEqual(alice.init["userId"], "alice")
        assert.strictEqual(alice.init["userPluginId"], userPluginIdOf("feeds", "alice"))
        assert.match(String(alice.init["userPluginId"]), /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        assert.notStrictEqual(userPluginIdOf("feeds", "bob"), alice.init["userPluginId"])
        assert.notStrictEqual(alice.pid, system.pid, "a user's process is its own")
        assert.deepStrictEqual((yield* host.status({ name: "feeds" })).instances.map((i) => i.userId).sort(), ["alice", null].sort())

        const set = yield* storageOps(host, "feeds", [["storage/set", { key: "feed_cursor", data: "abc" }], ["storage/get", { key: "feed_cursor" }]])
        assert.deepStrictEqual(set[1], { result: { data: "abc" } })
        assert.deepStrictEqual(yield* storageOps(host, "other", [["storage/get", { key: "feed_cursor" }]]), [{ result: { data: null } }])
        assert.deepStrictEqual(yield* storageOps(host, "feeds", [["storage/get", { key: "feed_cursor" }]], "alice"), [{ result: { data: null } }])
        // a user named like the old default scope is a user like any other
        assert.deepStrictEqual(yield* storageOps(host, "feeds", [["storage/get", { key: "feed_cursor" }]], "default"), [{ result: { data: null } }])
        assert.isTrue(NodeFs.existsSync(Path.join(paths.ledgerDir, "process-storage", "feeds", "system.json")))
        assert.include((yield* Effect.flip(seen(host, "feeds", ""))).message, "must not be empty")
      }))
  }, 30_000)
})

describe("processes end with the host", () => {
  it.live("closing the host ends every plugin process, one ignoring shutdown included (3); disable and remove end theirs", () => {
    const paths = tempHome()
    const pids: Array<number> = []
    return Effect.gen(function*() {
      yield* withHost(paths, (host) =>
        Effect.gen(function*() {
          yield* addFixture(host, "echo")
          yield* addFixture(host, "stubborn", "no-shutdown")
          yield* addFixture(host, "gone")
          pids.push((yield* seen(host, "echo")).pid, (yield* seen(host, "echo", "u1")).pid, (yield* seen(host, "stubborn")).pid)
          const disabled = (yield* seen(host, "gone")).pid
          yield* host.setEnabled({ name: "gone", enabled: false }, origin)
          assert.isFalse(isAlive(disabled), "disable stops its process")
          yield* host.setEnabled({ name: "gone", enabled: true }, origin)
          const removed = (yield* seen(host, "gone")).pid
          yield* host.remove({ name: "gone" }, origin)
          assert.isFalse(isAlive(removed), "remove stops its process")
          for (const pid of pids) assert.isTrue(isAlive(pid))
        }))
      for (const pid of pids) assert.isFalse(isAlive(pid), `pid ${pid} ended with the host`)
    })
  }, 30_000)
})

describe("stderr", () => {
  it.live("a plugin's stderr lines are logged at their level, the marker and time dropped; unmarked lines at info (53)", () => {
    const paths = tempHome()
    const entries: Array<{ level: string; text: string }> = []
    const capture = Logger.make<unknown, void>(({ logLevel, message }) => {
      entries.push({ level: logLevel, text: Array.isArray(message) ? message.map(String).join(" ") : String(message) })
    })
    return Effect.gen(function*() {
      const host = yield* ProcessHost
      yield* addFixture(host, "echo")
      yield* host.call({ name: "echo", method: "metadata/series/search", params: { query: "log-sample" } })
      // stderr is read apart from stdout: wait until both lines were logged
      for (let i = 0; i < 100 && !entries.some((e) => e.text.includes("no level marker")); i++) yield* Effect.sleep(20)
      assert.deepStrictEqual(entries.filter((e) => e.text.includes("Search params received") || e.text.includes("no level marker")), [
        { level: "Debug", text: "[process:echo] [mangabaka-search] Search params received" },
        { level: "Info", text: "[process:echo] a line with no level marker" }
      ])
    }).pipe(
      Effect.provide(processLayer(paths, baseOptions)),
      Effect.provide(Layer.mergeAll(Logger.layer([capture]), Layer.succeed(References.MinimumLogLevel, "Debug"))),
      Effect.scoped
    )
  }, 30_000)
})
