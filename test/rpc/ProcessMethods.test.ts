/**
 * The `process/*` methods through a real `plugin-ledger serve` child, with the SDK's three echo plugins
 * (examples/process-plugins) as the registered plugins: registration commands recorded in the log with the
 * client as their cause, calls routed by capability (with a per-call deadline), plugin error codes passed through
 * with `data.kind`, refusals with their codes, rate limits in the views, `process/test`, and nothing but JSON-RPC on
 * stdout.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const MAIN = Path.resolve("src/cli/main.ts")
const EXAMPLES = Path.resolve("examples/process-plugins")
const plugin = (name: string) => Path.join(EXAMPLES, name, `${name}.ts`)

const at = (value: unknown, ...path: ReadonlyArray<string | number>): unknown => {
  let current = value
  for (const key of path) current = typeof current === "object" && current !== null ? Reflect.get(current, key) : undefined
  return current
}

/** One serve child; answers matched by id. */
class Serve {
  readonly lines: Array<string> = []
  stderr = ""
  private readonly child: ChildProcessWithoutNullStreams
  private readonly waiting = new Map<number, (message: unknown) => void>()
  private buffer = ""
  private nextId = 1
  private readonly closed: Promise<number | null>

  readonly root: string

  constructor(root: string) {
    this.root = root
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
    env["CODEX_HOME"] = Path.join(root, "codex")
    env["HOME"] = root
    env["NODE_COMPILE_CACHE"] = Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache")
    Fs.mkdirSync(env["CODEX_HOME"], { recursive: true })
    this.child = spawn(process.execPath, [MAIN, "serve"], { cwd: root, env, stdio: ["pipe", "pipe", "pipe"] })
    this.closed = new Promise((resolve) => this.child.once("close", (code) => resolve(code)))
    this.child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (this.stderr += chunk))
    this.child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      this.buffer += chunk
      for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
        const line = this.buffer.slice(0, nl)
        this.buffer = this.buffer.slice(nl + 1)
        this.lines.push(line)
        const message: unknown = JSON.parse(line)
        const id = at(message, "id")
        const settle = typeof id === "number" ? this.waiting.get(id) : undefined
        if (settle !== undefined && typeof id === "number") {
          this.waiting.delete(id)
          settle(message)
        }
      }
    })
  }

  request(method: string, params?: unknown): Promise<unknown> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${method} in 30 s; stderr: ${this.stderr}`)), 30_000)
      this.waiting.set(id, (message) => {
        clearTimeout(timer)
        resolve(message)
      })
      this.child.stdin.write(`${JSON.stringify({ id, method, ...(params === undefined ? {} : { params }) })}\n`)
    })
  }

  /** The result; fails the test on an error answer. */
  async ok(method: string, params?: unknown): Promise<unknown> {
    const answer = await this.request(method, params)
    assert.isDefined(at(answer, "result"), `${method}: ${JSON.stringify(answer)}`)
    return at(answer, "result")
  }

  /** The error object; fails the test on a success answer. */
  async error(method: string, params?: unknown): Promise<{ code: unknown; message: string; data: unknown }> {
    const answer = await this.request(method, params)
    assert.isDefined(at(answer, "error"), `${method} should fail: ${JSON.stringify(answer)}`)
    return { code: at(answer, "error", "code"), message: String(at(answer, "error", "message")), data: at(answer, "error", "data") }
  }

  /** stdin closed: serve stops cleanly and says so with exit 0 */
  stop(): Promise<number | null> {
    this.child.stdin.end()
    return this.closed
  }
}

const logRecords = (root: string): Array<{ type: string; data: Record<string, unknown> }> => {
  const dir = Path.join(root, "codex", "ledger", "events")
  const text = Fs.readdirSync(dir).map((f) => Fs.readFileSync(Path.join(dir, f), "utf8")).join("")
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))
}

describe("process/* over `plugin-ledger serve`", () => {
  it("registers, configures, calls and removes the SDK echo plugins; errors keep their codes", { timeout: 90_000 }, async () => {
    const root = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "process-rpc-")))
    const serve = new Serve(root)
    try {
      await serve.ok("initialize", { clientInfo: { name: "process-test", version: "1" } })
      assert.deepStrictEqual(await serve.ok("process/list", {}), { plugins: [] })

      // registration, and refusals that change nothing
      const added = await serve.ok("process/add", { name: "meta", command: "node", args: [plugin("metadata-echo")], idempotencyKey: "add-meta" })
      assert.strictEqual(at(added, "changed"), true)
      assert.isNumber(at(added, "seq"))
      const again = await serve.ok("process/add", { name: "meta", command: "node", args: [plugin("metadata-echo")], idempotencyKey: "add-meta" })
      assert.deepStrictEqual(again, added, "a retried request (same idempotency key) answers as the first did, adding nothing")
      const reused = await serve.error("process/disable", { name: "meta", idempotencyKey: "add-meta" })
      assert.strictEqual(reused.code, -32600)
      assert.include(reused.message, "already used for a different command")
      await serve.ok("process/add", { name: "sync", command: "node", args: [plugin("sync-echo")] })
      await serve.ok("process/add", { name: "recs", command: "node", args: [plugin("recommendations-echo")], timeoutSeconds: 10, rateLimitPerMinute: 100 })
      const refusals: Array<[unknown, string]> = [
        [{ name: "meta", command: "node", args: [plugin("metadata-echo")] }, "already registered"],
        [{ name: "sh", command: "bash", args: ["-c", "true"] }, "not in the plugin allowlist"],
        [{ name: "x", command: "node", env: { LD_PRELOAD: "/x" } }, "may not be set"],
        [{ name: 5, command: "node" }, "Invalid request"],
        [{ command: "node" }, "Invalid request"]
      ]
      for (const [params, text] of refusals) {
        const error = await serve.error("process/add", params)
        assert.strictEqual(error.code, -32600, JSON.stringify(params))
        assert.include(error.message, text)
      }
      const listed = await serve.ok("process/list", {})
      assert.deepStrictEqual((at(listed, "plugins") as ReadonlyArray<unknown>).map((p) => at(p, "name")), ["meta", "recs", "sync"])
      assert.strictEqual(at(listed, "plugins", 1, "timeoutSeconds"), 10)
      assert.deepStrictEqual((at(listed, "plugins") as ReadonlyArray<unknown>).map((p) => at(p, "rateLimitPerMinute")), [60, 100, 60])

      // a throwaway start: initialize and ping, nothing recorded
      const tested = await serve.ok("process/test", { name: "meta" })
      assert.strictEqual(at(tested, "ok"), true)
      assert.strictEqual(at(tested, "manifest", "name"), "metadata-echo")
      assert.strictEqual((await serve.error("process/test", { name: "ghost" })).code, -32600)

      // calls, routed by declared capability
      const found = await serve.ok("process/call", { name: "meta", method: "metadata/series/search", params: { query: "dune" } })
      assert.strictEqual(at(found, "result", "results", 0, "title"), "dune")
      const notFound = await serve.error("process/call", { name: "meta", method: "metadata/series/get", params: { externalId: "missing-1" } })
      assert.strictEqual(notFound.code, -32002)
      assert.strictEqual(at(notFound.data, "kind"), "NotFound")
      const noCapability = await serve.error("process/call", { name: "sync", method: "metadata/series/search", params: { query: "x" } })
      assert.strictEqual(noCapability.code, -32601)
      assert.include(noCapability.message, "does not declare the capability")
      const notRouted = await serve.error("process/call", { name: "meta", method: "storage/get", params: { key: "k" } })
      assert.strictEqual(notRouted.code, -32601)
      const unknownPlugin = await serve.error("process/call", { name: "ghost", method: "metadata/series/search", params: { query: "x" } })
      assert.strictEqual(unknownPlugin.code, -32600)
      assert.include(unknownPlugin.message, "not registered")
      assert.strictEqual((await serve.error("process/call", { name: "meta" })).code, -32600)
      const deadline = await serve.ok("process/call", { name: "meta", method: "metadata/series/search", params: { query: "dune" }, timeoutSeconds: 5 })
      assert.strictEqual(at(deadline, "result", "results", 0, "title"), "dune")
      const noDeadline = await serve.error("process/call", { name: "meta", method: "metadata/series/search", params: { query: "dune" }, timeoutSeconds: 0 })
      assert.strictEqual(noDeadline.code, -32600)
      assert.include(noDeadline.message, "a call's timeout must be")

      // configure restarts the plugin with the new admin config: its rate-limit error keeps retryAfterSeconds
      await serve.ok("process/configure", { name: "meta", adminConfig: { failWith: "rate-limit" } })
      const limited = await serve.error("process/call", { name: "meta", method: "metadata/series/search", params: { query: "dune" } })
      assert.strictEqual(limited.code, -32001)
      assert.strictEqual(at(limited.data, "retryAfterSeconds"), 42)
      assert.strictEqual(at(limited.data, "kind"), "RateLimited")
      await serve.ok("process/configure", { name: "meta", adminConfig: { failWith: "config" } })
      assert.strictEqual((await serve.error("process/call", { name: "meta", method: "metadata/series/search", params: { query: "d" } })).code, -32005)
      assert.strictEqual((await serve.error("process/configure", { name: "ghost", adminConfig: {} })).code, -32600)

      // credentials: handed to the plugin, sealed on disk, never in the log in clear
      const auth = await serve.error("process/call", { name: "sync", method: "sync/getUserInfo", params: {} })
      assert.strictEqual(auth.code, -32003)
      assert.strictEqual(at(auth.data, "kind"), "AuthFailed")
      await serve.ok("process/setCredentials", { name: "sync", credentials: { access_token: "tok-RPC-secret-123" } })
      const user = await serve.ok("process/call", { name: "sync", method: "sync/getUserInfo", params: {}, userId: "alice" })
      assert.deepStrictEqual(at(user, "result"), { externalId: "echo-user", username: "alice" })
      assert.strictEqual((await serve.error("process/setCredentials", { name: "ghost", credentials: { a: "b" } })).code, -32600)

      // disable stops calls with a clear refusal; enable brings them back
      assert.strictEqual(at(await serve.ok("process/disable", { name: "recs" }), "changed"), true)
      assert.strictEqual(at(await serve.ok("process/disable", { name: "recs" }), "changed"), false)
      const disabled = await serve.error("process/call", { name: "recs", method: "recommendations/get", params: { library: [] } })
      assert.strictEqual(disabled.code, -32600)
      assert.include(disabled.message, "disabled")
      await serve.ok("process/enable", { name: "recs" })
      const recs = await serve.ok("process/call", { name: "recs", method: "recommendations/get", params: { library: [{ seriesId: "s1", title: "Dune" }] } })
      assert.strictEqual(at(recs, "result", "recommendations", 0, "title"), "More like Dune")

      // status: manifest recorded, instances running
      const status = await serve.ok("process/status", { name: "sync" })
      assert.strictEqual(at(status, "manifest", "name"), "sync-echo")
      assert.deepStrictEqual(at(status, "credentialKeys"), ["access_token"])
      const instances = at(status, "instances") as ReadonlyArray<unknown>
      assert.isTrue(instances.some((i) => at(i, "userId") === "alice" && at(i, "running") === true))
      assert.strictEqual((await serve.error("process/status", { name: "ghost" })).code, -32600)

      await serve.ok("process/remove", { name: "recs" })
      assert.strictEqual((await serve.error("process/remove", { name: "recs" })).code, -32600)
      assert.deepStrictEqual((at(await serve.ok("process/list", {}), "plugins") as ReadonlyArray<unknown>).map((p) => at(p, "name")), ["meta", "sync"])

      assert.strictEqual(await serve.stop(), 0)
      for (const line of serve.lines) assert.doesNotThrow(() => JSON.parse(line), `stdout carries only protocol: ${line}`)
      const records = logRecords(root).filter((r) => r.type.startsWith("Process") || r.type === "ManifestObserved")
      const commands = records.filter((r) => r.type !== "ManifestObserved" && r.type !== "ProcessPluginFailed").map((r) => [r.type, at(r.data, "processPlugin")])
      assert.deepStrictEqual(commands, [
        ["ProcessPluginAdded", "meta"],
        ["ProcessPluginAdded", "sync"],
        ["ProcessPluginAdded", "recs"],
        ["ProcessPluginConfigured", "meta"],
        ["ProcessPluginConfigured", "meta"],
        ["ProcessPluginCredentialsSet", "sync"],
        ["ProcessPluginDisabled", "recs"],
        ["ProcessPluginEnabled", "recs"],
        ["ProcessPluginRemoved", "recs"]
      ])
      assert.deepStrictEqual(at(records[0]?.data, "cause"), { actor: "rpc", requestId: "3", client: "process-test" })
      assert.deepStrictEqual(records.filter((r) => r.type === "ManifestObserved").map((r) => at(r.data, "name")).sort(), ["metadata-echo", "recommendations-echo", "sync-echo"])
      const everything = Fs.readdirSync(Path.join(root, "codex", "ledger"), { recursive: true, encoding: "utf8" })
        .map((f) => Path.join(root, "codex", "ledger", f)).filter((f) => Fs.statSync(f).isFile()).map((f) => Fs.readFileSync(f, "utf8")).join("")
      assert.notInclude(everything, "tok-RPC-secret-123", "credentials are sealed at rest")
      assert.notInclude(serve.stderr, "tok-RPC-secret-123", "credentials are never logged")
    } finally {
      await serve.stop().catch(() => undefined)
      Fs.rmSync(root, { recursive: true, force: true })
    }
  })
})
