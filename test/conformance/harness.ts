/**
 * Differential conformance harness: runs one scenario against a stdio app-server (the reference
 * `codex app-server` or our `plugin-ledger serve`) in fresh temp dirs and records, for every step,
 * the raw response line (temp root replaced by `<ROOT>`) plus snapshots of the plugin cache tree and
 * `config.toml`.
 *
 * Layout of a scenario's temp root (`<ROOT>`):
 *   <ROOT>/home      CODEX_HOME (and HOME when the scenario says `home: "codex-home"`)
 *   <ROOT>/userhome  HOME otherwise (created empty unless the setup writes into it)
 *   <ROOT>/cwd       the server process cwd
 *   anything else    scenario files (repos, marketplaces, plugin sources)
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

export type Target = "reference" | "ours"

export const ROOT = "<ROOT>"

// ---------------------------------------------------------------------------------------------
// Scenario data model
// ---------------------------------------------------------------------------------------------

export type SetupEntry =
  | { readonly kind: "dir"; readonly path: string }
  | { readonly kind: "json"; readonly path: string; readonly value: Json }
  | { readonly kind: "text"; readonly path: string; readonly content: string; readonly mode?: number }
  | { readonly kind: "bytes"; readonly path: string; readonly base64: string; readonly mode?: number }
  | { readonly kind: "symlink"; readonly path: string; readonly target: string }

export type Step =
  /** A JSON request; `params` omitted means no `params` key at all. Strings may contain `<ROOT>`. */
  | {
    readonly kind: "request"
    readonly method: string
    readonly params?: Json
    readonly id?: number | string
    readonly snapshot?: boolean
  }
  /** An exact line of text (`<ROOT>` substituted); waits for the response with `id`. */
  | { readonly kind: "raw"; readonly line: string; readonly id: number | string; readonly snapshot?: boolean }
  /** A notification (no response expected). */
  | { readonly kind: "notify"; readonly method: string; readonly params?: Json }
  /** An exact line of text sent without waiting for anything (malformed input, ids that get no answer). */
  | { readonly kind: "send"; readonly line: string }
  /** An explicit `initialize` request; a successful result is compared by key set only. */
  | { readonly kind: "initialize"; readonly id?: number | string }

/** Expectations from the source conformance case, checked against the reference's output. */
export interface StepCheck {
  readonly step: number
  readonly error?: { readonly code: number; readonly messageIncludes?: ReadonlyArray<string> }
  readonly resultIncludes?: ReadonlyArray<string>
  readonly resultExcludes?: ReadonlyArray<string>
}

export interface FileCheck {
  readonly exists?: ReadonlyArray<string>
  readonly absent?: ReadonlyArray<string>
  readonly configIncludes?: ReadonlyArray<string>
  readonly configExcludes?: ReadonlyArray<string>
}

export type Deviation =
  /**
   * The reference fails the whole `plugin/list` with -32600 `invalid marketplace file …`. Ours returns
   * the listing the reference gives when the bad files are absent (a control run of the reference),
   * plus `marketplaceLoadErrors: [{marketplacePath, message}]` with the reference's error message.
   */
  | { readonly kind: "marketplaceLoadErrors"; readonly step: number; readonly badFiles: ReadonlyArray<string>; readonly note: string }
  /** Unknown method: same code and same message up to and including `expected one of`. */
  | { readonly kind: "unknownMethodList"; readonly step: number; readonly note: string }

export interface Scenario {
  readonly name: string
  /** Names of the codex-conformance.json cases this scenario maps to (empty: own scenario). */
  readonly cases: ReadonlyArray<string>
  readonly checks: string
  /** HOME = CODEX_HOME (as the Rust tests do with `McpProcess::new_with_env`) or a separate empty dir. */
  readonly home?: "codex-home" | "separate"
  /** Skip the automatic initialize/initialized handshake. */
  readonly noHandshake?: boolean
  readonly setup: ReadonlyArray<SetupEntry>
  readonly steps: ReadonlyArray<Step>
  /** Paths (ROOT-relative) whose trees are snapshotted; default `home/plugins/cache` and `home/config.toml`. */
  readonly snapshotPaths?: ReadonlyArray<string>
  readonly expect?: ReadonlyArray<StepCheck>
  readonly expectFiles?: FileCheck
  readonly deviations?: ReadonlyArray<Deviation>
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export interface StepResult {
  readonly step: number
  readonly description: string
  /** Raw response line, `<ROOT>`-normalised. */
  readonly line: string
  readonly isInitialize: boolean
  readonly snapshot?: string
}

export interface RunResult {
  readonly target: Target
  /** The automatic handshake's initialize response (absent with `noHandshake`). */
  readonly handshake: string | undefined
  readonly steps: ReadonlyArray<StepResult>
  /** Final file snapshot (rendered text, `<ROOT>`-normalised). */
  readonly files: string
  readonly config: string | null
  /** Responses whose id no step waited for (e.g. answers to lines the reference silently drops). */
  readonly unclaimed: ReadonlyArray<string>
  readonly stderrTail: string
  readonly exitCode: number | null
}

// ---------------------------------------------------------------------------------------------
// Server commands
// ---------------------------------------------------------------------------------------------

export interface ServerCommand {
  readonly command: string
  readonly args: ReadonlyArray<string>
}

export const serverCommand = (target: Target): ServerCommand =>
  target === "reference"
    ? { command: path.resolve("node_modules/.bin/codex"), args: ["app-server"] }
    : { command: process.execPath, args: [path.resolve(process.env["CONFORMANCE_OURS_ENTRY"] ?? "src/cli/main.ts"), "serve"] }

export const RESPONSE_TIMEOUT_MS = Number(process.env["CONFORMANCE_TIMEOUT_MS"] ?? "10000")
const EXIT_TIMEOUT_MS = 10_000

// ---------------------------------------------------------------------------------------------
// Stdio session
// ---------------------------------------------------------------------------------------------

const idKey = (id: unknown): string => JSON.stringify(id)

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

export class Session {
  private readonly child: ChildProcessWithoutNullStreams
  private buffer = ""
  private stderr = ""
  private readonly responses = new Map<string, string>()
  private readonly otherLines: Array<string> = []
  private waiter: (() => void) | undefined
  private exited = false
  private exitCode: number | null = null
  private readonly exitPromise: Promise<void>
  readonly target: Target

  constructor(
    target: Target,
    cmd: ServerCommand,
    options: { readonly cwd: string; readonly env: Record<string, string> }
  ) {
    this.target = target
    this.child = spawn(cmd.command, [...cmd.args], { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"] })
    this.child.stdout.setEncoding("utf8")
    this.child.stderr.setEncoding("utf8")
    this.child.stdout.on("data", (chunk: string) => this.onStdout(chunk))
    this.child.stderr.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-8000)
    })
    this.child.stdin.on("error", () => {
      // the server may exit before reading everything; reported through the timeout instead
    })
    this.exitPromise = new Promise((resolve) => {
      const done = (code: number | null) => {
        this.exited = true
        this.exitCode = code
        this.wake()
        resolve()
      }
      this.child.on("close", (code) => done(code))
      this.child.on("error", (err) => {
        this.stderr += `\n[spawn error] ${String(err)}`
        done(null)
      })
    })
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    if (w) w()
  }

  private onStdout(chunk: string): void {
    this.buffer += chunk
    let index = this.buffer.indexOf("\n")
    while (index >= 0) {
      const line = this.buffer.slice(0, index).replace(/\r$/, "")
      this.buffer = this.buffer.slice(index + 1)
      this.onLine(line)
      index = this.buffer.indexOf("\n")
    }
  }

  private onLine(line: string): void {
    if (line.trim() === "") return
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      this.otherLines.push(`[non-JSON stdout] ${line}`)
      return
    }
    if (isRecord(parsed) && "id" in parsed && !("method" in parsed) && ("result" in parsed || "error" in parsed)) {
      this.responses.set(idKey(parsed["id"]), line)
      this.wake()
    } else {
      // notifications (e.g. configWarning) and server requests are ignored
      this.otherLines.push(line)
    }
  }

  send(line: string): void {
    this.child.stdin.write(line + "\n")
  }

  async waitFor(id: number | string, description: string): Promise<string> {
    const key = idKey(id)
    const deadline = Date.now() + RESPONSE_TIMEOUT_MS
    for (;;) {
      const found = this.responses.get(key)
      if (found !== undefined) {
        this.responses.delete(key)
        return found
      }
      if (this.exited) {
        throw new Error(
          `[${this.target}] server exited (code ${String(this.exitCode)}) before answering ${description} (id ${key})` +
            this.diagnostics()
        )
      }
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        throw new Error(
          `[${this.target}] no response with id ${key} to ${description} within ${RESPONSE_TIMEOUT_MS} ms` +
            this.diagnostics()
        )
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiter = undefined
          resolve()
        }, remaining)
        this.waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }

  diagnostics(): string {
    const pending = [...this.responses.values()].slice(-5)
    return (
      `\n  other stdout lines: ${JSON.stringify(this.otherLines.slice(-5))}` +
      `\n  unclaimed responses: ${JSON.stringify(pending)}` +
      `\n  stderr tail: ${this.stderr.slice(-2000)}`
    )
  }

  unclaimed(): ReadonlyArray<string> {
    return [...this.responses.values()]
  }

  stderrTail(): string {
    return this.stderr.slice(-2000)
  }

  async close(): Promise<number | null> {
    this.child.stdin.end()
    const timedOut = await Promise.race([
      this.exitPromise.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), EXIT_TIMEOUT_MS).unref())
    ])
    if (timedOut && !this.exited) {
      this.child.kill("SIGKILL")
      await this.exitPromise
      throw new Error(`[${this.target}] server did not exit within ${EXIT_TIMEOUT_MS} ms after stdin was closed`)
    }
    return this.exitCode
  }

  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL")
  }
}

// ---------------------------------------------------------------------------------------------
// Temp roots, setup, substitution, normalisation
// ---------------------------------------------------------------------------------------------

export const makeRoot = (): string => fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "pl-conf-")))

export const substitute = (value: Json, root: string): Json => {
  if (typeof value === "string") return value.split(ROOT).join(root)
  if (Array.isArray(value)) return value.map((v: Json) => substitute(v, root))
  if (value !== null && typeof value === "object") {
    const out: Record<string, Json> = {}
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, root)
    return out
  }
  return value
}

export const normalise = (text: string, root: string): string => text.split(root).join(ROOT)

const under = (root: string, rel: string): string => path.join(root, rel)

export const materialise = (root: string, setup: ReadonlyArray<SetupEntry>, skip: ReadonlySet<string> = new Set()) => {
  for (const dir of ["home", "userhome", "cwd"]) fs.mkdirSync(under(root, dir), { recursive: true })
  for (const entry of setup) {
    if (skip.has(entry.path)) continue
    const target = under(root, entry.path)
    if (entry.kind === "dir") {
      fs.mkdirSync(target, { recursive: true })
      continue
    }
    fs.mkdirSync(path.dirname(target), { recursive: true })
    switch (entry.kind) {
      case "json":
        fs.writeFileSync(target, JSON.stringify(substitute(entry.value, root), null, 2))
        break
      case "text":
        fs.writeFileSync(target, entry.content.split(ROOT).join(root))
        if (entry.mode !== undefined) fs.chmodSync(target, entry.mode)
        break
      case "bytes":
        fs.writeFileSync(target, Buffer.from(entry.base64, "base64"))
        if (entry.mode !== undefined) fs.chmodSync(target, entry.mode)
        break
      case "symlink":
        fs.symlinkSync(entry.target.split(ROOT).join(root), target)
        break
    }
  }
}

/** Renders every file, dir and symlink under the given ROOT-relative paths as stable text. */
export const snapshotFiles = (root: string, rels: ReadonlyArray<string>): string => {
  const out: Array<string> = []
  const visit = (abs: string, rel: string) => {
    let st: fs.Stats
    try {
      st = fs.lstatSync(abs)
    } catch {
      out.push(`absent ${rel}`)
      return
    }
    const mode = (st.mode & 0o777).toString(8).padStart(3, "0")
    if (st.isSymbolicLink()) {
      out.push(`symlink ${rel} -> ${normalise(fs.readlinkSync(abs), root)}`)
    } else if (st.isDirectory()) {
      out.push(`dir ${rel} ${mode}`)
      for (const name of fs.readdirSync(abs).sort()) visit(path.join(abs, name), `${rel}/${name}`)
    } else if (st.isFile()) {
      const data = fs.readFileSync(abs)
      const text = data.toString("utf8")
      const isText = Buffer.from(text, "utf8").equals(data) && !text.includes("\u0000")
      const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex").slice(0, 16)
      if (isText) {
        // size and hash of the normalised bytes, so CR/LF and trailing-space differences still show
        const normalised = Buffer.from(normalise(text, root), "utf8")
        out.push(`file ${rel} ${mode} ${normalised.length}B sha256:${sha(normalised)}\n${indent(normalised.toString("utf8"))}`)
      } else {
        out.push(`file ${rel} ${mode} ${data.length}B sha256:${sha(data)} (binary) base64:${data.toString("base64")}`)
      }
    } else {
      out.push(`other ${rel} ${mode}`)
    }
  }
  for (const rel of rels) visit(under(root, rel), rel)
  return out.join("\n")
}

/** Indents file text; CR and a missing final newline are made visible so diffs show them. */
const indent = (text: string): string =>
  text
    .split("\n")
    .map((l) => `  | ${l.replaceAll("\r", "\u240d")}`)
    .join("\n") + (text.endsWith("\n") || text === "" ? "" : "\u2205 (no final newline)")

const readConfig = (root: string): string | null => {
  try {
    return normalise(fs.readFileSync(under(root, "home/config.toml"), "utf8"), root)
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------

const INITIALIZE_PARAMS: Json = { clientInfo: { name: "conformance", title: null, version: "1" } }

export const DEFAULT_SNAPSHOT_PATHS: ReadonlyArray<string> = ["home/plugins/cache", "home/config.toml"]

export const keepTemp = process.env["CONFORMANCE_KEEP"] === "1"

export interface RunOptions {
  /** ROOT-relative setup paths to leave out (control runs for deviations). */
  readonly skipSetup?: ReadonlySet<string>
}

export const runScenario = async (scenario: Scenario, target: Target, options: RunOptions = {}): Promise<RunResult> => {
  const root = makeRoot()
  const snapshotPaths = scenario.snapshotPaths ?? DEFAULT_SNAPSHOT_PATHS
  let session: Session | undefined
  try {
    materialise(root, scenario.setup, options.skipSetup)
    const env: Record<string, string> = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      CODEX_HOME: under(root, "home"),
      HOME: scenario.home === "codex-home" ? under(root, "home") : under(root, "userhome"),
      CODEX_DISABLE_CURATED_PLUGIN_SYNC: "1"
    }
    const s = new Session(target, serverCommand(target), { cwd: under(root, "cwd"), env })
    session = s
    let handshake: string | undefined
    if (scenario.noHandshake !== true) {
      s.send(JSON.stringify({ id: 0, method: "initialize", params: INITIALIZE_PARAMS }))
      handshake = normalise(await s.waitFor(0, `${scenario.name}: handshake initialize`), root)
      assertInitializeOk(handshake, target, scenario.name)
      s.send(JSON.stringify({ method: "initialized" }))
    }
    const steps: Array<StepResult> = []
    let nextId = 1
    for (const [index, step] of scenario.steps.entries()) {
      if (step.kind === "notify") {
        s.send(JSON.stringify(step.params === undefined ? { method: step.method } : { method: step.method, params: substitute(step.params, root) }))
        continue
      }
      if (step.kind === "send") {
        s.send(step.line.split(ROOT).join(root))
        continue
      }
      let id: number | string
      let line: string
      let description: string
      let isInitialize = false
      let snapshot = false
      if (step.kind === "request") {
        id = step.id ?? nextId++
        line = JSON.stringify(
          step.params === undefined
            ? { id, method: step.method }
            : { id, method: step.method, params: substitute(step.params, root) }
        )
        description = `step ${index} ${step.method}`
        snapshot = step.snapshot === true
      } else if (step.kind === "raw") {
        id = step.id
        line = step.line.split(ROOT).join(root)
        description = `step ${index} raw ${step.line.slice(0, 80)}`
        snapshot = step.snapshot === true
      } else {
        id = step.id ?? nextId++
        line = JSON.stringify({ id, method: "initialize", params: INITIALIZE_PARAMS })
        description = `step ${index} initialize`
        isInitialize = true
      }
      s.send(line)
      const response = await s.waitFor(id, `${scenario.name} ${description}`)
      const result: StepResult = snapshot
        ? { step: index, description, line: normalise(response, root), isInitialize, snapshot: snapshotFiles(root, snapshotPaths) }
        : { step: index, description, line: normalise(response, root), isInitialize }
      steps.push(result)
    }
    const exitCode = await s.close()
    return {
      target,
      handshake,
      steps,
      files: snapshotFiles(root, snapshotPaths),
      config: readConfig(root),
      unclaimed: s.unclaimed().map((l) => normalise(l, root)),
      stderrTail: normalise(s.stderrTail(), root),
      exitCode
    }
  } finally {
    session?.kill()
    if (!keepTemp) fs.rmSync(root, { recursive: true, force: true })
  }
}

const assertInitializeOk = (line: string, target: Target, name: string): void => {
  const parsed: unknown = JSON.parse(line)
  if (!isRecord(parsed) || !isRecord(parsed["result"])) {
    throw new Error(`[${target}] ${name}: initialize failed: ${line}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers
// ---------------------------------------------------------------------------------------------

export const parseObject = (line: string): Record<string, unknown> => {
  const parsed: unknown = JSON.parse(line)
  if (!isRecord(parsed)) throw new Error(`not a JSON object: ${line}`)
  return parsed
}

/** For `initialize` results: the same keys in the same order; values are not compared (userAgent differs). */
export const initializeShape = (line: string): string => {
  const parsed = parseObject(line)
  const result = parsed["result"]
  if (isRecord(result)) return JSON.stringify({ keys: Object.keys(parsed), resultKeys: Object.keys(result), id: parsed["id"] })
  return line
}

export const errorOf = (line: string): { readonly code: unknown; readonly message: string } | undefined => {
  const parsed = parseObject(line)
  const error = parsed["error"]
  if (!isRecord(error)) return undefined
  const message = error["message"]
  return { code: error["code"], message: typeof message === "string" ? message : JSON.stringify(message) }
}

/** The text of a line with the top-level `result.<key>` removed (key order of the rest kept). */
export const withoutResultKey = (line: string, key: string): { readonly rest: string; readonly removed: unknown } => {
  const parsed = parseObject(line)
  const result = parsed["result"]
  if (!isRecord(result)) return { rest: line, removed: undefined }
  const { [key]: removed, ...others } = result
  return { rest: JSON.stringify({ ...parsed, result: others }), removed }
}

export const UNKNOWN_METHOD_MARK = "expected one of"

/** Recorded reference output, for implementers to read without running codex. */
export const recordDir = path.resolve("test/conformance/recorded")

export const writeRecord = (name: string, data: Json): void => {
  fs.mkdirSync(recordDir, { recursive: true })
  fs.writeFileSync(path.join(recordDir, `${name}.json`), JSON.stringify(data, null, 2) + "\n")
}

/** Removes recordings of scenarios that no longer exist. */
export const pruneRecords = (names: ReadonlySet<string>): void => {
  if (!fs.existsSync(recordDir)) return
  for (const file of fs.readdirSync(recordDir)) {
    if (file.endsWith(".json") && !names.has(file.slice(0, -".json".length))) fs.rmSync(path.join(recordDir, file))
  }
}

export const runToJson = (run: RunResult): Json => ({
  target: run.target,
  handshake: run.handshake === undefined ? null : normaliseUserAgent(run.handshake),
  steps: run.steps.map((s) => {
    const base = {
      step: s.step,
      description: s.description,
      response: s.isInitialize ? normaliseUserAgent(s.line) : s.line
    }
    return s.snapshot === undefined ? base : { ...base, snapshot: s.snapshot.split("\n") }
  }),
  files: run.files.split("\n"),
  config: run.config,
  unclaimed: [...run.unclaimed],
  exitCode: run.exitCode
})

const normaliseUserAgent = (line: string): string => line.replace(/"userAgent":"[^"]*"/, "\"userAgent\":\"<USER_AGENT>\"")
