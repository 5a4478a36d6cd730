/**
 * `serve`'s first `plugin/list`, answered before the engine is loaded. A client lists right after `initialize`, and
 * loading the engine (Effect, the services, opening the log) costs about as much as the listing itself, which
 * needs none of it: it reads the marketplaces, the manifests, config.toml and the plugin cache, which the projector
 * keeps equal to the log. So when the client's first request (within a moment of the `initialize` answer) is a
 * plain `plugin/list`, and the checkpoint names the log's last record (the engine's start-up will project nothing,
 * so nothing the listing reads changes), FirstList.ts answers it from those files with the session's own steps;
 * the engine then starts and takes over its discovery (MarketplaceWatcher.layerAfter). Anything else is left to
 * the session, which answers it as it always does (a test holds the two side by side). No Effect dependency here.
 */
import * as NodeFs from "node:fs"
import type { Readable, Writable } from "node:stream"
import { lastRecord } from "../adapters/LogMark.ts"
import type { LedgerPaths } from "../services/LedgerPaths.ts"
import type { AnsweredInitialize, EarlyStart } from "./EarlyInitialize.ts"

/** A `plugin/list` request the fast path may answer (its params are decoded by FirstList.ts). */
export interface PlainList {
  readonly id: string | number
  readonly jsonrpc: boolean
  readonly params: unknown
}

/** how long after the `initialize` answer the client's first request is waited for */
const WINDOW_MS = 50

const NEWLINE = 0x0a

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * What a line is to the session: nothing (`"skip"`: a blank line or a notification, which it ignores), a plain
 * `plugin/list` request (an object of `id`, a string or a safe integer, `method`, `params` and perhaps
 * `"jsonrpc":"2.0"`), or anything else (undefined).
 */
export const earlyLine = (line: string): "skip" | PlainList | undefined => {
  if (line.trim() === "") return "skip"
  let message: unknown
  try {
    message = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!isPlainObject(message) || typeof message["method"] !== "string") return undefined
  const { id, method, params, jsonrpc } = message
  if (id === undefined || id === null) return "skip"
  if (method !== "plugin/list" || !Object.keys(message).every((key) => key === "id" || key === "method" || key === "params" || key === "jsonrpc")) {
    return undefined
  }
  if (jsonrpc !== undefined && jsonrpc !== "2.0") return undefined
  if (typeof id !== "string" && !(typeof id === "number" && Number.isSafeInteger(id))) return undefined
  return { id, jsonrpc: jsonrpc === "2.0", params }
}

interface FirstRequest {
  /** the request, and where its line is in `bytes` (the line and its `\n`) */
  readonly found?: { readonly request: PlainList; readonly start: number; readonly end: number }
  /** the first line that is not skipped is there (whether it is a plain list or not) */
  readonly complete: boolean
}

/** The first line of `bytes` that is not skipped, if it is whole. */
const firstRequest = (bytes: Buffer): FirstRequest => {
  for (let start = 0; ;) {
    const newline = bytes.indexOf(NEWLINE, start)
    if (newline < 0) return { complete: false }
    const line = earlyLine(bytes.subarray(start, newline).toString("utf8").replace(/\r$/, ""))
    if (line === undefined) return { complete: true }
    if (line !== "skip") return { complete: true, found: { request: line, start, end: newline + 1 } }
    start = newline + 1
  }
}

/** Reads on from `head` until its first request line is whole, `windowMs` passes or the input ends. */
const readFirstRequest = (head: Buffer, rest: Readable | undefined, windowMs: number): Promise<{ readonly bytes: Buffer; readonly rest: Readable | undefined }> => {
  if (rest === undefined || firstRequest(head).complete) return Promise.resolve({ bytes: head, rest })
  return new Promise((resolve) => {
    const chunks: Array<Buffer> = [head]
    let ended = false
    const finish = () => {
      clearTimeout(timer)
      rest.off("data", onData)
      rest.off("end", onEnd)
      rest.off("error", onError)
      if (!ended) rest.pause()
      resolve({ bytes: Buffer.concat(chunks), rest: ended ? undefined : rest })
    }
    const onData = (chunk: Buffer | string) => {
      chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
      if (firstRequest(Buffer.concat(chunks)).complete) finish()
    }
    const onEnd = () => {
      ended = true
      finish()
    }
    // the session's reader meets the error again and reports it
    const onError = () => finish()
    const timer = setTimeout(finish, windowMs)
    rest.on("data", onData)
    rest.once("end", onEnd)
    rest.once("error", onError)
    rest.resume()
  })
}

/** The checkpoint names the log's last record: the engine's start-up will write nothing to config.toml or the cache. */
const projectionIsCurrent = (paths: LedgerPaths): boolean => {
  const last = lastRecord(paths.ledgerDir)
  if (last === undefined) return false
  let checkpoint: unknown
  try {
    checkpoint = JSON.parse(NodeFs.readFileSync(paths.checkpointPath, "utf8"))
  } catch {
    return false
  }
  return isPlainObject(checkpoint) && checkpoint["seq"] === last.seq && checkpoint["h"] === last.h
}

/**
 * After `initialize` was answered: answers the client's first request on `output` when it is a plain `plugin/list`
 * that may be answered before the engine; the session reads on from everything else.
 */
export const answerFirstList = async (
  paths: LedgerPaths,
  answered: AnsweredInitialize & { readonly initialized: NonNullable<AnsweredInitialize["initialized"]> },
  output: Writable,
  windowMs = WINDOW_MS
): Promise<EarlyStart> => {
  // loaded while the client reads the `initialize` answer and sends its request (the engine needs most of it anyway)
  const loading = import("./FirstList.ts")
  loading.catch(() => {})
  const { bytes, rest } = await readFirstRequest(answered.head, answered.rest, windowMs)
  const unanswered: EarlyStart = { initialized: answered.initialized, input: { head: bytes, rest } }
  const { found } = firstRequest(bytes)
  if (found === undefined || !projectionIsCurrent(paths)) return unanswered
  const { prepareFirstList } = await loading
  let listing
  try {
    listing = prepareFirstList(paths, found.request)
  } catch {
    return unanswered
  }
  if (listing === undefined) return unanswered
  // from here the answer is under way: whatever fails is not for the session to answer again
  const listed = await listing.write(output)
  const remaining = Buffer.concat([bytes.subarray(0, found.start), bytes.subarray(found.end)])
  return { initialized: answered.initialized, listed, input: { head: remaining, rest } }
}
