/**
 * The remote curated sync against a loopback HTTP server playing `GET /backend-api/plugins/list`: the exact request,
 * the 0.116.0 reconciliation (cache, config.toml, listing), fail-open errors with the reference's texts (no auth, API
 * key, 500, malformed body, slow beyond a short timeout, huge body), a failed store step that edits nothing, and every
 * sync recorded (`RemoteSyncRecorded` + the plugin events with actor `remote-sync` and the sync's id), no secret in
 * the log. The same layout and response are checked against the reference in test/conformance/RemoteSync.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeBlobStore } from "../../src/adapters/BlobStore.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { RemoteClientSettings } from "../../src/adapters/RemoteClient.ts"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine } from "../../src/services/EngineApi.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { replayLedger } from "../../src/services/Replay.ts"
import { chatgptAuth, curatedHome, logLines, SHA, serve, type Served, write } from "../support/RemoteServer.ts"

const pathsOf = (home: string) => makeLedgerPaths({ codexHome: home, home: Path.join(Path.dirname(home), "userhome") })

const settings = (timeoutMs: number, maxBodyBytes = 1024 * 1024) =>
  Layer.succeed(RemoteClientSettings, {
    fetch: (input, init) => globalThis.fetch(input, init),
    timeoutMs,
    maxBodyBytes,
    userAgent: "plugin-ledger-test"
  })

const listSynced = (home: string, timeoutMs = 5_000, maxBodyBytes?: number) =>
  Engine.use((engine) => engine.list({ cwds: [], forceRemoteSync: true })).pipe(
    Effect.provide(appLayer(pathsOf(home))),
    Effect.provide(settings(timeoutMs, maxBodyBytes))
  )

const states = (view: { readonly marketplaces: ReadonlyArray<{ readonly plugins: ReadonlyArray<{ readonly id: string; readonly installed: boolean; readonly enabled: boolean }> }> }) =>
  view.marketplaces.flatMap((m) => m.plugins.map((p) => [p.id, p.installed, p.enabled]))

const tree = (dir: string): ReadonlyArray<string> =>
  NodeFs.existsSync(dir) ? NodeFs.readdirSync(dir, { recursive: true }).map(String).sort() : []

const RECONCILE = JSON.stringify([
  { id: "1", name: "linear", marketplace_name: "openai-curated", version: "1.0.0", enabled: true },
  { id: "2", name: "gmail", marketplace_name: "openai-curated", version: "1.0.0", enabled: false }
])

const withTemp = <A, E, R>(f: (root: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "remote-sync-")))),
    f,
    (root) => Effect.sync(() => NodeFs.rmSync(root, { recursive: true, force: true }))
  )

const withServer = <A, E, R>(answer: Parameters<typeof serve>[0], f: (s: Served) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(Effect.promise(() => serve(answer)), f, (s) => Effect.promise(() => s.close()))

describe("remote curated sync", () => {
  it.live("reconciles as 0.116.0 and records the response, the decisions and the caused events", () =>
    withTemp((root) =>
      withServer({ body: RECONCILE }, (server) =>
        Effect.gen(function*() {
          const home = curatedHome(root, server.url, { auth: chatgptAuth() })
          const view = yield* listSynced(home)
          assert.strictEqual(view.remoteSyncError, null)
          assert.deepStrictEqual(states(view), [
            ["linear@openai-curated", true, true],
            ["gmail@openai-curated", false, false],
            ["calendar@openai-curated", false, false]
          ])
          // the exact request
          assert.strictEqual(server.requests.length, 1)
          const request = server.requests[0]
          assert.strictEqual(request?.method, "GET")
          assert.strictEqual(request?.url, "/backend-api/plugins/list")
          assert.strictEqual(request?.headers["authorization"], "Bearer chatgpt-token")
          assert.strictEqual(request?.headers["chatgpt-account-id"], "account-123")
          // files
          const config = NodeFs.readFileSync(Path.join(home, "config.toml"), "utf8")
          assert.include(config, "[plugins.\"linear@openai-curated\"]\nenabled = true")
          assert.notInclude(config, "gmail@openai-curated")
          assert.notInclude(config, "calendar@openai-curated")
          assert.deepStrictEqual(NodeFs.readdirSync(Path.join(home, "plugins/cache/openai-curated")), ["linear"])
          // the log: the sync, then its events, all caused by it
          const lines = logLines(home)
          const sync = lines.find((l) => l.type === "RemoteSyncRecorded")
          assert.isDefined(sync)
          const data = sync?.data ?? {}
          assert.deepStrictEqual(data["decisions"], {
            installed: [],
            enabled: ["linear@openai-curated"],
            disabled: [],
            uninstalled: ["gmail@openai-curated", "calendar@openai-curated"]
          })
          assert.strictEqual(data["error"], null)
          assert.strictEqual(data["status"], 200)
          const blob = String(data["responseBlob"])
          assert.strictEqual(makeBlobStore(nodeFs, Path.join(home, "ledger/blobs")).get(blob).toString("utf8"), RECONCILE, "the full response is stored")
          const syncId = String(Reflect.get(Object(data["cause"]), "syncId"))
          const caused = lines.filter((l) => ["PluginEnabled", "PluginUninstalled", "PluginInstalled"].includes(l.type))
          assert.deepStrictEqual(caused.map((l) => [l.type, l.data["pluginId"]]), [
            ["PluginEnabled", "linear@openai-curated"],
            ["PluginUninstalled", "gmail@openai-curated"],
            ["PluginUninstalled", "calendar@openai-curated"]
          ])
          for (const l of caused) assert.deepStrictEqual(l.data["cause"], { actor: "remote-sync", syncId })
          const raw = NodeFs.readdirSync(Path.join(home, "ledger/events")).map((f) => NodeFs.readFileSync(Path.join(home, "ledger/events", f), "utf8")).join("")
          assert.notInclude(raw, "chatgpt-token", "no credential in the log")
        })
      )
    ))

  it.live("installs a listed plugin that is not installed at the mirror sha, from its first entry", () =>
    withTemp((root) =>
      withServer({ body: JSON.stringify([{ name: "linear", enabled: true }, { name: "gmail", enabled: true }, { name: "unknown", enabled: true }]) }, (server) =>
        Effect.gen(function*() {
          const home = curatedHome(root, server.url, { auth: chatgptAuth() })
          NodeFs.rmSync(Path.join(home, "plugins/cache/openai-curated/gmail"), { recursive: true })
          write(Path.join(home, ".tmp/plugins/plugins/gmail/marker.txt"), "first")
          const view = yield* listSynced(home)
          assert.strictEqual(view.remoteSyncError, null)
          assert.deepStrictEqual(states(view), [
            ["linear@openai-curated", true, true],
            ["gmail@openai-curated", true, true],
            ["calendar@openai-curated", false, false]
          ])
          assert.deepStrictEqual(tree(Path.join(home, "plugins/cache/openai-curated/gmail")), [SHA, `${SHA}/.codex-plugin`, `${SHA}/.codex-plugin/plugin.json`, `${SHA}/marker.txt`])
          const sync = logLines(home).find((l) => l.type === "RemoteSyncRecorded")
          assert.deepStrictEqual(sync?.data["decisions"], {
            installed: ["gmail@openai-curated"],
            enabled: ["linear@openai-curated", "gmail@openai-curated"],
            disabled: [],
            uninstalled: ["calendar@openai-curated"]
          })
        })
      )
    ))

  const failures: ReadonlyArray<{
    readonly name: string
    readonly answer: Parameters<typeof serve>[0]
    readonly auth?: string | undefined
    readonly timeoutMs?: number
    readonly maxBodyBytes?: number
    readonly error: (url: string) => string
    readonly prepare?: (home: string) => void
  }> = [
    { name: "no auth", answer: { body: "[]" }, auth: undefined, error: () => "chatgpt authentication required to sync remote plugins" },
    {
      name: "API key only",
      answer: { body: "[]" },
      auth: JSON.stringify({ OPENAI_API_KEY: "sk-secret", tokens: null }),
      error: () => "chatgpt authentication required to sync remote plugins; api key auth is not supported"
    },
    { name: "500", answer: { status: 500, body: "oops" }, error: (u) => `remote plugin sync request to ${u}plugins/list failed with status 500 Internal Server Error: oops` },
    {
      name: "malformed body",
      answer: { body: "[{\"name\":\"linear\"}]" },
      error: (u) => `failed to parse remote plugin sync response from ${u}plugins/list: missing field \`enabled\` at line 1 column 18`
    },
    { name: "not a list", answer: { body: "{\"x\":1}" }, error: (u) => `failed to parse remote plugin sync response from ${u}plugins/list: invalid type: map, expected a sequence at line 1 column 0` },
    {
      name: "slow beyond the timeout",
      answer: { body: "[]", delayMs: 2_000 },
      timeoutMs: 200,
      error: (u) => `failed to send remote plugin sync request to ${u}plugins/list: error sending request for url (${u}plugins/list)`
    },
    {
      name: "huge body",
      answer: { body: Buffer.alloc(200_000, 0x20) },
      maxBodyBytes: 100_000,
      error: (u) => `failed to send remote plugin sync request to ${u}plugins/list: response body is larger than 100000 bytes`
    },
    {
      name: "another marketplace",
      answer: { body: JSON.stringify([{ name: "linear", marketplace_name: "other", enabled: true }]) },
      error: () => "remote marketplace `other` is not available locally"
    },
    {
      name: "duplicate",
      answer: { body: JSON.stringify([{ name: "linear", enabled: true }, { name: "linear", enabled: false }]) },
      error: () => "duplicate remote plugin `linear` in sync response"
    },
    {
      name: "a failed store step",
      answer: { body: JSON.stringify([{ name: "linear", enabled: true }, { name: "gmail", enabled: true }]) },
      prepare: (home) => {
        NodeFs.rmSync(Path.join(home, "plugins/cache/openai-curated/gmail"), { recursive: true })
        NodeFs.rmSync(Path.join(home, ".tmp/plugins/plugins/gmail"), { recursive: true })
      },
      error: () => "plugin source path is not a directory: <home>/.tmp/plugins/plugins/gmail"
    }
  ]

  for (const failure of failures) {
    it.live(`fails open and changes nothing: ${failure.name}`, () =>
      withTemp((root) =>
        withServer(failure.answer, (server) =>
          Effect.gen(function*() {
            const home = curatedHome(root, server.url, { auth: "auth" in failure ? failure.auth : chatgptAuth() })
            failure.prepare?.(home)
            const configBefore = NodeFs.readFileSync(Path.join(home, "config.toml"))
            const cacheBefore = tree(Path.join(home, "plugins/cache"))
            const view = yield* listSynced(home, failure.timeoutMs, failure.maxBodyBytes)
            assert.strictEqual(view.remoteSyncError, failure.error(server.url).replace("<home>", home))
            assert.deepStrictEqual(NodeFs.readFileSync(Path.join(home, "config.toml")), configBefore, "config.toml untouched")
            assert.deepStrictEqual(tree(Path.join(home, "plugins/cache")), cacheBefore, "cache untouched")
            const lines = logLines(home)
            const synced = lines.filter((l) => l.type === "RemoteSyncRecorded")
            assert.strictEqual(synced.length, 1, "the failed sync is recorded")
            assert.strictEqual(synced[0]?.data["error"], view.remoteSyncError)
            assert.isFalse(lines.some((l) => ["PluginInstalled", "PluginEnabled", "PluginDisabled", "PluginUninstalled"].includes(l.type)), "no plugin event")
            const raw = JSON.stringify(lines)
            assert.notInclude(raw, "chatgpt-token")
            assert.notInclude(raw, "sk-secret")
          })
        )
      ))
  }
})

/** every path, mode and byte under `dir` */
const snapshot = (dir: string): ReadonlyArray<string> =>
  tree(dir).map((rel) => {
    const full = Path.join(dir, rel)
    const stat = NodeFs.lstatSync(full)
    return stat.isDirectory() ? `dir ${rel} ${(stat.mode & 0o777).toString(8)}` : `file ${rel} ${(stat.mode & 0o777).toString(8)} ${NodeFs.readFileSync(full).toString("base64")}`
  })

const throwingFetch: typeof globalThis.fetch = () => Promise.reject(new Error("network used during a replay"))

describe("recorded syncs replay from the log alone", () => {
  it.live("a history of several syncs replayed twice into fresh homes, network stubbed to fail, is byte-identical", () =>
    withTemp((root) =>
      Effect.gen(function*() {
        let body = RECONCILE
        // the recorded answers come from an injected fetch whose body changes between syncs; the server only names the URL
        const server = yield* Effect.promise(() => serve({ body: "" }))
        yield* Effect.addFinalizer(() => Effect.promise(() => server.close()))
        const home = curatedHome(root, server.url, { auth: chatgptAuth() })
        const initialConfig = NodeFs.readFileSync(Path.join(home, "config.toml"))
        const paths = pathsOf(home)
        const fetchBody: typeof globalThis.fetch = () => Promise.resolve(new Response(body, { status: 200 }))
        const sync = Engine.use((e) => e.syncRemote()).pipe(
          Effect.provide(appLayer(paths)),
          Effect.provide(Layer.succeed(RemoteClientSettings, { fetch: fetchBody, timeoutMs: 5_000, maxBodyBytes: 1 << 20, userAgent: "t" }))
        )
        const bodies = [
          RECONCILE,
          JSON.stringify([{ name: "linear", enabled: true }, { name: "gmail", enabled: true }, { name: "calendar", enabled: true }]),
          "not json",
          JSON.stringify([{ name: "gmail", enabled: true }]),
          JSON.stringify([{ name: "gmail", enabled: true }, { name: "calendar", enabled: true }])
        ]
        const errors: Array<string | null> = []
        for (const [n, next] of bodies.entries()) {
          body = next
          write(Path.join(home, `.tmp/plugins/plugins/calendar/round.txt`), `round ${n}\n`)
          errors.push((yield* sync).error)
        }
        assert.deepStrictEqual(errors.map((e) => e === null), [true, true, false, true, true])
        const live = { config: NodeFs.readFileSync(Path.join(home, "config.toml"), "utf8"), cache: snapshot(Path.join(home, "plugins/cache")) }
        assert.deepStrictEqual(
          logLines(home).filter((l) => l.type === "RemoteSyncRecorded").length,
          bodies.length,
          "every sync recorded"
        )
        const replays = []
        for (const n of [1, 2]) {
          const fresh = Path.join(root, `replay-${n}`)
          NodeFs.mkdirSync(fresh)
          NodeFs.writeFileSync(Path.join(fresh, "config.toml"), initialConfig)
          NodeFs.cpSync(Path.join(home, "ledger/events"), Path.join(fresh, "ledger/events"), { recursive: true })
          NodeFs.cpSync(Path.join(home, "ledger/blobs"), Path.join(fresh, "ledger/blobs"), { recursive: true })
          yield* Engine.use(() => Effect.void).pipe(
            Effect.provide(appLayer(pathsOf(fresh))),
            Effect.provide(Layer.succeed(RemoteClientSettings, { fetch: throwingFetch, timeoutMs: 10, maxBodyBytes: 1, userAgent: "t" }))
          )
          replays.push({ config: NodeFs.readFileSync(Path.join(fresh, "config.toml"), "utf8"), cache: snapshot(Path.join(fresh, "plugins/cache")) })
        }
        assert.deepStrictEqual(replays[0], live, "a fresh replay equals the live projection")
        assert.deepStrictEqual(replays[1], replays[0], "two replays are byte-identical")
        assert.isTrue(live.cache.some((l) => l.includes(`${SHA}/round.txt`)), "the synced install is in the projection")
        // --verify-decisions: today's code decides every recorded sync the same way, from the log and blobs alone
        const realFetch = globalThis.fetch
        globalThis.fetch = throwingFetch
        const checked = yield* replayLedger(paths, { into: Path.join(root, "replay-verify"), verifyDecisions: true }).pipe(
          Effect.ensuring(Effect.sync(() => { globalThis.fetch = realFetch }))
        )
        assert.deepStrictEqual(checked.decisions?.map((c) => c.verdict), ["same", "same", "same", "same", "same"])
        assert.deepStrictEqual(checked.decisions?.[2]?.recomputed, { error: errors[2] ?? "" }, "the malformed body fails the same way")
      }).pipe(Effect.scoped)
    ))
})
