/**
 * A child process driven over stdout lines, for the crash and contention suites: spawn with Node's compile cache
 * (a warm start costs ~100 ms instead of ~200 ms), collect stdout line by line, wait for a line, SIGKILL.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Os from "node:os"
import * as Path from "node:path"

export const COMPILE_CACHE = Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache")

export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface LineChildOptions {
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
}

export class LineChild {
  readonly lines: Array<string> = []
  stderr = ""
  readonly exit: Promise<ChildExit>
  private readonly child: ChildProcessWithoutNullStreams
  private pending = ""
  private exited: ChildExit | undefined
  private waiters: Array<() => void> = []

  constructor(script: string, args: ReadonlyArray<string>, options: LineChildOptions = {}) {
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
    env["NODE_COMPILE_CACHE"] = COMPILE_CACHE
    Object.assign(env, options.env ?? {})
    this.child = spawn(process.execPath, [script, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd })
    })
    this.child.stdout.setEncoding("utf8")
    this.child.stderr.setEncoding("utf8")
    this.child.stdout.on("data", (chunk: string) => {
      this.pending += chunk
      let newline = this.pending.indexOf("\n")
      while (newline >= 0) {
        this.lines.push(this.pending.slice(0, newline))
        this.pending = this.pending.slice(newline + 1)
        newline = this.pending.indexOf("\n")
      }
      this.notify()
    })
    this.child.stderr.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000)
    })
    // a child killed while we write to it: the EPIPE is expected, not an error of the test
    this.child.stdin.on("error", () => {})
    this.exit = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        this.exited = { code, signal }
        this.notify()
        resolve({ code, signal })
      })
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  get hasExited(): boolean {
    return this.exited !== undefined
  }

  private notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  /** Resolves with the index of the first line (from `from`) matching `test`; rejects on exit or timeout. */
  async waitForLine(test: (line: string) => boolean, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs
    let checked = from
    for (;;) {
      for (; checked < this.lines.length; checked++) if (test(this.lines[checked] ?? "")) return checked
      if (this.exited !== undefined) {
        throw new Error(`child ${this.pid} exited (${JSON.stringify(this.exited)}) before the expected line; stderr:\n${this.stderr}`)
      }
      const remaining = deadline - Date.now()
      if (remaining <= 0) throw new Error(`child ${this.pid}: no expected line within ${timeoutMs} ms; stderr:\n${this.stderr}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Writes one line (the terminator is added); bytes are sent as they are (e.g. invalid UTF-8). */
  send(line: string | Buffer): void {
    this.child.stdin.write(typeof line === "string" ? `${line}\n` : Buffer.concat([line, Buffer.from("\n")]))
  }

  endInput(): void {
    this.child.stdin.end()
  }

  /** SIGKILL (if still running) and wait until the process is gone and its pipes are drained. */
  async kill(): Promise<ChildExit> {
    if (this.exited === undefined) this.child.kill("SIGKILL")
    return this.exit
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
