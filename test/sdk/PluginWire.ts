/**
 * Test-side host for SDK plugins: spawns a plugin as a real child process and talks raw newline-delimited
 * JSON-RPC to it. Host requests get ids 1, 2, 3, ...; the plugin's `storage/*` requests are answered by an
 * in-memory fake host store (shared between processes when the test passes the same one), unless a test hook
 * takes them over to delay, reorder or fail answers.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Os from "node:os"
import * as Path from "node:path"

export const EXAMPLES = Path.resolve(import.meta.dirname, "../../examples/process-plugins")
export const METADATA_ECHO = Path.join(EXAMPLES, "metadata-echo/metadata-echo.ts")
export const SYNC_ECHO = Path.join(EXAMPLES, "sync-echo/sync-echo.ts")
export const RECOMMENDATIONS_ECHO = Path.join(EXAMPLES, "recommendations-echo/recommendations-echo.ts")

export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
export type Message = Record<string, unknown>

export interface StoredValue {
  readonly data: unknown
  readonly expiresAt?: string
  readonly updatedAt: string
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The host side of `storage/*`, with the reference host's shapes (no limits: those are the host's to test). */
export class FakeHostStore {
  readonly values = new Map<string, StoredValue>()
  readonly calls: Array<string> = []

  answer(method: string, params: unknown): { result: unknown } | { error: { code: number; message: string } } {
    this.calls.push(method)
    const p = isRecord(params) ? params : {}
    const key = typeof p["key"] === "string" ? p["key"] : undefined
    switch (method) {
      case "storage/get": {
        if (key === undefined) return { error: { code: -32602, message: "Invalid params: missing field `key`" } }
        const value = this.values.get(key)
        if (value === undefined) return { result: { data: null } }
        return { result: value.expiresAt === undefined ? { data: value.data } : { data: value.data, expiresAt: value.expiresAt } }
      }
      case "storage/set": {
        if (key === undefined || !("data" in p)) return { error: { code: -32602, message: "Invalid params" } }
        const expiresAt = typeof p["expiresAt"] === "string" ? p["expiresAt"] : undefined
        const updatedAt = new Date().toISOString()
        this.values.set(key, expiresAt === undefined ? { data: p["data"], updatedAt } : { data: p["data"], expiresAt, updatedAt })
        return { result: { success: true } }
      }
      case "storage/delete":
        if (key === undefined) return { error: { code: -32602, message: "Invalid params" } }
        return { result: { deleted: this.values.delete(key) } }
      case "storage/list":
        return {
          result: {
            keys: [...this.values.entries()]
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, v]) => (v.expiresAt === undefined ? { key: k, updatedAt: v.updatedAt } : { key: k, expiresAt: v.expiresAt, updatedAt: v.updatedAt }))
          }
        }
      case "storage/clear": {
        const deletedCount = this.values.size
        this.values.clear()
        return { result: { deletedCount } }
      }
      default:
        return { error: { code: -32601, message: `Unknown storage method: ${method}` } }
    }
  }
}

export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface PluginWireOptions {
  readonly store?: FakeHostStore
  /** Takes a plugin->host request over; return true when it was handled (answered now, later, or never). */
  readonly onPluginRequest?: (message: Message, wire: PluginWire) => boolean
  readonly env?: Readonly<Record<string, string>>
}

export class PluginWire {
  /** Every stdout line, raw. */
  readonly stdout: Array<string> = []
  stderr = ""
  readonly store: FakeHostStore
  readonly exit: Promise<ChildExit>
  /** Plugin->host requests seen (storage or otherwise). */
  readonly pluginRequests: Array<Message> = []
  /** Responses with no matching host request (e.g. `id: null` parse errors). */
  readonly unmatched: Array<Message> = []
  private readonly child: ChildProcessWithoutNullStreams
  private readonly options: PluginWireOptions
  private readonly pending = new Map<number, (message: Message) => void>()
  private nextId = 1
  private buffer = ""
  private exited: ChildExit | undefined
  private readonly lineWaiters = new Set<() => void>()

  constructor(script: string, options: PluginWireOptions = {}) {
    this.options = options
    this.store = options.store ?? new FakeHostStore()
    // An explicit environment, as a host would give (nothing of the test runner's leaks in but PATH).
    const env: Record<string, string> = { PATH: process.env["PATH"] ?? "", NODE_COMPILE_CACHE: Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache") }
    Object.assign(env, options.env ?? {})
    this.child = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "pipe"], env })
    this.child.stdout.setEncoding("utf8")
    this.child.stderr.setEncoding("utf8")
    this.child.stdin.on("error", () => {})
    this.child.stdout.on("data", (chunk: string) => {
      this.buffer += chunk
      for (let newline = this.buffer.indexOf("\n"); newline >= 0; newline = this.buffer.indexOf("\n")) {
        const line = this.buffer.slice(0, newline)
        this.buffer = this.buffer.slice(newline + 1)
        this.stdout.push(line)
        this.onLine(line)
      }
      for (const wake of [...this.lineWaiters]) wake()
    })
    this.child.stderr.on("data", (chunk: string) => {
      this.stderr += chunk
    })
    this.exit = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        this.exited = { code, signal }
        for (const [id, reject] of this.pending) reject({ jsonrpc: "2.0", id, error: { code: 0, message: `plugin exited ${JSON.stringify(this.exited)}` } })
        this.pending.clear()
        resolve({ code, signal })
      })
    })
  }

  get hasExited(): boolean {
    return this.exited !== undefined
  }

  /** Sends a host->plugin request and resolves with the whole response message. */
  request(method: string, params?: unknown, timeoutMs = 10_000): Promise<Message> {
    const id = this.nextId++
    const message: Message = params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params }
    return this.requestRaw(id, JSON.stringify(message), timeoutMs)
  }

  /** Sends a line verbatim and waits for the response with `id`. */
  requestRaw(id: number, line: string, timeoutMs = 10_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`no answer to id ${id} within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-4000)}`))
      }, timeoutMs)
      this.pending.set(id, (message) => {
        clearTimeout(timer)
        resolve(message)
      })
      this.send(line)
    })
  }

  /** The `result` of a call; fails the test with the error when there is one. */
  async call(method: string, params?: unknown): Promise<unknown> {
    const response = await this.request(method, params)
    if ("error" in response) throw new Error(`${method} failed: ${JSON.stringify(response["error"])}`)
    return response["result"]
  }

  send(line: string | Buffer): void {
    this.child.stdin.write(typeof line === "string" ? `${line}\n` : Buffer.concat([line, Buffer.from("\n")]))
  }

  /** Answers a plugin->host request (used by hooks that delay or reorder answers). */
  reply(id: unknown, body: { result: unknown } | { error: unknown }): void {
    this.send(JSON.stringify({ jsonrpc: "2.0", id, ...body }))
  }

  async waitFor(test: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-4000)}`)
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.lineWaiters.delete(wake)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(wake, 50)
        this.lineWaiters.add(wake)
      })
    }
  }

  endInput(): void {
    this.child.stdin.end()
  }

  async kill(): Promise<ChildExit> {
    if (this.exited === undefined) this.child.kill("SIGKILL")
    return this.exit
  }

  /** Initialize with the given params and return the manifest. */
  async initialize(params: unknown = {}): Promise<unknown> {
    return this.call("initialize", params)
  }

  private onLine(line: string): void {
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      return // kept in `stdout`; tests assert every line is JSON
    }
    if (!isRecord(message)) return
    if (typeof message["method"] === "string") {
      this.pluginRequests.push(message)
      if (this.options.onPluginRequest?.(message, this) === true) return
      if (message["method"].startsWith("storage/")) this.reply(message["id"], this.store.answer(message["method"], message["params"]))
      return
    }
    const id = message["id"]
    const resolve = typeof id === "number" ? this.pending.get(id) : undefined
    if (resolve === undefined || typeof id !== "number") {
      this.unmatched.push(message)
      return
    }
    this.pending.delete(id)
    resolve(message)
  }
}

/** Every stdout line must be a JSON-RPC 2.0 object: stdout carries protocol only. */
export const allProtocolLines = (lines: ReadonlyArray<string>): boolean =>
  lines.every((line) => {
    try {
      const value: unknown = JSON.parse(line)
      return isRecord(value) && value["jsonrpc"] === "2.0"
    } catch {
      return false
    }
  })
