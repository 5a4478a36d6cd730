/**
 * Real `plugin-ledger` processes for the daemon tests: a sandbox (its own CODEX_HOME, HOME and a copy of the sample
 * marketplace), long-running children (`daemon`, `serve`, `proxy`) and one-shot CLI runs.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const MAIN = Path.resolve("src/cli/main.ts")
const SAMPLE = Path.resolve("examples/sample-marketplace")
const CONFIG = "# my settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n"
/** Node's code cache for the children: every run is a fresh process. */
const COMPILE_CACHE = Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache")

export interface Sandbox {
  readonly root: string
  readonly codexHome: string
  readonly home: string
  readonly workspace: string
  readonly marketplaceFile: string
  readonly ledgerDir: string
  readonly socket: string
  readonly env: Readonly<Record<string, string>>
  readonly remove: () => void
}

export const makeSandbox = (prefix: string): Sandbox => {
  const root = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix)))
  const codexHome = Path.join(root, "codex-home")
  const home = Path.join(root, "userhome")
  const workspace = Path.join(root, "workspace")
  Fs.cpSync(SAMPLE, workspace, { recursive: true })
  Fs.mkdirSync(codexHome)
  Fs.mkdirSync(home)
  Fs.writeFileSync(Path.join(codexHome, "config.toml"), CONFIG)
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
  env["CODEX_HOME"] = codexHome
  env["HOME"] = home
  env["NODE_COMPILE_CACHE"] = COMPILE_CACHE
  return {
    root,
    codexHome,
    home,
    workspace,
    marketplaceFile: Path.join(workspace, ".agents", "plugins", "marketplace.json"),
    ledgerDir: Path.join(codexHome, "ledger"),
    // short: a Unix socket path is limited to about 100 bytes
    socket: Path.join(root, "d.sock"),
    env,
    remove: () => Fs.rmSync(root, { recursive: true, force: true })
  }
}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A long-running `plugin-ledger <args>` child with piped stdio. */
export class Child {
  readonly process: ChildProcessWithoutNullStreams
  readonly exited: Promise<Exit>
  stderr = ""
  private stderrWaiters = new Set<() => void>()

  constructor(sandbox: Sandbox, args: ReadonlyArray<string>) {
    this.process = spawn(process.execPath, [MAIN, ...args], { cwd: sandbox.root, env: sandbox.env, stdio: ["pipe", "pipe", "pipe"] })
    this.process.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk
      for (const waiter of [...this.stderrWaiters]) waiter()
    })
    this.process.stdin.on("error", () => {})
    this.exited = new Promise((resolve) => this.process.on("close", (code, signal) => resolve({ code, signal })))
  }

  /** Resolves once stderr (the log) contains `text`. */
  waitForLog(text: string, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stderrWaiters.delete(check)
        reject(new Error(`no log line with ${JSON.stringify(text)} within ${timeoutMs} ms; stderr:\n${this.stderr}`))
      }, timeoutMs)
      const check = () => {
        if (!this.stderr.includes(text)) return
        clearTimeout(timer)
        this.stderrWaiters.delete(check)
        resolve()
      }
      this.stderrWaiters.add(check)
      check()
    })
  }

  kill(signal: NodeJS.Signals): void {
    this.process.kill(signal)
  }

  /** The exit, or a rejection after `timeoutMs` (the child is then killed). */
  async exit(timeoutMs = 20_000): Promise<Exit> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.process.kill("SIGKILL")
        reject(new Error(`did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}

/** `plugin-ledger daemon --socket <sandbox socket>`, resolved once it listens. */
export const startDaemon = async (sandbox: Sandbox, extra: ReadonlyArray<string> = []): Promise<Child> => {
  const daemon = new Child(sandbox, ["daemon", "--socket", sandbox.socket, "--log-level", "debug", ...extra])
  await Promise.race([
    daemon.waitForLog("listening on"),
    daemon.exited.then((exit) => {
      throw new Error(`daemon exited early (${JSON.stringify(exit)}): ${daemon.stderr}`)
    })
  ])
  return daemon
}

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** One run of `plugin-ledger args…` to completion, in `cwd` with exactly `env`. */
export const runMain = (cwd: string, env: Readonly<Record<string, string>>, args: ReadonlyArray<string>): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** One CLI run to completion in the sandbox. */
export const runCli = (sandbox: Sandbox, ...args: ReadonlyArray<string>): Promise<Run> =>
  runMain(sandbox.root, sandbox.env, args)

/** The log's records as written (one JSON object per line, every segment in order). */
export const readLog = (ledgerDir: string): ReadonlyArray<Readonly<Record<string, unknown>>> => {
  const events = Path.join(ledgerDir, "events")
  return Fs.readdirSync(events)
    .filter((name) => name.endsWith(".jsonl"))
    .sort()
    .flatMap((name) => Fs.readFileSync(Path.join(events, name), "utf8").split("\n").filter((line) => line !== ""))
    .map((line) => {
      const value: unknown = JSON.parse(line)
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`not a record: ${line}`)
      return Object.fromEntries(Object.entries(value))
    })
}
