/**
 * The real `plugin-ledger serve` (a child process) under bad input. After every bad frame the server must
 * answer it (notifications: stay silent), keep serving (a `plugin/list` sentinel after each frame still
 * works), write nothing but JSON lines to stdout and never crash; and the CODEX_HOME must not change: only
 * the genesis record in the log, no cache dirs, config.toml byte-identical.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { methodParams } from "../../src/rpc/WireParams.ts"
import { seedFor } from "../support/Soak.ts"
import { snapshotTree } from "../support/Trees.ts"

const MAIN = Path.resolve("src/cli/main.ts")
const TIMEOUT_MS = 30_000
const CONFIG = "# my settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n"
const SECRET = "TOP-SECRET-OUTSIDE-THE-PLUGIN"

type Id = string | number

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A field (or array index) of a parsed value, `undefined` where the path does not exist. */
const at = (value: unknown, ...path: ReadonlyArray<string>): unknown => {
  let current = value
  for (const key of path) current = typeof current === "object" && current !== null ? Reflect.get(current, key) : undefined
  return current
}

const parse = (line: string): unknown => JSON.parse(line)

const isServerNotification = (line: string): boolean => {
  try {
    const value = parse(line)
    return isRecord(value) && !("id" in value) && (value["method"] === "plugin/changed" || value["method"] === "marketplace/changed" || value["method"] === "plugin/capabilitiesChanged")
  } catch {
    return false
  }
}

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** One `plugin-ledger serve` child; every stdout line is parsed as it arrives. */
class Server {
  readonly root: string
  readonly home: string
  readonly lines: Array<string> = []
  readonly nonJson: Array<string> = []
  stderr = ""
  private readonly child: ChildProcessWithoutNullStreams
  private readonly exit: Promise<Exit>
  private pending = ""
  private consumed = 0
  private sentinels = 0
  private wake: () => void = () => {}
  private exited: Exit | undefined
  private initialized = false

  constructor(root: string) {
    this.root = root
    this.home = Path.join(root, "home")
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
    env["CODEX_HOME"] = this.home
    env["HOME"] = Path.join(root, "userhome")
    env["NODE_COMPILE_CACHE"] = Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache")
    // `ledger/replay` without `into` makes a temp dir, the caller's to keep: inside root, it goes with the test's
    env["TMPDIR"] = Path.join(root, "tmp")
    Fs.mkdirSync(env["TMPDIR"], { recursive: true })
    this.child = spawn(process.execPath, [MAIN, "serve"], { cwd: Path.join(root, "cwd"), env, stdio: ["pipe", "pipe", "pipe"] })
    this.child.stdout.setEncoding("utf8")
    this.child.stderr.setEncoding("utf8")
    this.child.stdout.on("data", (chunk: string) => {
      this.pending += chunk
      let newline = this.pending.indexOf("\n")
      while (newline >= 0) {
        const line = this.pending.slice(0, newline)
        this.pending = this.pending.slice(newline + 1)
        try {
          parse(line)
        } catch {
          this.nonJson.push(line)
        }
        this.lines.push(line)
        newline = this.pending.indexOf("\n")
      }
      this.wake()
    })
    this.child.stderr.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000)
    })
    this.child.stdin.on("error", () => {})
    this.exit = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        this.exited = { code, signal }
        this.wake()
        resolve({ code, signal })
      })
    })
  }

  static async start(root: string, options: { readonly initialize?: boolean } = {}): Promise<Server> {
    const server = new Server(root)
    if (options.initialize !== false) {
      const response = await server.request("initialize", { clientInfo: { name: "bad-input", version: "1" } }, "init")
      assert.isTrue(isRecord(at(response, "result")), JSON.stringify(response))
      server.send("{\"method\":\"initialized\"}")
      // `initialize` is answered before the engine is up; an answer from the engine means its start-up (the
      // ledger's creation) is over, so what the tests snapshot next is the state a bad request must not change
      await server.request("plugin/history", { limit: 0 }, "ready")
    }
    return server
  }

  send(text: string | Buffer): void {
    this.child.stdin.write(typeof text === "string" ? `${text}\n` : Buffer.concat([text, Buffer.from("\n")]))
  }

  /** Waits for the response with `id`; returns it and the lines that came before it since the last wait. */
  private async until(id: Id): Promise<{ readonly before: ReadonlyArray<string>; readonly response: unknown }> {
    const deadline = Date.now() + TIMEOUT_MS
    for (;;) {
      for (let index = this.consumed; index < this.lines.length; index++) {
        const line = this.lines[index] ?? ""
        if (this.nonJson.includes(line)) continue
        const value = parse(line)
        if (at(value, "id") === id && ("result" in Object(value) || "error" in Object(value))) {
          // our server notifications (plugin/changed after an install, ...) are protocol, not answers
          const before = this.lines.slice(this.consumed, index).filter((l) => !isServerNotification(l))
          this.consumed = index + 1
          return { before, response: value }
        }
      }
      if (this.exited !== undefined) {
        return assert.fail(`server exited (${JSON.stringify(this.exited)}) before answering ${id}; stderr:\n${this.stderr}`)
      }
      const remaining = deadline - Date.now()
      if (remaining <= 0) return assert.fail(`no response to ${JSON.stringify(id)} within ${TIMEOUT_MS} ms; stderr:\n${this.stderr}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }

  /** Sends one request and returns its response; nothing else may be written before it. */
  async request(method: string, params: unknown, id: Id = `r-${this.sentinels++}`): Promise<unknown> {
    this.send(JSON.stringify(params === undefined ? { id, method } : { id, method, params }))
    const { before, response } = await this.until(id)
    assert.deepStrictEqual(before, [], `unexpected output before the response to ${method}`)
    if (method === "initialize" && at(response, "result") !== undefined) this.initialized = true
    return response
  }

  /**
   * Sends a frame followed by a `plugin/list` sentinel; returns the lines written in answer to the frame. The
   * server handles a connection's frames in order, so they all come before the sentinel's response.
   */
  async exchange(frame: string | Buffer): Promise<ReadonlyArray<string>> {
    const id = `__sentinel__${this.sentinels++}`
    this.send(frame)
    this.send(JSON.stringify({ id, method: "plugin/list", params: {} }))
    const { before, response } = await this.until(id)
    const served = this.initialized
      ? Array.isArray(at(response, "result", "marketplaces"))
      : at(response, "error", "message") === "Not initialized"
    assert.isTrue(served, `sentinel failed: ${JSON.stringify(response)}`)
    return before
  }

  /** Closes stdin and waits for the exit. */
  async close(): Promise<Exit> {
    this.child.stdin.end()
    const timer = setTimeout(() => this.child.kill("SIGKILL"), TIMEOUT_MS)
    const exit = await this.exit
    clearTimeout(timer)
    return exit
  }

  kill(): void {
    if (this.exited === undefined) this.child.kill("SIGKILL")
  }
}

const write = (file: string, content: string): void => {
  Fs.mkdirSync(Path.dirname(file), { recursive: true })
  Fs.writeFileSync(file, content)
}

const marketplace = (repo: string, name: string, plugins: ReadonlyArray<{ readonly name: string; readonly path: string }>) =>
  write(
    Path.join(repo, ".agents/plugins/marketplace.json"),
    JSON.stringify({ name, plugins: plugins.map((p) => ({ name: p.name, source: { source: "local", path: p.path } })) })
  )

const pluginDir = (dir: string, name: string): void => {
  write(Path.join(dir, ".codex-plugin/plugin.json"), JSON.stringify({ name }))
}

/**
 * <root>/home (CODEX_HOME), userhome (HOME), cwd; outside/ (a secret, a plugin, a skill); repos whose entries
 * escape (`esc-*`); `links/` with a plugin dir symlinked out of the root and a plugin holding outward symlinks.
 */
const makeRoot = (): string => {
  const root = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "serve-bad-input-")))
  for (const dir of ["home", "userhome", "cwd"]) Fs.mkdirSync(Path.join(root, dir))
  write(Path.join(root, "home/config.toml"), CONFIG)
  const outside = Path.join(root, "outside")
  write(Path.join(outside, "secret.txt"), SECRET)
  pluginDir(Path.join(outside, "linked"), "linked")
  write(Path.join(outside, "skills/evil/SKILL.md"), `---\nname: evil\ndescription: ${SECRET}\n---\n`)
  const escapes: Record<string, string> = {
    "esc-parent": "./../outside/linked",
    "esc-inner-parent": "./plugins/../../outside/linked",
    "esc-absolute": Path.join(outside, "linked"),
    "esc-dot": "./",
    "esc-bare": "../outside/linked",
    "esc-empty": ""
  }
  for (const [repo, path] of Object.entries(escapes)) marketplace(Path.join(root, repo), repo, [{ name: "linked", path }])
  const links = Path.join(root, "links")
  marketplace(links, "links", [
    { name: "linked", path: "./plugins/linked" },
    { name: "has-links", path: "./plugins/has-links" }
  ])
  Fs.mkdirSync(Path.join(links, "plugins"), { recursive: true })
  Fs.symlinkSync(Path.join(outside, "linked"), Path.join(links, "plugins/linked"))
  const hasLinks = Path.join(links, "plugins/has-links")
  pluginDir(hasLinks, "has-links")
  write(Path.join(hasLinks, "README.md"), "inside\n")
  Fs.symlinkSync(Path.join(outside, "secret.txt"), Path.join(hasLinks, "notes.txt"))
  Fs.symlinkSync(outside, Path.join(hasLinks, "data"))
  Fs.mkdirSync(Path.join(hasLinks, "skills"))
  Fs.symlinkSync(Path.join(outside, "skills/evil"), Path.join(hasLinks, "skills/evil"))
  return root
}

const marketplacePath = (root: string, repo: string) => Path.join(root, repo, ".agents/plugins/marketplace.json")


/** The log holds only its genesis record, there is no plugin cache, config.toml is as written. */
const assertHomeUntouched = (home: string): void => {
  const events = Path.join(home, "ledger/events")
  const records = Fs.readdirSync(events).flatMap((file) =>
    Fs.readFileSync(Path.join(events, file), "utf8").split("\n").filter((line) => line !== "")
  )
  assert.deepStrictEqual(records.map((line) => at(parse(line), "type")), ["LogCreated"])
  assert.isFalse(Fs.existsSync(Path.join(home, "plugins")), "a plugins/ dir appeared in CODEX_HOME")
  assert.strictEqual(Fs.readFileSync(Path.join(home, "config.toml"), "utf8"), CONFIG)
}

const errorOf = (line: string | undefined): { readonly code: unknown; readonly message: string; readonly id: unknown } => {
  if (line === undefined) return assert.fail("expected a reply line")
  const value = parse(line)
  const keys = Object.keys(Object(value))
  assert.isTrue(
    JSON.stringify(keys) === "[\"error\",\"id\"]" || JSON.stringify(keys) === "[\"jsonrpc\",\"error\",\"id\"]",
    `not an error response: ${line.slice(0, 300)}`
  )
  return { code: at(value, "error", "code"), message: String(at(value, "error", "message")), id: at(value, "id") }
}

/** The frame gets exactly one error reply, with this code, id and message (a RegExp or an exact string). */
const expectError = async (
  server: Server,
  frame: string | Buffer,
  expected: { readonly code: number; readonly id: Id | null; readonly message: RegExp | string }
): Promise<string> => {
  const replies = await server.exchange(frame)
  const label = typeof frame === "string" ? frame.slice(0, 120) : "<bytes>"
  assert.strictEqual(replies.length, 1, `replies to ${label}: ${JSON.stringify(replies).slice(0, 500)}`)
  const error = errorOf(replies[0])
  assert.strictEqual(error.code, expected.code, `${label}: ${error.message}`)
  assert.strictEqual(error.id, expected.id, label)
  if (typeof expected.message === "string") assert.strictEqual(error.message, expected.message, label)
  else assert.match(error.message, expected.message, label)
  return error.message
}

const expectSilence = async (server: Server, frame: string): Promise<void> => {
  assert.deepStrictEqual(await server.exchange(frame), [], `expected no reply to ${frame.slice(0, 120)}`)
}

const req = (id: Id, method: string, params?: unknown) =>
  JSON.stringify(params === undefined ? { id, method } : { id, method, params })

const PARSE = { code: -32700, id: null, message: /^Parse error: / } as const
const NOT_OBJECT = { code: -32600, id: null, message: "Invalid request: expected a JSON object" } as const
const BAD_ID = { code: -32600, id: null, message: "Invalid request: request id must be a string or an integer" } as const
const NO_BASE = "Invalid request: AbsolutePathBuf deserialized without a base path"

/** Runs `body` against a fresh server in a fresh root; checks the common invariants afterwards. */
const withServer = async (
  options: { readonly initialize?: boolean; readonly homeUntouched?: boolean },
  body: (server: Server, root: string) => Promise<void>
): Promise<void> => {
  const root = makeRoot()
  const server = await Server.start(root, options)
  try {
    await body(server, root)
    const exit = await server.close()
    assert.deepStrictEqual(exit, { code: 0, signal: null }, server.stderr)
    assert.deepStrictEqual(server.nonJson, [], "stdout carried non-JSON lines")
    if (options.homeUntouched !== false) assertHomeUntouched(server.home)
  } finally {
    server.kill()
    Fs.rmSync(root, { recursive: true, force: true })
  }
}

describe("serve: malformed frames", () => {
  it("parse errors, truncated and huge lines, deep nesting, non-objects, bad ids", () =>
    withServer({}, async (server) => {
      const before = snapshotTree(server.home)
      await expectError(server, "garbage", PARSE)
      await expectError(server, "{\"id\":1,\"method\":\"plugin/li", PARSE)
      await expectError(server, "{\"id\":1,\"method\":\"plugin/list\",\"params\":{", PARSE)
      await expectError(server, "{\"id\":1,}", PARSE)
      await expectError(server, "x".repeat(5 * 1024 * 1024), PARSE)
      await expectError(server, "[".repeat(5 * 1024 * 1024), PARSE)
      await expectError(server, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), PARSE)

      // a 5 MB valid request is served normally
      const big = await server.exchange(req("big", "plugin/list", { pad: "y".repeat(5 * 1024 * 1024) }))
      assert.strictEqual(big.length, 1)
      assert.isTrue(Array.isArray(at(parse(big[0] ?? ""), "result", "marketplaces")))

      const deepArray = `${"[".repeat(10_000)}${"]".repeat(10_000)}`
      const deepObject = `${"{\"a\":".repeat(10_000)}1${"}".repeat(10_000)}`
      await expectError(server, deepArray, NOT_OBJECT)
      await expectError(server, deepObject, { code: -32600, id: null, message: "Invalid request: missing field `method`" })
      await expectError(server, `{"id":"deep","method":"plugin/list","params":{"cwds":${deepArray}}}`, {
        code: -32600,
        id: "deep",
        message: "Invalid request: invalid type: sequence, expected path string"
      })
      const deepPad = await server.exchange(`{"id":"pad","method":"plugin/list","params":{"pad":${deepObject}}}`)
      assert.isTrue(Array.isArray(at(parse(deepPad[0] ?? ""), "result", "marketplaces")))
      await expectError(server, `{"id":${deepArray},"method":"plugin/list","params":{}}`, BAD_ID)

      for (const frame of ["[]", "[1,2]", "\"x\"", "5", "null", "true", "[{\"id\":1,\"method\":\"plugin/list\"}]"]) {
        await expectError(server, frame, NOT_OBJECT)
      }
      await expectError(server, "{}", { code: -32600, id: null, message: "Invalid request: missing field `method`" })
      await expectError(server, "{\"id\":24}", { code: -32600, id: 24, message: "Invalid request: missing field `method`" })
      await expectSilence(server, "{\"id\":7,\"result\":{}}")
      await expectSilence(server, "   ")

      for (const id of ["1.5", "{}", "{\"a\":1}", "[1]", "true", "9223372036854775808", "1e300"]) {
        await expectError(server, `{"id":${id},"method":"plugin/list","params":{}}`, BAD_ID)
      }
      // i64 ids keep their digits
      const i64 = await server.exchange("{\"id\":9223372036854775807,\"method\":\"plugin/list\",\"params\":{}}")
      assert.match(i64[0] ?? "", /^\{"id":9223372036854775807,"result":\{/)
      await expectSilence(server, "{\"id\":null,\"method\":\"plugin/list\",\"params\":{}}")
      await expectError(server, "{\"id\":23,\"method\":5}", { code: -32600, id: 23, message: "Invalid request: method must be a string" })
      await expectError(server, "{\"id\":\"m\",\"method\":null,\"params\":{}}", {
        code: -32600,
        id: "m",
        message: "Invalid request: method must be a string"
      })

      // framing: a lone \r is whitespace inside a frame, CRLF ends one
      const crFrame = await server.exchange("{\"id\":\"cr\",\r\"method\":\"plugin/list\",\r\"params\":{}}")
      assert.strictEqual(at(parse(crFrame[0] ?? ""), "id"), "cr")
      const crlf = await server.exchange(`${req("crlf", "plugin/list", {})}\r`)
      assert.strictEqual(at(parse(crlf[0] ?? ""), "id"), "crlf")
      // jsonrpc is echoed only when sent
      const echoed = await server.exchange(JSON.stringify({ jsonrpc: "2.0", id: "j", method: "plugin/list", params: {} }))
      assert.deepStrictEqual(Object.keys(Object(parse(echoed[0] ?? ""))), ["jsonrpc", "id", "result"])
      assert.deepStrictEqual(snapshotTree(server.home), before)
    }))
})

describe("serve: bad requests", () => {
  it("unknown methods, missing/null params, wrong types, relative paths, hostile ids and names", () =>
    withServer({}, async (server, root) => {
      const before = snapshotTree(server.home)
      await expectError(server, req(1, "nope", {}), {
        code: -32600,
        id: 1,
        message: /^Invalid request: unknown variant `nope`, expected one of `initialize`, `plugin\/list`, /
      })
      await expectError(server, req(2, "../../etc/passwd", {}), { code: -32600, id: 2, message: /unknown variant `\.\.\/\.\.\/etc\/passwd`/ })
      await expectError(server, req(3, "initialized"), { code: -32600, id: 3, message: /unknown variant `initialized`/ })
      await expectSilence(server, JSON.stringify({ method: "nope", params: { a: 1 } }))
      await expectSilence(server, JSON.stringify({ method: "plugin/install", params: { marketplacePath: "/x", pluginName: "p" } }))

      for (const method of methodParams.keys()) {
        await expectError(server, req(`none-${method}`, method), { code: -32600, id: `none-${method}`, message: "Invalid request: missing field `params`" })
        await expectError(server, req(`null-${method}`, method, null), { code: -32600, id: `null-${method}`, message: "Invalid request: missing field `params`" })
        await expectError(server, req(`int-${method}`, method, 5), { code: -32600, id: `int-${method}`, message: /^Invalid request: invalid type: integer `5`, expected struct / })
      }

      const types: ReadonlyArray<readonly [string, unknown, string]> = [
        ["plugin/read", { marketplacePath: 1, pluginName: "x" }, "Invalid request: invalid type: integer `1`, expected path string"],
        ["plugin/read", { marketplacePath: "/x", pluginName: null }, "Invalid request: invalid type: null, expected a string"],
        ["plugin/read", { marketplacePath: "/x", pluginName: ["a"] }, "Invalid request: invalid type: sequence, expected a string"],
        ["plugin/read", { marketplacePath: "/x", pluginName: { a: 1 } }, "Invalid request: invalid type: map, expected a string"],
        ["plugin/read", { marketplacePath: "/x", pluginName: 1.5 }, "Invalid request: invalid type: floating point `1.5`, expected a string"],
        ["plugin/list", { forceRemoteSync: "yes" }, "Invalid request: invalid type: string \"yes\", expected a boolean"],
        ["plugin/list", { cwds: "/x" }, "Invalid request: invalid type: string \"/x\", expected a sequence"],
        ["plugin/install", { marketplacePath: "/x", pluginName: "p", idempotencyKey: 5 }, "Invalid request: invalid type: integer `5`, expected a string"],
        ["plugin/uninstall", { pluginId: true }, "Invalid request: invalid type: boolean `true`, expected a string"],
        ["plugin/enable", {}, "Invalid request: missing field `pluginId`"],
        ["plugin/history", { limit: -1 }, "Invalid request: invalid value: integer `-1`, expected u32"],
        ["plugin/history", { limit: "3" }, "Invalid request: invalid type: string \"3\", expected u32"],
        ["plugin/read", ["/x", "p", "extra"], "Invalid request: invalid length 3, expected 2 elements in sequence"],
        // relative and empty paths
        ["plugin/read", { marketplacePath: "rel/marketplace.json", pluginName: "p" }, NO_BASE],
        ["plugin/read", { marketplacePath: "", pluginName: "p" }, NO_BASE],
        ["plugin/install", { marketplacePath: "../x", pluginName: "p" }, NO_BASE],
        ["plugin/list", { cwds: ["/ok", "."] }, NO_BASE],
        ["plugin/list", { cwds: [""] }, NO_BASE]
      ]
      for (const [index, [method, params, message]] of types.entries()) {
        await expectError(server, req(`t${index}`, method, params), { code: -32600, id: `t${index}`, message })
      }

      // `..` and absolute paths in plugin ids and names
      const idErrors: ReadonlyArray<readonly [string, string]> = [
        ["../x", "invalid plugin key `../x`; expected <plugin>@<marketplace>"],
        ["/etc/passwd", "invalid plugin key `/etc/passwd`; expected <plugin>@<marketplace>"],
        ["a@../../b", "invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed in `a@../../b`"],
        ["../../x@m", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `../../x@m`"],
        ["/etc/passwd@m", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `/etc/passwd@m`"],
        ["@", "invalid plugin key `@`; expected <plugin>@<marketplace>"]
      ]
      for (const method of ["plugin/uninstall", "plugin/enable", "plugin/disable"]) {
        for (const [pluginId, message] of idErrors) {
          await expectError(server, req(`${method}:${pluginId}`, method, { pluginId }), { code: -32600, id: `${method}:${pluginId}`, message })
        }
      }
      const links = marketplacePath(root, "links")
      for (const pluginName of ["../x", "/etc/passwd", "..", "linked/../has-links", ""]) {
        for (const method of ["plugin/install", "plugin/read"]) {
          await expectError(server, req(`${method}:${pluginName}`, method, { marketplacePath: links, pluginName }), {
            code: -32600,
            id: `${method}:${pluginName}`,
            message: /plugin `.*` was not found in marketplace `links`|invalid plugin name/
          })
        }
      }
      // absolute paths that are not marketplaces; `..` in them is resolved lexically first
      await expectError(server, req("passwd", "plugin/install", { marketplacePath: "/etc/passwd", pluginName: "p" }), {
        code: -32600,
        id: "passwd",
        message: /^invalid marketplace file `\/etc\/passwd`: /
      })
      await expectError(server, req("dotdot", "plugin/read", { marketplacePath: `${root}/links/../nowhere/./m.json`, pluginName: "p" }), {
        code: -32600,
        id: "dotdot",
        message: `marketplace file \`${root}/nowhere/m.json\` does not exist`
      })
      await expectError(server, req("dir", "plugin/read", { marketplacePath: "/", pluginName: "p" }), {
        code: -32603,
        id: "dir",
        message: /Is a directory \(os error 21\)$/
      })
      // uninstalling something never installed succeeds and records nothing
      const uninstalled = await server.exchange(req("noop", "plugin/uninstall", { pluginId: "a@b" }))
      assert.deepStrictEqual(uninstalled, ["{\"id\":\"noop\",\"result\":{}}"])
      await expectError(server, req("not-installed", "plugin/disable", { pluginId: "a@b" }), {
        code: -32600,
        id: "not-installed",
        message: "plugin `a@b` is not installed"
      })
      assert.deepStrictEqual(snapshotTree(server.home), before)
    }))

  it("marketplace entries that escape their root and a plugin dir symlinked out of it are refused", () =>
    withServer({}, async (server, root) => {
      for (const repo of ["esc-parent", "esc-inner-parent", "esc-absolute", "esc-dot", "esc-bare", "esc-empty"]) {
        for (const method of ["plugin/install", "plugin/read"]) {
          await expectError(server, req(`${repo}:${method}`, method, { marketplacePath: marketplacePath(root, repo), pluginName: "linked" }), {
            code: -32600,
            id: `${repo}:${method}`,
            message: new RegExp(`^invalid marketplace file \`${marketplacePath(root, repo)}\`: local plugin source path must`)
          })
        }
        // listing reports the bad file instead of failing the whole list
        const listed = await server.exchange(req(`${repo}:list`, "plugin/list", { cwds: [Path.join(root, repo)] }))
        const view = parse(listed[0] ?? "")
        assert.deepStrictEqual(at(view, "result", "marketplaces"), [])
        assert.strictEqual(at(view, "result", "marketplaceLoadErrors", "length"), 1, JSON.stringify(view))
        assert.strictEqual(at(view, "result", "marketplaceLoadErrors", "0", "marketplacePath"), marketplacePath(root, repo))
        assert.match(String(at(view, "result", "marketplaceLoadErrors", "0", "message")), /local plugin source path must/)
      }
      // the entry path `./plugins/linked` is lexically inside, but the directory is a symlink to outside/
      await expectError(server, req("linked", "plugin/install", { marketplacePath: marketplacePath(root, "links"), pluginName: "linked" }), {
        code: -32600,
        id: "linked",
        message: /local plugin source path must stay within the marketplace root/
      })
    }))
})

describe("serve: a plugin holding symlinks that point outside it", () => {
  it("installs without following or copying them; read lists no skill from outside", () =>
    withServer({ homeUntouched: false }, async (server, root) => {
      const links = marketplacePath(root, "links")
      const read = await server.request("plugin/read", { marketplacePath: links, pluginName: "has-links" })
      assert.notInclude(JSON.stringify(read), SECRET)
      assert.deepStrictEqual(at(read, "result", "plugin", "skills"), [])
      const installed = await server.request("plugin/install", { marketplacePath: links, pluginName: "has-links" })
      assert.deepStrictEqual(at(installed, "result"), { authPolicy: "ON_INSTALL", appsNeedingAuth: [] })
      const cache = Path.join(server.home, "plugins/cache/links/has-links/local")
      assert.deepStrictEqual(snapshotTree(cache).map((entry) => entry.split(" ").slice(0, 2).join(" ")), [
        "dir .codex-plugin",
        "file .codex-plugin/plugin.json",
        "file README.md",
        "dir skills"
      ])
      // the server is still at work after its answer (durability in the background), hence a live snapshot
      for (const entry of snapshotTree(server.home, { live: true })) assert.notMatch(entry, /^link /)
      const cached = snapshotTree(cache).filter((e) => e.startsWith("file ")).map((e) => Fs.readFileSync(Path.join(cache, e.split(" ")[1] ?? ""), "utf8"))
      for (const content of cached) assert.notInclude(content, SECRET)
      // the source tree is left as it was
      assert.strictEqual(Fs.readlinkSync(Path.join(root, "links/plugins/has-links/notes.txt")), Path.join(root, "outside/secret.txt"))
    }))
})

describe("serve: the handshake", () => {
  it("answers requests before initialize and accepts initialize afterwards", () =>
    withServer({ initialize: false }, async (server) => {
      await expectError(server, req(1, "plugin/list", {}), { code: -32600, id: 1, message: "Not initialized" })
      await expectError(server, req(2, "plugin/install", { marketplacePath: "/x", pluginName: "p" }), { code: -32600, id: 2, message: "Not initialized" })
      await expectError(server, req(3, "plugin/history", {}), { code: -32600, id: 3, message: "Not initialized" })
      // params are decoded before the session check, as the reference does
      await expectError(server, req(4, "plugin/list", { cwds: 5 }), { code: -32600, id: 4, message: "Invalid request: invalid type: integer `5`, expected a sequence" })
      await expectError(server, req(5, "plugin/list"), { code: -32600, id: 5, message: "Invalid request: missing field `params`" })
      await expectError(server, req(6, "nope", {}), { code: -32600, id: 6, message: /^Invalid request: unknown variant `nope`/ })
      await expectError(server, "garbage", PARSE)
      await expectSilence(server, "{\"method\":\"initialized\"}")
      await expectError(server, req(7, "initialize", { clientInfo: { name: "a" } }), { code: -32600, id: 7, message: "Invalid request: missing field `version`" })
      await expectError(server, req(8, "initialize"), { code: -32600, id: 8, message: "Invalid request: missing field `params`" })
      const ok = await server.request("initialize", [{ name: "seq-form", title: null, version: "1" }, null], 9)
      assert.strictEqual(at(ok, "result", "platformFamily"), "unix")
      await expectError(server, req(10, "initialize", { clientInfo: { name: "a", version: "1" } }), { code: -32600, id: 10, message: "Already initialized" })
      const listed = await server.request("plugin/list", {}, 11)
      assert.deepStrictEqual(at(listed, "result"), { marketplaces: [], remoteSyncError: null })
    }))
})

describe("serve: stdin EOF", () => {
  it("answers every request in flight, then exits 0", async () => {
    const root = makeRoot()
    const server = new Server(root)
    try {
      const ids: Array<Id> = []
      const lines = [req("init", "initialize", { clientInfo: { name: "eof", version: "1" } }), "{\"method\":\"initialized\"}"]
      for (let i = 0; i < 40; i++) {
        const method = ["plugin/list", "plugin/history", "plugin/read", "plugin/uninstall"][i % 4] ?? "plugin/list"
        const params = method === "plugin/read"
          ? { marketplacePath: marketplacePath(root, "links"), pluginName: "has-links" }
          : method === "plugin/uninstall"
          ? { pluginId: "a@b" }
          : {}
        lines.push(req(i, method, params))
        ids.push(i)
        if (i % 10 === 0) lines.push("garbage")
      }
      server.send(lines.join("\n"))
      const exit = await server.close()
      assert.deepStrictEqual(exit, { code: 0, signal: null }, server.stderr)
      assert.deepStrictEqual(server.nonJson, [])
      // answers only: the server's own notifications (the ledger's creation, after the early initialize answer) aside
      const answered = server.lines.map(parse).filter((message) => at(message, "method") === undefined).map((message) => at(message, "id"))
      assert.deepStrictEqual(answered.filter((id) => id !== null && id !== "init"), ids)
      assert.strictEqual(answered.filter((id) => id === null).length, 4)
      assertHomeUntouched(server.home)
    } finally {
      server.kill()
      Fs.rmSync(root, { recursive: true, force: true })
    }
  })
})

// ---- the property: random frames ----

const METHODS = [...methodParams.keys(), "initialized", "thread/start", "plugin/unknown", "", "PLUGIN/LIST", "plugin/list/"]

/** What the server must write for one frame: nothing, or one response with this id. */
const expectedReply = (frame: string): { readonly count: 0 } | { readonly count: 1; readonly id: unknown } => {
  let text = Buffer.from(frame, "utf8").toString("utf8") // as the wire carries it (lone surrogates become U+FFFD)
  if (text.endsWith("\r")) text = text.slice(0, -1)
  if (text.trim() === "") return { count: 0 }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { count: 1, id: null }
  }
  if (!isRecord(value)) return { count: 1, id: null }
  const id = value["id"]
  const hasId = "id" in value && id !== null
  // a string or an i64 (frames come from JSON.stringify, so an integral double's text is JSON.stringify's)
  const idText = typeof id === "number" ? JSON.stringify(id) : ""
  const validId = typeof id === "string" || Number.isSafeInteger(id) ||
    (/^-?\d+$/.test(idText) && BigInt(idText) >= -(2n ** 63n) && BigInt(idText) < 2n ** 63n)
  if (!("method" in value)) {
    if (hasId && ("result" in value || "error" in value)) return { count: 0 }
    return { count: 1, id: validId ? id : null }
  }
  if (hasId && !validId) return { count: 1, id: null }
  if (typeof value["method"] !== "string") return { count: 1, id: validId ? id : null }
  return hasId ? { count: 1, id } : { count: 0 }
}

const frameArbitrary = (root: string): fc.Arbitrary<string> => {
  const paths = fc.constantFrom(
    "/",
    "/etc/passwd",
    "rel",
    "",
    "../x",
    "./x",
    "/nonexistent/a/../b",
    `${root}/nothing/.agents/plugins/marketplace.json`,
    `${root}/esc-parent/.agents/plugins/marketplace.json`,
    "a@b",
    "a@../../b",
    "/etc/passwd@m"
  )
  const value: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 4, arbitrary: paths },
    { weight: 2, arbitrary: fc.string() },
    { weight: 1, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.array(paths, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }
  )
  const knownParams = fc.record(
    {
      marketplacePath: value,
      pluginName: value,
      pluginId: value,
      cwds: value,
      // a valid `forceRemoteSync: true` is not bad input: it runs (and records) a remote sync
      forceRemoteSync: value.filter((v) => v !== true),
      idempotencyKey: value,
      limit: value,
      clientInfo: fc.oneof(value, fc.record({ name: value, version: value }, { requiredKeys: [] })),
      capabilities: value
    },
    { requiredKeys: [] }
  )
  const params = fc.oneof(
    { weight: 6, arbitrary: knownParams },
    { weight: 1, arbitrary: fc.array(value, { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.constant(null) }
  )
  const id = fc.oneof(
    { weight: 4, arbitrary: fc.integer() },
    { weight: 3, arbitrary: fc.string() },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constant(2 ** 53 + 2) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }
  )
  const structured = fc
    .record(
      {
        jsonrpc: fc.constantFrom("2.0", "1.0"),
        id,
        method: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: value }),
        params,
        result: fc.jsonValue({ maxDepth: 1 })
      },
      { requiredKeys: ["method"] }
    )
    .map((frame) => JSON.stringify(frame))
  return fc.oneof(
    { weight: 10, arbitrary: structured },
    { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: "binary" }).map((s) => s.replaceAll("\n", " ")) },
    { weight: 1, arbitrary: fc.tuple(structured, fc.nat()).map(([frame, cut]) => frame.slice(0, cut % (frame.length + 1))) }
  )
}

const RESPONSE_KEYS = new Set(["[\"id\",\"result\"]", "[\"error\",\"id\"]", "[\"jsonrpc\",\"id\",\"result\"]", "[\"jsonrpc\",\"error\",\"id\"]"])

describe("serve: random frames (fast-check)", () => {
  it("answers or ignores each of ~2,000 random frames as the protocol says, and keeps serving", () =>
    withServer({}, async (server, root) => {
      let frames = 0
      const seed = seedFor("serve-random-frames")
      await fc.assert(
        fc.asyncProperty(frameArbitrary(root), async (frame) => {
          frames++
          const replies = await server.exchange(frame)
          const expected = expectedReply(frame)
          assert.strictEqual(replies.length, expected.count, `frame ${frame.slice(0, 300)} -> ${JSON.stringify(replies).slice(0, 300)}`)
          if (expected.count === 1) {
            const reply = parse(replies[0] ?? "")
            assert.isTrue(RESPONSE_KEYS.has(JSON.stringify(Object.keys(Object(reply)))), `${frame.slice(0, 200)} -> ${replies[0]}`)
            assert.deepStrictEqual(at(reply, "id"), expected.id, frame.slice(0, 200))
            // an unexpected defect surfaces as the generic internal error
            assert.notStrictEqual(at(reply, "error", "message"), "Internal error", `${frame.slice(0, 200)}\n${server.stderr}`)
          }
        }),
        { numRuns: 2_000, seed }
      )
      assert.isAtLeast(frames, 2_000)
    }), 90_000)
})
