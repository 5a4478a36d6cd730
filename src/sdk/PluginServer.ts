/**
 * The stdio loop every SDK plugin runs: newline-delimited JSON-RPC 2.0 on stdin/stdout. Handles the lifecycle
 * methods (`initialize`, `ping`, `shutdown`), routes capability methods to their handlers, answers the host's
 * storage responses, and never lets a malformed line or a failing handler take the process down.
 */
import * as readline from "node:readline"
import { format } from "node:util"
import { InvalidParamsError, JSON_RPC_ERROR_CODES, JsonRpcError, type JsonRpcErrorObject, toJsonRpcError } from "./PluginErrors.ts"
import { isLogLevel, type Logger } from "./PluginLogger.ts"
import { MAX_LINE_BYTES, PluginStorage } from "./PluginStorage.ts"
import type { InitializeParams, PluginManifest } from "./PluginTypes.ts"

/** What every handler gets besides its params. */
export interface HandlerContext {
  readonly storage: PluginStorage
  readonly logger: Logger
  /** The `initialize` params (adminConfig, userConfig, credentials, ...); `{}` until the host has sent them. */
  readonly init: InitializeParams
}

export type MethodHandler = (params: unknown, context: HandlerContext) => unknown

export interface PluginServerOptions {
  readonly manifest: PluginManifest
  readonly methods: ReadonlyMap<string, MethodHandler>
  readonly logger: Logger
  readonly onInitialize?: (params: InitializeParams, context: HandlerContext) => void | Promise<void>
  readonly storageTimeoutMs?: number
}

export interface PluginServer {
  readonly manifest: PluginManifest
  readonly logger: Logger
  readonly storage: PluginStorage
}

type RequestId = number | string | null

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A line with an id, `result` or `error`, and no `method` answers one of the plugin's own requests. */
export const isJsonRpcResponse = (message: Record<string, unknown>): boolean =>
  !("method" in message) && message["id"] !== null && message["id"] !== undefined && ("result" in message || "error" in message)

/** How long in-flight handlers may still answer after `shutdown` or stdin EOF before the process exits anyway. */
const DRAIN_MS = 2_000

export const runPluginServer = (options: PluginServerOptions): PluginServer => {
  const { logger, manifest } = options
  const writeLine = (line: string) => void process.stdout.write(line)
  const storage = new PluginStorage(writeLine, options.storageTimeoutMs === undefined ? {} : { timeoutMs: options.storageTimeoutMs })
  let init: InitializeParams = {}
  let inFlight = 0
  let closing = false
  const context = (): HandlerContext => ({ storage, logger, init })
  const idleWaiters: Array<() => void> = []
  /** Runs `then` once no request is in flight, or after DRAIN_MS whatever is still running. */
  const whenIdle = (then: () => void) => {
    let done = false
    const once = () => {
      if (done) return
      done = true
      then()
    }
    if (inFlight === 0) return once()
    idleWaiters.push(once)
    setTimeout(once, DRAIN_MS).unref()
  }

  // stdout is the protocol channel: stray console output from plugin code goes to stderr instead.
  console.log = (...args: Array<unknown>) => logger.info(format(...args))
  console.info = (...args: Array<unknown>) => logger.info(format(...args))
  console.debug = (...args: Array<unknown>) => logger.debug(format(...args))

  const exit = (code: number) => {
    storage.cancelAll()
    // Exit once what was written has been handed to the pipe.
    process.stdout.write("", () => process.exit(code))
  }

  const send = (id: RequestId, body: { result: unknown } | { error: JsonRpcErrorObject }) => {
    let line = JSON.stringify({ jsonrpc: "2.0", id, ...body }) + "\n"
    const bytes = Buffer.byteLength(line)
    if (bytes > MAX_LINE_BYTES) {
      // The host drops lines over 1 MiB, and its caller would only see a timeout; tell it why instead.
      logger.error(`Response to request ${String(id)} is ${bytes} bytes; the host reads at most ${MAX_LINE_BYTES}`)
      const error = { code: JSON_RPC_ERROR_CODES.INTERNAL_ERROR, message: `Response too large (${bytes} bytes, max ${MAX_LINE_BYTES})` }
      line = JSON.stringify({ jsonrpc: "2.0", id, error }) + "\n"
    }
    writeLine(line)
  }

  const dispatch = async (method: string, params: unknown): Promise<unknown> => {
    switch (method) {
      case "initialize": {
        if (params !== undefined && params !== null && !isRecord(params)) {
          throw new InvalidParamsError("params", "params must be an object")
        }
        init = isRecord(params) ? params : {}
        if (isLogLevel(init.logLevel)) logger.setLevel(init.logLevel)
        await options.onInitialize?.(init, context())
        logger.debug(`initialized ${manifest.name} ${manifest.version}`)
        return manifest
      }
      case "ping":
        return "pong"
      default: {
        const handler = options.methods.get(method)
        if (handler === undefined) {
          throw new JsonRpcError(JSON_RPC_ERROR_CODES.METHOD_NOT_FOUND, `Method not found: ${method}`)
        }
        return handler(params, context())
      }
    }
  }

  const handleRequest = async (message: Record<string, unknown>) => {
    const rawId = message["id"]
    const hasId = rawId !== undefined
    const id: RequestId = typeof rawId === "number" || typeof rawId === "string" ? rawId : null
    const method = message["method"]
    if (typeof method !== "string" || (hasId && rawId !== null && id === null)) {
      send(id, { error: { code: JSON_RPC_ERROR_CODES.INVALID_REQUEST, message: "Invalid Request" } })
      return
    }
    if (method === "shutdown") {
      logger.debug("shutdown requested")
      closing = true
      // Calls already running answer first; the host waits for this reply before its grace period.
      whenIdle(() => {
        if (hasId) send(id, { result: null })
        exit(0)
      })
      return
    }
    if (closing) {
      if (hasId) send(id, { error: { code: JSON_RPC_ERROR_CODES.INTERNAL_ERROR, message: "Plugin is shutting down" } })
      return
    }
    inFlight++
    try {
      const result = await dispatch(method, message["params"])
      // A notification (no id) gets no answer; `undefined` would drop the `result` key, which the host rejects.
      if (hasId) send(id, { result: result === undefined ? null : result })
    } catch (error) {
      const wire = toJsonRpcError(error)
      if (wire.code === JSON_RPC_ERROR_CODES.INTERNAL_ERROR) logger.error(`${method} failed`, error)
      else logger.debug(`${method} failed with ${wire.code}: ${wire.message}`)
      if (hasId) send(id, { error: wire })
    } finally {
      inFlight--
      if (inFlight === 0) for (const waiter of idleWaiters.splice(0)) waiter()
    }
  }

  const handleLine = (line: string) => {
    const text = line.trim()
    if (text === "") return
    let message: unknown
    try {
      message = JSON.parse(text)
    } catch {
      logger.warn(`Ignoring a line that is not JSON (${text.length} chars)`)
      send(null, { error: { code: JSON_RPC_ERROR_CODES.PARSE_ERROR, message: "Parse error: invalid JSON" } })
      return
    }
    if (!isRecord(message)) {
      send(null, { error: { code: JSON_RPC_ERROR_CODES.INVALID_REQUEST, message: "Invalid Request" } })
      return
    }
    if (isJsonRpcResponse(message)) {
      if (!storage.handleResponse(message)) logger.warn(`Response for unknown request id ${JSON.stringify(message["id"])}`)
      return
    }
    if (!("method" in message) && ("result" in message || "error" in message)) {
      // A response without an id (e.g. the host's own parse error): responses are never answered.
      logger.warn(`Ignoring a response without id: ${text.slice(0, 200)}`)
      return
    }
    void handleRequest(message)
  }

  process.on("uncaughtException", (error) => {
    logger.error("Uncaught exception", error)
    process.exit(1)
  })
  process.on("unhandledRejection", (reason) => logger.error("Unhandled rejection", reason))
  // The host went away mid-write: nothing left to talk to.
  process.stdout.on("error", () => process.exit(0))

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })
  lines.on("line", handleLine)
  lines.on("close", () => {
    closing = true
    // The host is gone: storage calls cannot be answered any more, so fail them and let handlers finish.
    storage.cancelAll("Storage client stopped: stdin closed")
    whenIdle(() => exit(0))
  })

  return { manifest, logger, storage }
}
