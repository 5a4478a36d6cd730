/**
 * `serve`'s first moments. Loading the engine (Effect, the services, opening the log) takes longer than the
 * whole start of the reference, and the answer to `initialize` needs none of it. So before anything else is
 * loaded, `serve` reads the first line and, when it is a plain `initialize`, answers it at once; the session
 * then starts initialized. Whatever this fast path does not check (another method, params with anything more)
 * is left to the session, which answers it as it always does: the answer given here is only ever the one the
 * session would give (a test holds the two side by side). No Effect dependency, by design.
 */
import type { Readable, Writable } from "node:stream"
import { type LogMark, takeLogMark } from "../adapters/LogMark.ts"
import { type ClientInfo, initializeResult } from "../rpc/InitializeResult.ts"
import { encodeResult } from "../rpc/ResponseLine.ts"
import type { EarlyListing } from "../services/MarketplaceWatcher.ts"

/** What `serve` did before the engine was loaded, and the input the session is to read. */
export interface EarlyStart {
  /** `initialize` was answered for this client; `mark` is where the log ended when the answer went out */
  readonly initialized?: { readonly clientName: string; readonly mark: LogMark }
  /** the client's first `plugin/list` was answered too (EarlyList.ts); its discovery goes on in the engine */
  readonly listed?: EarlyListing
  /** stdin from the first byte the session has not seen: bytes read already, and the stream (unless it ended) */
  readonly input: SessionInput
}

export interface SessionInput {
  readonly head: Buffer
  readonly rest: Readable | undefined
}

/** `initialize` answered (or not) and the input as it stands: bytes already read, and the stream (unless it ended). */
export interface AnsweredInitialize {
  readonly initialized?: { readonly clientName: string; readonly mark: LogMark }
  readonly head: Buffer
  readonly rest: Readable | undefined
}

/** An `initialize` request the fast path answers. */
export interface PlainInitialize {
  readonly id: string | number
  readonly jsonrpc: boolean
  readonly client: ClientInfo
}

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const onlyKeys = (value: Readonly<Record<string, unknown>>, allowed: ReadonlyArray<string>): boolean =>
  Object.keys(value).every((key) => allowed.includes(key))

const isStringList = (value: unknown): boolean => Array.isArray(value) && value.every((item) => typeof item === "string")

/**
 * The request when `line` is an `initialize` with nothing the session would treat differently: a JSON object of
 * `id` (a string or a safe integer), `method`, `params` and perhaps `"jsonrpc":"2.0"`; params of `clientInfo`
 * (`name` and `version` strings, `title` a string, null or absent) and perhaps `capabilities` (null, or an object
 * of a boolean `experimentalApi` and a null or string-list `optOutNotificationMethods`). Anything else: undefined.
 */
export const plainInitialize = (line: string): PlainInitialize | undefined => {
  let message: unknown
  try {
    message = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!isPlainObject(message) || !onlyKeys(message, ["id", "method", "params", "jsonrpc"])) return undefined
  const { id, method, params, jsonrpc } = message
  if (method !== "initialize" || (jsonrpc !== undefined && jsonrpc !== "2.0")) return undefined
  if (typeof id !== "string" && !(typeof id === "number" && Number.isSafeInteger(id))) return undefined
  if (!isPlainObject(params) || !onlyKeys(params, ["clientInfo", "capabilities"])) return undefined
  const { clientInfo, capabilities } = params
  if (capabilities !== undefined && capabilities !== null) {
    if (!isPlainObject(capabilities) || !onlyKeys(capabilities, ["experimentalApi", "optOutNotificationMethods"])) return undefined
    const { experimentalApi, optOutNotificationMethods } = capabilities
    if (experimentalApi !== undefined && typeof experimentalApi !== "boolean") return undefined
    if (optOutNotificationMethods !== undefined && optOutNotificationMethods !== null && !isStringList(optOutNotificationMethods)) {
      return undefined
    }
  }
  if (!isPlainObject(clientInfo) || !onlyKeys(clientInfo, ["name", "title", "version"])) return undefined
  const { name, title, version } = clientInfo
  if (typeof name !== "string" || typeof version !== "string") return undefined
  if (title !== undefined && title !== null && typeof title !== "string") return undefined
  return { id, jsonrpc: jsonrpc === "2.0", client: { name, title: title ?? null, version } }
}

interface FirstLine {
  /** every byte read so far */
  readonly bytes: Buffer
  /** the index of the first `\n` in `bytes`, if one came */
  readonly newline: number
  readonly ended: boolean
}

/** Reads `input` until its first `\n`, its end, or `windowMs` (a client that waits to speak gets the normal path). */
const readFirstLine = (input: Readable, windowMs: number): Promise<FirstLine> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let length = 0
    const finish = (newline: number, ended: boolean) => {
      clearTimeout(timer)
      input.off("data", onData)
      input.off("end", onEnd)
      input.off("error", onError)
      if (!ended) input.pause()
      resolve({ bytes: Buffer.concat(chunks, length), newline, ended })
    }
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk
      const at = bytes.indexOf(0x0a)
      const offset = length
      chunks.push(bytes)
      length += bytes.length
      if (at >= 0) finish(offset + at, false)
    }
    const onEnd = () => finish(-1, true)
    // the session's reader meets the error again and reports it
    const onError = () => finish(-1, false)
    const timer = setTimeout(() => finish(-1, false), windowMs)
    input.on("data", onData)
    input.once("end", onEnd)
    input.once("error", onError)
  })

/**
 * Answers a plain `initialize` arriving first on `input` (within `windowMs`) on `output`, after taking the log's
 * mark; everything else read is handed on untouched.
 */
export const answerInitialize = async (
  ledgerDir: string,
  input: Readable,
  output: Writable,
  windowMs = 250
): Promise<AnsweredInitialize> => {
  const first = await readFirstLine(input, windowMs)
  const rest = first.ended ? undefined : input
  const line = first.newline < 0 ? undefined : first.bytes.subarray(0, first.newline).toString("utf8").replace(/\r$/, "")
  const request = line === undefined ? undefined : plainInitialize(line)
  if (request === undefined) return { head: first.bytes, rest }
  // before the answer: whatever is appended once the client has it must reach the client
  const mark = takeLogMark(ledgerDir)
  output.write(`${encodeResult(request.id, initializeResult(request.client), request.jsonrpc)}\n`)
  return { initialized: { clientName: request.client.name, mark }, head: first.bytes.subarray(first.newline + 1), rest }
}

/** `answerInitialize`, with the input handed on as the session reads it. */
export const startServe = async (ledgerDir: string, input: Readable, output: Writable, windowMs = 250): Promise<EarlyStart> => {
  const { initialized, head, rest } = await answerInitialize(ledgerDir, input, output, windowMs)
  return { ...(initialized === undefined ? {} : { initialized }), input: { head, rest } }
}
