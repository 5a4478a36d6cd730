/** Test helpers of the remote sync suites: a loopback `/backend-api/plugins/list`, the reference's curated layout. */
import * as Http from "node:http"
import * as NodeFs from "node:fs"
import * as Path from "node:path"

export const SHA = "0123456789abcdef0123456789abcdef01234567"

export interface Served {
  readonly url: string
  readonly requests: Array<{ readonly method: string; readonly url: string; readonly headers: Http.IncomingHttpHeaders }>
  readonly close: () => Promise<void>
}

/** A loopback server answering `/backend-api/plugins/list` with `status` and `body` after `delayMs`. */
export const serve = (answer: { readonly status?: number; readonly body: string | Buffer; readonly delayMs?: number }): Promise<Served> =>
  new Promise((resolve) => {
    const requests: Served["requests"] = []
    const server = Http.createServer((req, res) => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers })
      const send = () => {
        res.writeHead(answer.status ?? 200, { "content-type": "application/json" })
        res.end(answer.body)
      }
      if (answer.delayMs === undefined) send()
      else setTimeout(send, answer.delayMs).unref()
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({
        url: `http://127.0.0.1:${port}/backend-api/`,
        requests,
        close: () => new Promise((done) => {
          server.closeAllConnections()
          server.close(() => done())
        })
      })
    })
  })

export const write = (path: string, text: string) => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, text)
}

export const chatgptAuth = (token = "chatgpt-token", accountId: string | undefined = "account-123") =>
  JSON.stringify({ OPENAI_API_KEY: null, tokens: { id_token: "x.y.z", access_token: token, refresh_token: "r", ...(accountId === undefined ? {} : { account_id: accountId }) } })

/** The reference's `plugin_list_force_remote_sync_reconciles_curated_plugin_state` layout under `root`. */
export const curatedHome = (root: string, baseUrl: string, options: { readonly auth?: string | undefined } = {}) => {
  const home = Path.join(root, "home")
  write(
    Path.join(home, "config.toml"),
    `chatgpt_base_url = "${baseUrl}"\n\n[features]\nplugins = true\n\n[plugins."linear@openai-curated"]\nenabled = false\n\n[plugins."gmail@openai-curated"]\nenabled = false\n\n[plugins."calendar@openai-curated"]\nenabled = true\n`
  )
  const names = ["linear", "gmail", "calendar"]
  write(
    Path.join(home, ".tmp/plugins/.agents/plugins/marketplace.json"),
    JSON.stringify({ name: "openai-curated", plugins: names.map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } })) })
  )
  write(Path.join(home, ".tmp/plugins.sha"), `${SHA}\n`)
  for (const name of names) {
    write(Path.join(home, `.tmp/plugins/plugins/${name}/.codex-plugin/plugin.json`), JSON.stringify({ name }))
    write(Path.join(home, `plugins/cache/openai-curated/${name}/local/.codex-plugin/plugin.json`), JSON.stringify({ name }))
  }
  if (options.auth !== undefined) write(Path.join(home, "auth.json"), options.auth)
  return home
}

export const logLines = (home: string): ReadonlyArray<{ readonly type: string; readonly data: Record<string, unknown> }> => {
  const dir = Path.join(home, "ledger", "events")
  return NodeFs.readdirSync(dir).sort().flatMap((f) =>
    NodeFs.readFileSync(Path.join(dir, f), "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
  )
}

