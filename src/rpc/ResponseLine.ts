/**
 * Response lines in the reference's shape: `{"id","result"}` and `{"error","id"}` (its key order), with
 * `"jsonrpc":"2.0"` first only when the client sent it. No Effect dependency: `serve` answers `initialize` with it
 * before the engine is loaded.
 */

/** A bigint only for integers beyond 2^53 (up to the reference's i64), so they are echoed with their exact digits. */
export type RequestId = string | number | bigint

export interface ErrorBody {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

const idJson = (id: RequestId | null): string => (typeof id === "bigint" ? id.toString() : JSON.stringify(id))
const prefix = (jsonrpc: boolean): string => (jsonrpc ? "{\"jsonrpc\":\"2.0\"," : "{")

/** A result line up to its result: `encodeResult` is this, the result's JSON and `}`. */
export const resultHead = (id: RequestId, jsonrpc: boolean): string => `${prefix(jsonrpc)}"id":${idJson(id)},"result":`

/**
 * Written by `JSON.stringify` in one piece where it can be (not for an i64 id beyond 2^53): a result joined into a
 * template is a rope, which the stream's write first copies flat (a listing is hundreds of kB).
 */
export const encodeResult = (id: RequestId, result: unknown, jsonrpc: boolean): string => {
  const value = result === undefined ? null : result
  if (typeof id === "bigint") return `${resultHead(id, jsonrpc)}${JSON.stringify(value)}}`
  return JSON.stringify(jsonrpc ? { jsonrpc: "2.0", id, result: value } : { id, result: value })
}

export const encodeError = (id: RequestId | null, error: ErrorBody, jsonrpc: boolean): string => {
  const body = error.data === undefined
    ? { code: error.code, message: error.message }
    : { code: error.code, message: error.message, data: error.data }
  return `${prefix(jsonrpc)}"error":${JSON.stringify(body)},"id":${idJson(id)}}`
}
