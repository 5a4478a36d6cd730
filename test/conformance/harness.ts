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
  /**
   * An exact line of text (`<ROOT>` substituted) sent as one frame, followed by a sentinel request
   * (`{"id":"conformance-sentinel-<step>","method":"plugin/uninstall","params":{}}`, answered -32600 by both
   * servers). Every response (and non-JSON stdout line) that arrives before the sentinel's answer is the
   * frame's answer, so a frame that gets no answer costs no timeout. The sentinel's answer is compared too
   * (the server keeps serving).
   */
  | { readonly kind: "frame"; readonly line: string }
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

/** An error response expected from one side: the code, and the message exactly or by prefix/parts. */
export interface ErrorExpectation {
  readonly code: number
  readonly message?: string
  readonly messagePrefix?: string
  readonly messageIncludes?: ReadonlyArray<string>
}

/** Ours's answer to a malformed frame: one error line `{"error":{"code","message"},"id"}` (jsonrpc first when echoed). */
export interface FrameAnswerExpectation extends ErrorExpectation {
  readonly id: null | number | string
  readonly jsonrpc?: boolean
}

export interface PolicyPair {
  readonly installPolicy: string
  readonly authPolicy: string
}

/** Why ours refuses a step the reference performs (README: deliberate differences). */
export type RefusalReason = "topLevelPolicy" | "inlinePluginsConfig" | "symlinkedSourceDir"

export type Deviation =
  /**
   * The reference fails the whole `plugin/list` with -32600 `invalid marketplace file …`. Ours returns
   * the listing the reference gives when the bad files are absent (a control run of the reference),
   * plus `marketplaceLoadErrors: [{marketplacePath, message}]` with the reference's error message.
   */
  | { readonly kind: "marketplaceLoadErrors"; readonly step: number; readonly badFiles: ReadonlyArray<string>; readonly note: string }
  /** Unknown method: same code and same message up to and including `expected one of`. */
  | { readonly kind: "unknownMethodList"; readonly step: number; readonly note: string }
  /**
   * The request carries `"jsonrpc":"2.0"`: the reference's line has no `jsonrpc` key; ours is the
   * reference's line byte for byte with `"jsonrpc":"2.0",` inserted as the first key.
   */
  | { readonly kind: "jsonrpcEcho"; readonly step: number; readonly note: string }
  /**
   * A `frame` step the reference answers with nothing; ours answers exactly one line: an error as
   * described, or (`line`) exactly that line.
   */
  | {
    readonly kind: "frameAnswered"
    readonly step: number
    readonly ours: FrameAnswerExpectation | { readonly line: string }
    readonly note: string
  }
  /**
   * A plugin/list or plugin/read response: the listed plugins' summaries carry `reference` policies in
   * the reference's line; ours is that line byte for byte with those summaries carrying `ours` policies.
   */
  | {
    readonly kind: "topLevelPolicy"
    readonly step: number
    readonly plugins: ReadonlyArray<{ readonly id: string; readonly reference: PolicyPair; readonly ours: PolicyPair }>
    readonly note: string
  }
  /**
   * The reference performs the step (its result is `reference.result`); ours refuses it with the given
   * error and changes nothing: files under the snapshot paths and the ledger's event count are the same
   * before and after the step. With `referenceChangesFiles`, the reference's files must change at this
   * step, and every other step of ours is compared with a control run of the reference that leaves out
   * these steps (same ids).
   */
  | {
    readonly kind: "refusedByUs"
    readonly step: number
    readonly reason: RefusalReason
    readonly ours: ErrorExpectation
    readonly reference: { readonly result: Json }
    readonly referenceChangesFiles: boolean
    readonly referenceConfigIncludes?: ReadonlyArray<string>
    readonly referenceConfigExcludes?: ReadonlyArray<string>
    readonly note: string
  }
  /**
   * Invalid config.toml: both sides fail with `code` and a message starting with `prefix`; the text after
   * the prefix (TOML parser wording and position) may differ. Ours changes nothing (files, events). With
   * `referenceChangesFiles`, the reference's files change at this step and the control run leaves it out.
   */
  | {
    readonly kind: "configErrorPrefix"
    readonly step: number
    readonly code: number
    readonly prefix: string
    readonly referenceChangesFiles?: boolean
    readonly note: string
  }
  /**
   * config.toml bytes after this step (and after later steps that leave the reference's config.toml
   * alone): exactly `reference` for the reference and exactly `ours` for ours (`null`: absent). The rest
   * of the file snapshot, config.toml's mode included, is compared as usual.
   */
  | { readonly kind: "configBytes"; readonly step: number; readonly reference: string | null; readonly ours: string | null; readonly note: string }

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
  /** Raw response line, `<ROOT>`-normalised (for a `frame` step: the sentinel's response). */
  readonly line: string
  readonly isInitialize: boolean
  /** The file snapshot after this step when the step is marked `snapshot: true`. */
  readonly snapshot?: string
  /** `frame` steps: every line that answered the frame (normally none from the reference). */
  readonly answers?: ReadonlyArray<string>
  /** State after every step: file snapshot, config.toml text, number of ledger events (null: no ledger). */
  readonly files: string
  readonly config: string | null
  readonly events: number | null
}

export interface RunResult {
  readonly target: Target
  /** The automatic handshake's initialize response (absent with `noHandshake`). */
  readonly handshake: string | undefined
  /** State before the first step (after the handshake). */
  readonly initialFiles: string
  readonly initialConfig: string | null
  readonly initialEvents: number | null
  /** Steps left out of this run (control runs). */
  readonly skippedSteps: ReadonlyArray<number>
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
/**
 * Fail fast on silence (ours only): when a response is this late, a probe request is sent; ours serves
 * one line after the other, so once the probe is answered (plus PROBE_GRACE_MS) the awaited response
 * will never come and the step fails at once instead of after RESPONSE_TIMEOUT_MS.
 */
export const PROBE_AFTER_MS = Number(process.env["CONFORMANCE_PROBE_MS"] ?? "1500")
const PROBE_GRACE_MS = 1000
const EXIT_TIMEOUT_MS = 10_000

/** Request ids the harness uses for its own requests (never part of a scenario's output). */
const PROBE_PREFIX = "conformance-probe-"
export const SENTINEL_PREFIX = "conformance-sentinel-"
/** A request both servers answer at once with -32600 and no side effect. */
const harnessRequest = (id: string): string => JSON.stringify({ id, method: "plugin/uninstall", params: {} })

// ---------------------------------------------------------------------------------------------
// Stdio session
// ---------------------------------------------------------------------------------------------

const idKey = (id: unknown): string => JSON.stringify(id)

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** A response line (or a non-JSON stdout line, `key` undefined) in arrival order. */
interface Arrival {
  readonly key: string | undefined
  readonly line: string
  claimed: boolean
}

export class Session {
  private readonly child: ChildProcessWithoutNullStreams
  private buffer = ""
  private stderr = ""
  private readonly arrivals: Array<Arrival> = []
  private readonly otherLines: Array<string> = []
  private readonly probesAnswered = new Set<string>()
  private probeCount = 0
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
      this.arrivals.push({ key: undefined, line: `[non-JSON stdout] ${line}`, claimed: false })
      this.wake()
      return
    }
    if (isRecord(parsed) && "id" in parsed && !("method" in parsed) && ("result" in parsed || "error" in parsed)) {
      const id = parsed["id"]
      if (typeof id === "string" && id.startsWith(PROBE_PREFIX)) {
        this.probesAnswered.add(id)
      } else {
        this.arrivals.push({ key: idKey(id), line, claimed: false })
      }
      this.wake()
    } else {
      // notifications (e.g. configWarning) and server requests are ignored
      this.otherLines.push(line)
    }
  }

  send(line: string): void {
    this.child.stdin.write(line + "\n")
  }

  private claim(key: string): { readonly line: string; readonly index: number } | undefined {
    const index = this.arrivals.findIndex((a) => !a.claimed && a.key === key)
    const arrival = this.arrivals[index]
    if (arrival === undefined) return undefined
    arrival.claimed = true
    return { line: arrival.line, index }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        resolve()
      }, Math.max(0, ms))
      this.waiter = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  async waitFor(id: number | string, description: string): Promise<string> {
    return (await this.waitForArrival(idKey(id), description)).line
  }

  private async waitForArrival(key: string, description: string): Promise<{ readonly line: string; readonly index: number }> {
    const started = Date.now()
    const deadline = started + RESPONSE_TIMEOUT_MS
    const probing = this.target === "ours" && PROBE_AFTER_MS > 0
    let probe: string | undefined
    let probeAnsweredAt: number | undefined
    for (;;) {
      const found = this.claim(key)
      if (found !== undefined) return found
      if (this.exited) {
        throw new Error(
          `[${this.target}] server exited (code ${String(this.exitCode)}) before answering ${description} (id ${key})` +
            this.diagnostics()
        )
      }
      const now = Date.now()
      if (probing && probe === undefined && now - started >= PROBE_AFTER_MS) {
        probe = `${PROBE_PREFIX}${++this.probeCount}`
        this.send(harnessRequest(probe))
      }
      if (probe !== undefined && probeAnsweredAt === undefined && this.probesAnswered.has(probe)) probeAnsweredAt = now
      if (probeAnsweredAt !== undefined && now - probeAnsweredAt >= PROBE_GRACE_MS) {
        throw new Error(
          `[${this.target}] no response with id ${key} to ${description}: the server answered a probe request sent ` +
            `${PROBE_AFTER_MS} ms after it, so this frame was dropped (answered with nothing)` + this.diagnostics()
        )
      }
      if (now >= deadline) {
        throw new Error(
          `[${this.target}] no response with id ${key} to ${description} within ${RESPONSE_TIMEOUT_MS} ms` +
            this.diagnostics()
        )
      }
      const wakeAt = Math.min(
        deadline,
        probing && probe === undefined ? started + PROBE_AFTER_MS : Infinity,
        probeAnsweredAt === undefined ? Infinity : probeAnsweredAt + PROBE_GRACE_MS
      )
      await this.sleep(wakeAt - now)
    }
  }

  /**
   * Sends `line` and then a sentinel request; returns every unclaimed response (or non-JSON line)
   * that arrived before the sentinel's answer, and that answer.
   */
  async frame(line: string, sentinelId: string, description: string): Promise<{ readonly answers: ReadonlyArray<string>; readonly sentinel: string }> {
    const from = this.arrivals.length
    this.send(line)
    this.send(harnessRequest(sentinelId))
    const sentinel = await this.waitForArrival(idKey(sentinelId), `${description} (sentinel request after the frame)`)
    const answers: Array<string> = []
    for (const arrival of this.arrivals.slice(from, sentinel.index)) {
      if (arrival.claimed) continue
      arrival.claimed = true
      answers.push(arrival.line)
    }
    return { answers, sentinel: sentinel.line }
  }

  diagnostics(): string {
    const pending = this.unclaimed().slice(-5)
    return (
      `\n  other stdout lines: ${JSON.stringify(this.otherLines.slice(-5))}` +
      `\n  unclaimed responses: ${JSON.stringify(pending)}` +
      `\n  stderr tail: ${this.stderr.slice(-2000)}`
    )
  }

  unclaimed(): ReadonlyArray<string> {
    return this.arrivals.filter((a) => !a.claimed && a.key !== undefined).map((a) => a.line)
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

/** Number of records in ours's event log (`home/ledger/events/*.jsonl`); null when there is none (the reference). */
const countEvents = (root: string): number | null => {
  const dir = under(root, "home/ledger/events")
  let names: Array<string>
  try {
    names = fs.readdirSync(dir)
  } catch {
    return null
  }
  let count = 0
  for (const name of names.filter((n) => n.endsWith(".jsonl"))) {
    count += fs.readFileSync(path.join(dir, name), "utf8").split("\n").filter((l) => l.trim() !== "").length
  }
  return count
}

/** The snapshot entry of `home/config.toml` (header line and indented content) cut out, and its mode. */
export const splitConfigEntry = (snapshot: string): { readonly rest: string; readonly mode: string | undefined } => {
  const lines = snapshot.split("\n")
  const at = lines.findIndex((l) => l.startsWith("file home/config.toml ") || l === "absent home/config.toml" || l.startsWith("symlink home/config.toml "))
  if (at < 0) return { rest: snapshot, mode: undefined }
  let end = at + 1
  while (end < lines.length && lines[end]?.startsWith("  | ")) end++
  const header = lines[at] ?? ""
  const mode = header.startsWith("file ") ? header.split(" ")[2] : header
  return { rest: [...lines.slice(0, at), "<config.toml compared separately>", ...lines.slice(end)].join("\n"), mode }
}

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
  /** Step indexes to leave out (control runs); their request ids are still used up, so later ids match. */
  readonly skipSteps?: ReadonlySet<number>
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
      // ours answers `initialize` before its engine is up; an answer from the engine (our own method, so the
      // reference is not asked) means its start-up is over, and the state snapshotted next is the scenario's
      if (target === "ours") {
        s.send(JSON.stringify({ id: "ready", method: "plugin/history", params: { limit: 0 } }))
        await s.waitFor("ready", `${scenario.name}: ready`)
      }
    }
    const state = () => ({ files: snapshotFiles(root, snapshotPaths), config: readConfig(root), events: countEvents(root) })
    const initial = state()
    const steps: Array<StepResult> = []
    const skipped: Array<number> = []
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
      const skip = options.skipSteps?.has(index) === true
      if (skip) skipped.push(index)
      if (step.kind === "frame") {
        if (skip) continue
        const description = `step ${index} frame ${step.line.slice(0, 80)}`
        const { answers, sentinel } = await s.frame(step.line.split(ROOT).join(root), `${SENTINEL_PREFIX}${index}`, `${scenario.name} ${description}`)
        steps.push({
          step: index,
          description,
          line: normalise(sentinel, root),
          isInitialize: false,
          answers: answers.map((a) => normalise(a, root)),
          ...state()
        })
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
      if (skip) continue
      s.send(line)
      const response = await s.waitFor(id, `${scenario.name} ${description}`)
      const after = state()
      steps.push({
        step: index,
        description,
        line: normalise(response, root),
        isInitialize,
        ...(snapshot ? { snapshot: after.files } : {}),
        ...after
      })
    }
    const exitCode = await s.close()
    return {
      target,
      handshake,
      initialFiles: initial.files,
      initialConfig: initial.config,
      initialEvents: initial.events,
      skippedSteps: skipped,
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
  ...(run.skippedSteps.length === 0 ? {} : { skippedSteps: [...run.skippedSteps] }),
  steps: run.steps.map((s) => {
    const base = {
      step: s.step,
      description: s.description,
      ...(s.answers === undefined ? {} : { answers: [...s.answers] }),
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
