/**
 * A JSON-lines protocol client for integration tests: over a Unix socket (`plugin-ledger daemon`) or over a
 * child's stdin/stdout (`serve`, `proxy`). Every line is kept; responses are awaited by id, notifications by
 * predicate. Every line must be JSON (the protocol stream carries nothing else).
 */
import * as Net from "node:net"
import type { Readable, Writable } from "node:stream"

export type Message = Readonly<Record<string, unknown>>

const isRecord = (value: unknown): value is Message => typeof value === "object" && value !== null && !Array.isArray(value)

/** A field, or an array element by its index, along `path`; undefined where the path does not exist. */
export const field = (value: unknown, ...path: ReadonlyArray<string>): unknown => {
  let current = value
  for (const key of path) current = Array.isArray(current) ? current[Number(key)] : isRecord(current) ? current[key] : undefined
  return current
}

const TIMEOUT_MS = 20_000

export class LineClient {
  /** every line received, in order */
  readonly lines: Array<string> = []
  readonly messages: Array<Message> = []
  private pending = ""
  private ended = false
  private waiters = new Set<() => void>()
  private nextId = 0
  private readonly output: Writable
  readonly label: string

  constructor(input: Readable, output: Writable, label: string) {
    this.output = output
    this.label = label
    input.setEncoding("utf8")
    input.on("data", (chunk: string) => {
      this.pending += chunk
      for (let newline = this.pending.indexOf("\n"); newline >= 0; newline = this.pending.indexOf("\n")) {
        const line = this.pending.slice(0, newline)
        this.pending = this.pending.slice(newline + 1)
        this.lines.push(line)
        const parsed: unknown = JSON.parse(line) // not JSON: the test fails loudly here
        if (!isRecord(parsed)) throw new Error(`${label}: not a JSON object: ${line}`)
        this.messages.push(parsed)
      }
      this.wake()
    })
    input.on("end", () => {
      this.ended = true
      this.wake()
    })
    input.on("error", () => {
      this.ended = true
      this.wake()
    })
  }

  static connect(socketPath: string, label: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = Net.connect({ path: socketPath, allowHalfOpen: true })
      socket.once("connect", () => resolve(new LineClient(socket, socket, label)))
      socket.once("error", reject)
    })
  }

  get isEnded(): boolean {
    return this.ended
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter()
  }

  /** Resolves once `predicate` holds (checked on every line); rejects after the timeout or at the end of input. */
  waitUntil<A>(predicate: () => A | undefined, what: string, timeoutMs = TIMEOUT_MS): Promise<A> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const value = predicate()
        if (value !== undefined) {
          done()
          resolve(value)
          return true
        }
        if (this.ended) {
          done()
          reject(new Error(`${this.label}: input ended while waiting for ${what}; last lines: ${this.lines.slice(-3).join("\n")}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms; last lines: ${this.lines.slice(-3).join("\n")}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(waiter)
      }
      const waiter = () => void check()
      if (!check()) this.waiters.add(waiter)
    })
  }

  send(message: unknown): void {
    this.output.write(`${JSON.stringify(message)}\n`)
  }

  /** Sends a request; resolves with its response message (result or error). */
  request(method: string, params: unknown): Promise<Message> {
    const id = `${this.label}-${++this.nextId}`
    return this.sendRequest(id, method, params)
  }

  sendRequest(id: string, method: string, params: unknown): Promise<Message> {
    this.send({ id, method, params })
    return this.response(id)
  }

  response(id: string): Promise<Message> {
    return this.waitUntil(
      () => this.messages.find((m) => m["id"] === id && ("result" in m || "error" in m)),
      `response ${id}`
    )
  }

  /** Sends a request and returns its result, failing on an error response. */
  async call(method: string, params: unknown): Promise<unknown> {
    const response = await this.request(method, params)
    if ("error" in response) throw new Error(`${this.label}: ${method} failed: ${JSON.stringify(response["error"])}`)
    return response["result"]
  }

  async initialize(name = this.label): Promise<void> {
    await this.call("initialize", { clientInfo: { name, title: null, version: "1" } })
    this.send({ method: "initialized" })
  }

  notifications(method: string): ReadonlyArray<Message> {
    return this.messages.filter((m) => m["method"] === method && !("id" in m))
  }

  /** Waits until `count` notifications of `method` arrived. */
  awaitNotifications(method: string, count: number, timeoutMs = TIMEOUT_MS): Promise<ReadonlyArray<Message>> {
    return this.waitUntil(() => {
      const found = this.notifications(method)
      return found.length >= count ? found : undefined
    }, `${count} ${method} notification(s)`, timeoutMs)
  }

  /** Ends the sending side (EOF for the server). */
  end(): void {
    this.output.end()
  }
}
