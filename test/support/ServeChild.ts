/**
 * A `plugin-ledger serve` child process (the bundled CLI, see Bundle.ts) and a minimal client for it: pipelined
 * requests, responses matched by id, every stdout line checked to be a JSON object.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { bundled } from "./Bundle.ts"
import { type ChildExit, LineChild } from "./LineChild.ts"

const MAIN = Path.resolve(import.meta.dirname, "../../src/cli/main.ts")

export const serveScript = (): Promise<string> => bundled(MAIN)

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export interface ServeEnv {
  readonly codexHome: string
  readonly home: string
  readonly cwd: string
}

export class ServeChild {
  readonly process: LineChild
  /** stdout lines that were not a JSON object (must stay empty: stdout carries protocol only) */
  readonly nonProtocol: Array<string> = []
  private readonly responses = new Map<string, unknown>()
  private parsed = 0

  private constructor(child: LineChild) {
    this.process = child
  }

  static async start(env: ServeEnv, clientName = "durability"): Promise<ServeChild> {
    const script = await serveScript()
    // `ledger/replay` without `into` makes a temp dir, the caller's to keep: under HOME, it goes with the test's dirs
    const tmpdir = Path.join(env.home, "tmp")
    NodeFs.mkdirSync(tmpdir, { recursive: true })
    const child = new LineChild(script, ["serve"], { env: { CODEX_HOME: env.codexHome, HOME: env.home, TMPDIR: tmpdir }, cwd: env.cwd })
    const serve = new ServeChild(child)
    const init = await serve.request("initialize", { clientInfo: { name: clientName, title: null, version: "1" } }, "__init__")
    if (!isRecord(init) || !isRecord(init["result"])) throw new Error(`initialize failed: ${JSON.stringify(init)}`)
    serve.send({ method: "initialized" })
    return serve
  }

  send(frame: unknown): void {
    this.process.send(JSON.stringify(frame))
  }

  sendRaw(line: string | Buffer): void {
    this.process.send(line)
  }

  /** Parses the lines received so far; responses are indexed by their id's JSON text. */
  private drain(): void {
    for (; this.parsed < this.process.lines.length; this.parsed++) {
      const line = this.process.lines[this.parsed] ?? ""
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        this.nonProtocol.push(line)
        continue
      }
      if (!isRecord(value)) {
        this.nonProtocol.push(line)
        continue
      }
      if ("result" in value || "error" in value) this.responses.set(JSON.stringify(value["id"] ?? null), value)
    }
  }

  /** The responses received so far, by id. */
  received(): ReadonlyMap<string, unknown> {
    this.drain()
    return this.responses
  }

  responseTo(id: string | number): unknown {
    this.drain()
    return this.responses.get(JSON.stringify(id))
  }

  async waitFor(id: string | number, timeoutMs = 30_000): Promise<unknown> {
    const key = JSON.stringify(id)
    await this.process.waitForLine(() => {
      this.drain()
      return this.responses.has(key)
    }, timeoutMs)
    return this.responses.get(key)
  }

  async request(method: string, params: unknown, id: string | number): Promise<unknown> {
    this.send({ id, method, params })
    return this.waitFor(id)
  }

  /** Closes stdin (the server answers what it read, then exits) and waits for the exit. */
  async close(timeoutMs = 30_000): Promise<ChildExit> {
    this.process.endInput()
    const timer = setTimeout(() => void this.process.kill(), timeoutMs)
    const exit = await this.process.exit
    clearTimeout(timer)
    this.drain()
    return exit
  }
}
