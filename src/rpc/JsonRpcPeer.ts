/**
 * Line-framed JSON-RPC peer in the Codex app-server dialect: one JSON object per line, `"jsonrpc"`
 * optional on input (echoed only when the client sent it), results as `{"id","result"}` and errors as
 * `{"error","id"}` (the reference's key order). Requests of one connection are handled in arrival order,
 * so a read sent after a write sees it (as with the reference); connections are independent. Responses go
 * out whole, one line each. Nothing but protocol is written to the output. Server notifications
 * (`{"method","params"}` lines) come from the handlers' `notifications` stream while the connection lives.
 * A request that has begun is answered even if the connection's fiber is interrupted (graceful shutdown).
 */
import { Cause, Context, Effect, Fiber, LogLevel, Schema, Stream } from "effect"
import { EarlyAnswer } from "../services/EarlyAnswer.ts"
import { giveWay } from "./GiveWay.ts"
import { encodeError, encodeResult, type RequestId } from "./ResponseLine.ts"

export class RpcError extends Schema.TaggedError<RpcError>()("RpcError", {
  code: Schema.Number,
  message: Schema.String,
  data: Schema.optionalKey(Schema.Unknown)
}) {}

export const ErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603
} as const

export interface IncomingRequest {
  readonly id: RequestId
  readonly method: string
  /** `undefined` when the request had no `params` key */
  readonly params: unknown
}

export interface IncomingNotification {
  readonly method: string
  readonly params: unknown
}

export interface LineChannel {
  /** incoming lines without their terminator; ends at EOF */
  readonly lines: Stream.Stream<string, Error>
  /** writes one whole line (the terminator is added) */
  readonly write: (line: string) => Effect.Effect<void>
}

/** A server -> client notification. */
export interface OutgoingNotification {
  readonly method: string
  readonly params: unknown
}

export interface PeerHandlers {
  /**
   * The request's work, asked for when the request's turn has come (so session checks such as `initialize` and
   * decoding may be done in the call, on the state seen then); a failure of either is the request's error answer.
   */
  readonly request: (request: IncomingRequest) => Effect.Effect<unknown, RpcError>
  readonly notification: (notification: IncomingNotification) => Effect.Effect<void>
  /** runs after a request's answer line was written */
  readonly answered?: (request: IncomingRequest) => Effect.Effect<void>
  /** written as they come, until the input ends and every request is answered */
  readonly notifications?: Stream.Stream<OutgoingNotification>
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

/**
 * The source text of the last top-level `"id"` member of a JSON object text that JSON.parse accepted. A lexical
 * scan that keeps no stack: a reviver would recurse through every nested value, and params nested 10,000 deep
 * overflow it (a valid i64 id was then refused).
 */
const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

const topLevelIdSource = (text: string): string | undefined => {
  let depth = 0
  let found: string | undefined
  let i = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      // a string: find its end, skipping escapes
      let end = i + 1
      while (end < text.length && text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1
      if (depth === 1) {
        let next = end + 1
        while (next < text.length && isJsonSpace(text.charCodeAt(next))) next++
        // a key (not a string value) that spells `id`, perhaps with escapes
        if (text.charAt(next) === ":" && end - i < 64 && JSON.parse(text.slice(i, end + 1)) === "id") {
          let start = next + 1
          while (start < text.length && isJsonSpace(text.charCodeAt(start))) start++
          let stop = start
          while (stop < text.length && /[-+.eE0-9]/.test(text.charAt(stop))) stop++
          found = text.slice(start, stop)
        }
      }
      i = end + 1
    } else {
      if (c === 0x7b || c === 0x5b) depth++
      else if (c === 0x7d || c === 0x5d) depth--
      i++
    }
  }
  return found
}

/**
 * The request id of a parsed frame, or `undefined` if `value` is not one (the reference takes a string or an i64).
 * JSON.parse rounds integers beyond 2^53, so for those the id's own text is read back from the line.
 */
const requestIdOf = (line: string, value: unknown): RequestId | undefined => {
  if (typeof value === "string" || (typeof value === "number" && Number.isSafeInteger(value))) return value
  if (typeof value !== "number" || !Number.isInteger(value)) return undefined
  const source = topLevelIdSource(line)
  if (source === undefined || !/^-?\d+$/.test(source)) return undefined
  const id = BigInt(source)
  return id >= I64_MIN && id <= I64_MAX ? id : undefined
}

/** A notification sent to many connections is serialised once. */
const encodedNotifications = new WeakMap<OutgoingNotification, string>()

export const encodeNotification = (notification: OutgoingNotification): string => {
  let line = encodedNotifications.get(notification)
  if (line === undefined) {
    line = `{"method":${JSON.stringify(notification.method)},"params":${JSON.stringify(notification.params ?? null)}}`
    encodedNotifications.set(notification, line)
  }
  return line
}

type Frame =
  | { readonly _tag: "Request"; readonly request: IncomingRequest; readonly jsonrpc: boolean }
  | { readonly _tag: "Notification"; readonly notification: IncomingNotification }
  | { readonly _tag: "Reply"; readonly line: string }
  | { readonly _tag: "Ignore" }

/** Classifies one input line. Bad frames get an error reply (the reference drops them silently). */
export const classify = (line: string): Frame => {
  if (line.trim() === "") return { _tag: "Ignore" }
  let message: unknown
  try {
    message = JSON.parse(line)
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause)
    const error = new RpcError({ code: ErrorCode.parseError, message: `Parse error: ${detail}` })
    return { _tag: "Reply", line: encodeError(null, error, false) }
  }
  if (!isRecord(message)) {
    const error = new RpcError({ code: ErrorCode.invalidRequest, message: "Invalid request: expected a JSON object" })
    return { _tag: "Reply", line: encodeError(null, error, false) }
  }
  const jsonrpc = message["jsonrpc"] === "2.0"
  const hasId = "id" in message && message["id"] !== null
  if (!("method" in message)) {
    // a response to a request of ours; this server sends none yet
    if (hasId && ("result" in message || "error" in message)) return { _tag: "Ignore" }
    const error = new RpcError({ code: ErrorCode.invalidRequest, message: "Invalid request: missing field `method`" })
    return { _tag: "Reply", line: encodeError(requestIdOf(line, message["id"]) ?? null, error, jsonrpc) }
  }
  const method = message["method"]
  const id = requestIdOf(line, message["id"])
  if (hasId && id === undefined) {
    const error = new RpcError({
      code: ErrorCode.invalidRequest,
      message: "Invalid request: request id must be a string or an integer"
    })
    return { _tag: "Reply", line: encodeError(null, error, jsonrpc) }
  }
  if (typeof method !== "string") {
    const error = new RpcError({ code: ErrorCode.invalidRequest, message: "Invalid request: method must be a string" })
    return { _tag: "Reply", line: encodeError(id ?? null, error, jsonrpc) }
  }
  const params = message["params"]
  if (id !== undefined) return { _tag: "Request", request: { id, method, params }, jsonrpc }
  return { _tag: "Notification", notification: { method, params } }
}

/** Serves one channel until its input ends; every request read before the end is answered. */
export const servePeer = (channel: LineChannel, handlers: PeerHandlers): Effect.Effect<void, Error> =>
  Effect.scoped(Effect.gen(function*() {
    if (handlers.notifications !== undefined) {
      yield* handlers.notifications.pipe(
        Stream.runForEach((notification) => channel.write(encodeNotification(notification))),
        Effect.forkScoped({ startImmediately: true })
      )
    }
    /**
     * The request's work, answered: its result, or its error (a defect is logged and answered as an internal error).
     * `early` is the write of a result the work sent before it ended (EarlyAnswer): it is awaited instead of writing
     * a second response, and a failure after it is only logged. Then `answered`.
     */
    const answer = (request: IncomingRequest, jsonrpc: boolean, work: Effect.Effect<unknown, RpcError>, early: () => Fiber.Fiber<void> | undefined) => {
      const then = (written: Effect.Effect<void>) =>
        handlers.answered === undefined ? written : Effect.andThen(written, handlers.answered(request))
      return Effect.matchCauseEffect(work, {
        onSuccess: (result) => {
          const sent = early()
          return then(sent !== undefined ? Fiber.join(sent) : channel.write(encodeResult(request.id, result, jsonrpc)))
        },
        onFailure: (cause) => {
          const sent = early()
          if (sent !== undefined) {
            return then(Effect.logError("request failed after its answer was sent", { method: request.method }, cause).pipe(
              Effect.andThen(Fiber.join(sent))
            ))
          }
          const failure = Cause.findErrorOption(cause)
          if (failure._tag === "Some") return then(channel.write(encodeError(request.id, failure.value, jsonrpc)))
          return then(Effect.logError("request failed unexpectedly", { method: request.method }, cause).pipe(
            Effect.andThen(channel.write(encodeError(
              request.id,
              new RpcError({ code: ErrorCode.internalError, message: "Internal error" }),
              jsonrpc
            )))
          ))
        }
      })
    }
    /**
     * A request that has begun runs to its answer even when the connection is interrupted: in a fiber of its own,
     * which nothing interrupts (parts of it, like waiting for the ledger lock, are interruptible regions of their
     * own), started at once (not on the scheduler's next turn of the event loop) and awaited without interruption.
     * Forked with `runForkWith` in one step of the connection's fiber, with EarlyAnswer in its context: a fork, a
     * provide and a flatMap of their own were runtime steps on every request.
     */
    const serveRequest = (request: IncomingRequest, jsonrpc: boolean, debugging: boolean): Effect.Effect<void> =>
      Effect.uninterruptible(Effect.withFiber((connection) => {
        // the result a command sends before its handler ends: its write is started at once, in a fiber of its own
        // (the command goes on meanwhile), and only the first one (one response per request)
        let early: Fiber.Fiber<void> | undefined
        const sendEarly = (value: unknown): void => {
          if (early !== undefined) return
          early = Effect.runForkWith(connection.context)(channel.write(encodeResult(request.id, value, jsonrpc)))
          // the client reads its answer before the command's remaining work (GiveWay.ts)
          giveWay()
        }
        // asked now that the request's turn has come; a handler that throws fails this request, not the connection
        let work: Effect.Effect<unknown, RpcError>
        try {
          work = handlers.request(request)
        } catch (defect) {
          work = Effect.die(defect)
        }
        if (debugging) work = Effect.andThen(Effect.logDebug(`request ${String(request.id)} ${request.method}`), work)
        const context = Context.add(connection.context, EarlyAnswer, sendEarly)
        return Fiber.join(Effect.runForkWith(context)(answer(request, jsonrpc, work, () => early)))
      }))
    // asked once per connection: a debug log per request is a runtime step even when nothing is logged
    const debugging = yield* LogLevel.isEnabled("Debug")
    yield* channel.lines.pipe(
      Stream.runForEach((line) => {
        const frame = classify(line)
        switch (frame._tag) {
          case "Ignore":
            return Effect.void
          case "Reply":
            return channel.write(frame.line)
          case "Notification":
            return handlers.notification(frame.notification)
          case "Request":
            return serveRequest(frame.request, frame.jsonrpc, debugging)
        }
      })
    )
  }))
