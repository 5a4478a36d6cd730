/**
 * A minimal stdio JSON-RPC client for the benchmark: spawns a server, timestamps every response line
 * the moment its terminating newline arrives (before JSON parsing), and matches responses by id.
 * Notifications (`configWarning`, …) are ignored.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process"
import * as path from "node:path"

export type Target = "reference" | "ours"

export const TARGETS: ReadonlyArray<Target> = ["reference", "ours"]

export interface ServerCommand {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly extraEnv: Readonly<Record<string, string>>
}

export const serverCommand = (target: Target): ServerCommand =>
  target === "reference"
    ? { command: path.resolve("node_modules/.bin/codex"), args: ["app-server"], extraEnv: { CODEX_DISABLE_CURATED_PLUGIN_SYNC: "1" } }
    : {
      command: process.execPath,
      args: [path.resolve(process.env["BENCH_OURS_ENTRY"] ?? "bin/plugin-ledger.js"), "serve"],
      extraEnv: {}
    }

export interface Response {
  readonly id: unknown
  readonly result?: unknown
  readonly error?: { readonly code: number; readonly message: string }
  /** raw line length in bytes (approximately: UTF-16 code units) */
  readonly size: number
}

export class RpcError extends Error {}

const TIMEOUT_MS = Number(process.env["BENCH_TIMEOUT_MS"] ?? "60000")

export class Server {
  readonly target: Target
  /** `performance.now()` just before `spawn` */
  readonly spawnedAt: number
  private readonly child: ChildProcessWithoutNullStreams
  private buffer = ""
  private stderr = ""
  private nextId = 1
  private readonly pending = new Map<string, { resolve: (r: { at: number; line: string }) => void; reject: (e: Error) => void }>()
  private closed = false
  private readonly exited: Promise<number | null>

  constructor(target: Target, env: { readonly codexHome: string; readonly home: string; readonly cwd: string }, cmd = serverCommand(target)) {
    this.target = target
    const childEnv: Record<string, string> = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      CODEX_HOME: env.codexHome,
      HOME: env.home,
      ...cmd.extraEnv
    }
    if (process.env["NODE_COMPILE_CACHE"] !== undefined && target === "ours") childEnv["NODE_COMPILE_CACHE"] = process.env["NODE_COMPILE_CACHE"]
    this.spawnedAt = performance.now()
    this.child = spawn(cmd.command, [...cmd.args], { cwd: env.cwd, env: childEnv, stdio: ["pipe", "pipe", "pipe"] })
    this.child.stdout.setEncoding("utf8")
    this.child.stderr.setEncoding("utf8")
    this.child.stdout.on("data", (chunk: string) => this.onStdout(chunk, performance.now()))
    this.child.stderr.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000)
    })
    this.child.stdin.on("error", () => {})
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code) => {
        this.closed = true
        const error = new Error(`${target} exited (code ${code}); stderr tail:\n${this.stderr}`)
        for (const p of this.pending.values()) p.reject(error)
        this.pending.clear()
        resolve(code)
      })
      this.child.on("error", (err) => {
        this.stderr += `\n[spawn error] ${String(err)}`
      })
    })
  }

  private onStdout(chunk: string, at: number): void {
    this.buffer += chunk
    let index = this.buffer.indexOf("\n")
    while (index >= 0) {
      const line = this.buffer.slice(0, index)
      this.buffer = this.buffer.slice(index + 1)
      index = this.buffer.indexOf("\n")
      if (line.trim() === "") continue
      // cheap id extraction first; full parse happens in `request` after the timestamp was taken
      let id: unknown
      try {
        const parsed = JSON.parse(line) as { id?: unknown; method?: unknown }
        if (parsed.method !== undefined && parsed.id === undefined) continue // notification
        id = parsed.id
      } catch {
        continue
      }
      const key = JSON.stringify(id)
      const waiter = this.pending.get(key)
      if (waiter) {
        this.pending.delete(key)
        waiter.resolve({ at, line })
      }
    }
  }

  private send(value: unknown): void {
    this.child.stdin.write(`${JSON.stringify(value)}\n`)
  }

  /** Sends a request; resolves with the response and the time from just before the write to the response newline. */
  async request(method: string, params: unknown): Promise<{ readonly ms: number; readonly response: Response; readonly doneAt: number }> {
    if (this.closed) throw new Error(`${this.target} already exited; stderr tail:\n${this.stderr}`)
    const id = this.nextId++
    const key = JSON.stringify(id)
    const answer = new Promise<{ at: number; line: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key)
        reject(new Error(`${this.target}: no answer to ${method} within ${TIMEOUT_MS} ms; stderr tail:\n${this.stderr}`))
      }, TIMEOUT_MS)
      this.pending.set(key, {
        resolve: (r) => {
          clearTimeout(timer)
          resolve(r)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        }
      })
    })
    const sentAt = performance.now()
    this.send({ id, method, params })
    const { at, line } = await answer
    const parsed = JSON.parse(line) as Omit<Response, "size">
    return { ms: at - sentAt, response: { ...parsed, size: line.length }, doneAt: at }
  }

  /** Like `request`, but fails on a JSON-RPC error. */
  async call(method: string, params: unknown): Promise<{ readonly ms: number; readonly result: unknown; readonly size: number; readonly doneAt: number }> {
    const { ms, response, doneAt } = await this.request(method, params)
    if (response.error !== undefined) {
      throw new RpcError(`${this.target}: ${method} failed: ${response.error.code} ${response.error.message}`)
    }
    return { ms, result: response.result, size: response.size, doneAt }
  }

  /** initialize + initialized; returns ms from spawn to the initialize response. */
  async handshake(): Promise<number> {
    const { doneAt } = await this.call("initialize", { clientInfo: { name: "bench", title: null, version: "1" } })
    this.send({ method: "initialized" })
    return doneAt - this.spawnedAt
  }

  /** Closes stdin and waits for exit (kills after a grace period). */
  async close(): Promise<void> {
    if (!this.closed) this.child.stdin.end()
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000)
    await this.exited
    clearTimeout(timer)
  }
}
