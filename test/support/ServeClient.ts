/**
 * A client for a real `plugin-ledger serve` child: requests by id, answers matched by id, every other line
 * (notifications) kept in order. For integration tests of the server as users run it.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Os from "node:os"
import * as Path from "node:path"

const MAIN = Path.resolve("src/cli/main.ts")

export interface ServeClient {
  readonly request: (method: string, params: unknown) => Promise<Record<string, unknown>>
  /** every parsed line that was not an answer to one of our requests */
  readonly notifications: Array<Record<string, unknown>>
  readonly stderr: () => string
  /** closes stdin and waits for the exit code */
  readonly close: () => Promise<number | null>
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

export const startServe = async (env: { readonly codexHome: string; readonly home: string; readonly cwd: string }): Promise<ServeClient> => {
  const childEnv: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) childEnv[key] = value
  childEnv["CODEX_HOME"] = env.codexHome
  childEnv["HOME"] = env.home
  childEnv["NODE_COMPILE_CACHE"] = Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache")
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [MAIN, "serve"], { cwd: env.cwd, env: childEnv })
  const waiting = new Map<number, (answer: Record<string, unknown>) => void>()
  const notifications: Array<Record<string, unknown>> = []
  let stderr = ""
  let pending = ""
  let nextId = 1
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk
    for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n")) {
      const line = pending.slice(0, newline)
      pending = pending.slice(newline + 1)
      const parsed: unknown = JSON.parse(line)
      if (!isRecord(parsed)) throw new Error(`not a JSON object on stdout: ${line}`)
      const id = parsed["id"]
      const resolve = typeof id === "number" ? waiting.get(id) : undefined
      if (resolve !== undefined && ("result" in parsed || "error" in parsed)) {
        waiting.delete(Number(id))
        resolve(parsed)
      } else {
        notifications.push(parsed)
      }
    }
  })
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  const request = (method: string, params: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = nextId++
      waiting.set(id, resolve)
      child.stdin.write(`${JSON.stringify({ id, method, params })}\n`)
    })
  const initialized = await request("initialize", { clientInfo: { name: "serve-test", title: null, version: "1.0.0" } })
  if (!("result" in initialized)) throw new Error(`initialize failed: ${JSON.stringify(initialized)}\n${stderr}`)
  return {
    request,
    notifications,
    stderr: () => stderr,
    close: () => {
      child.stdin.end()
      return exit
    }
  }
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export const eventually = async <A>(check: () => Promise<A | undefined>, timeoutMs = 10_000, label = "condition"): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
