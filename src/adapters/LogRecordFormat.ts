/**
 * One line of the event log: the record format (`{"v","seq","id","ts","type","data","more"?,"prev","h"}`), its
 * 128-bit hash over the line's own bytes, and the scan that checks a byte range against the hash chain (committed
 * records, torn tails, incomplete batches, benign fragments, orphans, breaks: `LogScan.ts`).
 *
 * A command's records are appended as one batch. Every record of a batch but the last carries `more`: how many
 * records of the same batch follow it. A batch is committed only when its last record is there, so a write cut
 * short between two records (a SIGKILL stops a `write` at a page boundary; a power loss keeps some pages of an
 * unsynced write) leaves a tail that is cut off whole, never a command recorded in part. Logs written before
 * `more` existed have none: each record is a batch of its own, as those versions read it.
 */
import { hash } from "node:crypto"
import { Result, Schema } from "effect"

/** A committed record: verified hash, contiguous `seq`, `prev` = the previous record's `h`. */
export interface LogRecord {
  readonly seq: number
  readonly id: string
  readonly ts: string
  readonly type: string
  readonly data: unknown
  readonly prev: string
  readonly h: string
  /** records of the same batch that follow this one; absent on a batch's last record */
  readonly more?: number
}

/** What a writer supplies; `id` is the idempotency key. */
export interface NewRecord {
  readonly id: string
  readonly ts: string
  readonly type: string
  readonly data: unknown
}

/** A torn tail removed at open; `quarantineFile` is relative to the ledger directory. */
export interface TailRepair {
  readonly bytes: number
  readonly sha256: string
  readonly quarantineFile: string
}

export class LogFileError extends Schema.TaggedError<LogFileError>()("LogFileError", {
  reason: Schema.Literals(["ReadOnly", "Io", "Corrupt"]),
  message: Schema.String
}) {}

export const FORMAT_VERSION = 1
export const ZERO_HASH = "0".repeat(32)
/** Larger payloads belong in a content-addressed blob, referenced from the record. */
export const MAX_RECORD_BYTES = 1024 * 1024
const HASH_MARKER = Buffer.from(`,"h":"`, "utf8")

/** First 128 bits of SHA-256, as 32 lower-case hex characters. */
export const hash128 = (bytes: Uint8Array | string): string => hash("sha256", bytes, "hex").slice(0, 32)

// ---------------------------------------------------------------------------------------------
// Encoding and parsing of one line

/**
 * Serialise one record with keys in the fixed order; `h` covers the bytes before `,"h":"`. `more`: records of the
 * same batch written after this one (0 for a batch's last record, which carries no `more`).
 */
export const encodeRecord = (
  seq: number,
  prev: string,
  record: NewRecord,
  more = 0
): { readonly line: Buffer; readonly record: LogRecord } => {
  const dataJson = JSON.stringify(record.data)
  if (dataJson === undefined) throw new TypeError(`event log: record ${record.id} has no JSON-serialisable data`)
  if (!Number.isSafeInteger(more) || more < 0) throw new RangeError(`event log: record ${record.id} has more = ${more}`)
  const body = `{"v":${FORMAT_VERSION},"seq":${seq},"id":${JSON.stringify(record.id)},"ts":${JSON.stringify(record.ts)},` +
    `"type":${JSON.stringify(record.type)},"data":${dataJson}${more > 0 ? `,"more":${more}` : ""},"prev":"${prev}"`
  const h = hash128(body)
  const line = Buffer.from(`${body},"h":"${h}"}\n`, "utf8")
  if (line.length > MAX_RECORD_BYTES) {
    throw new RangeError(`event log: record ${record.id} is ${line.length} bytes (max ${MAX_RECORD_BYTES}); store large payloads as blobs`)
  }
  // parse the data back so the in-memory record equals what a reader of the file gets
  const parsedData: unknown = JSON.parse(dataJson)
  const encoded: LogRecord = { seq, id: record.id, ts: record.ts, type: record.type, data: parsedData, prev, h }
  return { line, record: more > 0 ? { ...encoded, more } : encoded }
}

/** The records of `batch` to append: those whose id is not `known`, each id once (its first record). */
export const newRecordsOf = (batch: ReadonlyArray<NewRecord>, known: (id: string) => boolean): ReadonlyArray<NewRecord> => {
  const seen = new Set<string>()
  return batch.filter((r) => {
    if (known(r.id) || seen.has(r.id)) return false
    seen.add(r.id)
    return true
  })
}

/** A batch's lines, in one buffer for one write: each record chained to the one before, `more` counting down. */
export const encodeBatch = (
  head: Head,
  batch: ReadonlyArray<NewRecord>
): { readonly bytes: Buffer; readonly records: ReadonlyArray<LogRecord>; readonly head: Head } => {
  const lines: Array<Buffer> = []
  const records: Array<LogRecord> = []
  let prev = head
  for (const [i, r] of batch.entries()) {
    const encoded = encodeRecord(prev.seq + 1, prev.h, r, batch.length - 1 - i)
    lines.push(encoded.line)
    records.push(encoded.record)
    prev = { seq: encoded.record.seq, h: encoded.record.h }
  }
  return { bytes: Buffer.concat(lines), records, head: prev }
}

const Hex32 = Schema.String.check(Schema.isPattern(/^[0-9a-f]{32}$/))
const decodeJson = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Unknown))
const decodeVersion = Schema.decodeUnknownResult(Schema.Struct({ v: Schema.Number }))
const decodeRecordV1 = Schema.decodeUnknownResult(Schema.Struct({
  v: Schema.Literal(1),
  seq: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  id: Schema.String,
  ts: Schema.String,
  type: Schema.String,
  data: Schema.Unknown,
  more: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  prev: Hex32,
  h: Hex32
}))

type ParsedLine =
  | { readonly _tag: "Valid"; readonly record: LogRecord }
  | { readonly _tag: "Invalid"; readonly reason: string }
  | { readonly _tag: "Newer"; readonly v: number }

/**
 * A line (without its newline) is valid when the hash over the bytes before the last
 * `,"h":"` matches and the JSON decodes. A hash-valid line with another `v` is from a newer
 * format (future formats keep this framing rule).
 */
export const parseLine = (line: Buffer): ParsedLine => {
  const at = line.lastIndexOf(HASH_MARKER)
  if (at < 0) return { _tag: "Invalid", reason: "no hash field" }
  const tail = line.subarray(at + HASH_MARKER.length).toString("latin1")
  if (!/^[0-9a-f]{32}"\}$/.test(tail)) return { _tag: "Invalid", reason: "malformed hash field" }
  const h = tail.slice(0, 32)
  if (hash128(line.subarray(0, at)) !== h) return { _tag: "Invalid", reason: "hash mismatch" }
  const fast = fastRecord(line, h)
  return fast === undefined ? parseVerifiedLine(line, h) : { _tag: "Valid", record: fast }
}

const HEX32 = /^[0-9a-f]{32}$/

/**
 * The common case without the Schema decoders (opening a long log): a line that `JSON.parse` reads as a v1 record
 * whose fields are all plainly what `decodeRecordV1` accepts. Anything else (undefined) goes the Schema way, which
 * decides and words the reason; the test compares both ways on mutated lines.
 */
const fastRecord = (line: Buffer, h: string): LogRecord | undefined => {
  let json: unknown
  try {
    json = JSON.parse(line.toString("utf8"))
  } catch {
    return undefined
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  const record = json
  const get = (key: string): unknown => (Object.hasOwn(record, key) ? Reflect.get(record, key) : undefined)
  const seq = get("seq")
  const id = get("id")
  const ts = get("ts")
  const type = get("type")
  const prev = get("prev")
  if (get("v") !== 1 || typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return undefined
  if (typeof id !== "string" || typeof ts !== "string" || typeof type !== "string") return undefined
  if (typeof prev !== "string" || !HEX32.test(prev) || !Object.hasOwn(record, "data") || get("h") !== h) return undefined
  if (!Object.hasOwn(record, "more")) return { seq, id, ts, type, data: get("data"), prev, h }
  const more = get("more")
  if (typeof more !== "number" || !Number.isSafeInteger(more) || more < 1) return undefined
  return { seq, id, ts, type, data: get("data"), prev, h, more }
}

/** A line whose hash verifies, decoded with the Schema decoders (exported for the test of `fastRecord`). */
export const parseVerifiedLine = (line: Buffer, h: string): ParsedLine => {
  const json = decodeJson(line.toString("utf8"))
  if (Result.isFailure(json)) return { _tag: "Invalid", reason: "hash verifies but the line is not JSON" }
  const version = decodeVersion(json.success)
  if (Result.isFailure(version)) return { _tag: "Invalid", reason: "hash verifies but there is no numeric v" }
  if (version.success.v !== FORMAT_VERSION) return { _tag: "Newer", v: version.success.v }
  const decoded = decodeRecordV1(json.success)
  if (Result.isFailure(decoded)) return { _tag: "Invalid", reason: `hash verifies but the record is malformed (${decoded.failure.message})` }
  const r = decoded.success
  if (r.h !== h) return { _tag: "Invalid", reason: "h field does not match the framed hash" }
  const record: LogRecord = { seq: r.seq, id: r.id, ts: r.ts, type: r.type, data: r.data, prev: r.prev, h: r.h }
  return { _tag: "Valid", record: r.more === undefined ? record : { ...record, more: r.more } }
}

/** The last record a writer chains to: its seq and hash. */
export interface Head {
  readonly seq: number
  readonly h: string
}
export const EMPTY_HEAD: Head = { seq: 0, h: ZERO_HASH }
