/**
 * Differential check of the remote curated sync: the reference (`codex app-server` 0.116.0) and `plugin-ledger serve`
 * each get the same CODEX_HOME (the reference test's curated layout, a ChatGPT auth.json) pointing `chatgpt_base_url`
 * at one loopback server, and answer `plugin/list {forceRemoteSync: true}`. Asserted identical: the request each sends
 * (method, path, auth headers), the response line (temp root normalised), config.toml bytes and the cache tree.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { curatedHome, serve, type Served } from "../support/RemoteServer.ts"

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
/** auth.json as Codex writes it for ChatGPT auth (the id token is a JWT whose claims name the account) */
const AUTH = JSON.stringify({
  OPENAI_API_KEY: null,
  tokens: {
    id_token: `${b64({ alg: "none", typ: "JWT" })}.${b64({ email: "user@example.com", "https://api.openai.com/auth": { chatgpt_plan_type: "pro", chatgpt_user_id: "user-123", chatgpt_account_id: "account-123" } })}.sig`,
    access_token: "chatgpt-token",
    refresh_token: "refresh-token",
    account_id: "account-123"
  },
  last_refresh: new Date().toISOString()
})

const listSynced = (target: "reference" | "ours", home: string, cwd: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const [command, args] = target === "reference"
      ? [Path.resolve("node_modules/.bin/codex"), ["app-server"]]
      : [process.execPath, [Path.resolve("src/cli/main.ts"), "serve"]]
    const child = spawn(command, args, {
      cwd,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", CODEX_HOME: home, HOME: home, CODEX_DISABLE_CURATED_PLUGIN_SYNC: "1" },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let buffer = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${target}: no answer`))
    }, 30_000)
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8")
      for (const line of buffer.split("\n")) {
        if (line.startsWith("{\"id\":1,")) {
          clearTimeout(timer)
          child.kill("SIGTERM")
          resolve(line)
        }
      }
    })
    child.on("error", reject)
    child.stdin.write(`${JSON.stringify({ id: 0, method: "initialize", params: { clientInfo: { name: "conformance", title: null, version: "1" } } })}\n`)
    child.stdin.write(`${JSON.stringify({ method: "initialized" })}\n`)
    child.stdin.write(`${JSON.stringify({ id: 1, method: "plugin/list", params: { cwds: null, forceRemoteSync: true } })}\n`)
  })

const tree = (dir: string): ReadonlyArray<string> =>
  NodeFs.existsSync(dir) ? NodeFs.readdirSync(dir, { recursive: true }).map(String).sort() : []

const run = async (target: "reference" | "ours", server: Served, prepare: (home: string) => void) => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), `remote-diff-${target}-`)))
  try {
    const home = curatedHome(root, server.url, { auth: AUTH })
    prepare(home)
    NodeFs.mkdirSync(Path.join(root, "cwd"))
    const before = server.requests.length
    const line = await listSynced(target, home, Path.join(root, "cwd"))
    const requests = server.requests.slice(before).map((r) => ({
      method: r.method,
      url: r.url,
      authorization: r.headers["authorization"],
      account: r.headers["chatgpt-account-id"]
    }))
    return {
      line: line.replaceAll(root, "<ROOT>").replaceAll(server.url, "<SERVER>"),
      config: NodeFs.readFileSync(Path.join(home, "config.toml"), "utf8").replaceAll(server.url, "<SERVER>"),
      cache: tree(Path.join(home, "plugins", "cache")),
      requests
    }
  } finally {
    NodeFs.rmSync(root, { recursive: true, force: true })
  }
}

const cases: ReadonlyArray<{ readonly name: string; readonly status?: number; readonly body: string; readonly prepare?: (home: string) => void }> = [
  {
    name: "reconcile (enable, uninstall, remote enabled:false)",
    body: JSON.stringify([
      { id: "1", name: "linear", marketplace_name: "openai-curated", version: "1.0.0", enabled: true },
      { id: "2", name: "gmail", marketplace_name: "openai-curated", version: "1.0.0", enabled: false }
    ])
  },
  {
    name: "install at the sha",
    body: JSON.stringify([{ name: "linear", enabled: true }, { name: "gmail", enabled: true }]),
    prepare: (home) => {
      NodeFs.rmSync(Path.join(home, "plugins/cache/openai-curated/gmail"), { recursive: true })
      NodeFs.writeFileSync(Path.join(home, ".tmp/plugins/plugins/gmail/x.txt"), "hello\n")
    }
  },
  { name: "500", status: 500, body: "oops" },
  { name: "malformed", body: "[{\"name\":\"x\",\"enabled\":\"yes\"}]" },
  { name: "duplicate", body: JSON.stringify([{ name: "linear", enabled: true }, { name: "linear", enabled: true }]) }
]

describe("remote sync: reference vs plugin-ledger", () => {
  for (const c of cases) {
    it(`${c.name}: same request, answer, config.toml and cache`, async () => {
      const server = await serve({ body: c.body, ...(c.status === undefined ? {} : { status: c.status }) })
      try {
        const prepare = c.prepare ?? (() => undefined)
        const reference = await run("reference", server, prepare)
        const ours = await run("ours", server, prepare)
        assert.deepStrictEqual(ours.requests, reference.requests)
        assert.strictEqual(reference.requests.length, 1)
        assert.strictEqual(ours.line, reference.line)
        assert.strictEqual(ours.config, reference.config)
        assert.deepStrictEqual(ours.cache, reference.cache)
      } finally {
        await server.close()
      }
    }, 60_000)
  }
})
