/**
 * One line of the event log: the record format (`{"v","seq","id","ts","type","data","prev","h"}`), its 128-bit
 * hash over the line's own bytes, and the scan that checks a byte range against the hash chain (committed
 * records, torn tails, benign fragments, orphans, breaks).
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
const NEWLINE = 0x0a

/** First 128 bits of SHA-256, as 32 lower-case hex characters. */
export const hash128 = (bytes: Uint8Array | string): string => hash("sha256", bytes, "hex").slice(0, 32)

// ---------------------------------------------------------------------------------------------
// Encoding and parsing of one line

/** Serialise one record with keys in the fixed order; `h` covers the bytes before `,"h":"`. */
export const encodeRecord = (seq: number, prev: string, record: NewRecord): { readonly line: Buffer; readonly record: LogRecord } => {
  const dataJson = JSON.stringify(record.data)
  if (dataJson === undefined) throw new TypeError(`event log: record ${record.id} has no JSON-serialisable data`)
  const body = `{"v":${FORMAT_VERSION},"seq":${seq},"id":${JSON.stringify(record.id)},"ts":${JSON.stringify(record.ts)},` +
    `"type":${JSON.stringify(record.type)},"data":${dataJson},"prev":"${prev}"`
  const h = hash128(body)
  const line = Buffer.from(`${body},"h":"${h}"}\n`, "utf8")
  if (line.length > MAX_RECORD_BYTES) {
    throw new RangeError(`event log: record ${record.id} is ${line.length} bytes (max ${MAX_RECORD_BYTES}); store large payloads as blobs`)
  }
  // parse the data back so the in-memory record equals what a reader of the file gets
  const parsedData: unknown = JSON.parse(dataJson)
  return { line, record: { seq, id: record.id, ts: record.ts, type: record.type, data: parsedData, prev, h } }
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
  return { seq, id, ts, type, data: get("data"), prev, h }
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
  return { _tag: "Valid", record: { seq: r.seq, id: r.id, ts: r.ts, type: r.type, data: r.data, prev: r.prev, h: r.h } }
}

// ---------------------------------------------------------------------------------------------
// Scanning a byte range against the chain

export interface Head {
  readonly seq: number
  readonly h: string
}
export const EMPTY_HEAD: Head = { seq: 0, h: ZERO_HASH }

export interface ScanResult {
  readonly committed: ReadonlyArray<LogRecord>
  /** offset in the scanned buffer just past the last committed record */
  readonly committedEnd: number
  readonly head: Head
  /** benign fragments and orphans that were followed by committed records */
  readonly skipped: ReadonlyArray<string>
  /** set when nothing may be written: a chain break (committed data missing) or a newer format */
  readonly stop: string | undefined
  /** what the bytes after `committedEnd` contain, when there are any */
  readonly tail: ReadonlyArray<string>
}

/**
 * Apply the chain rule to `buf` (which starts at byte `base` of segment `where`): a record is
 * committed if it verifies and has `seq == head.seq + 1` and `prev == head.h`. Invalid bytes
 * or orphans (valid records that do not chain, seq not ahead) followed by a committed record
 * are skipped and reported; a valid record whose seq is ahead of `head.seq + 1` means
 * committed records are missing, so the scan stops with a read-only verdict.
 */
export const scan = (buf: Buffer, base: number, startHead: Head, where: string): ScanResult => {
  const committed: Array<LogRecord> = []
  const skipped: Array<string> = []
  let pending: Array<string> = []
  let head = startHead
  let committedEnd = 0
  let pos = 0
  let stop: string | undefined
  while (pos < buf.length && stop === undefined) {
    const nl = buf.indexOf(NEWLINE, pos)
    if (nl < 0) {
      pending.push(`incomplete line (${buf.length - pos} bytes, no newline) at byte ${base + pos}`)
      break
    }
    const parsed = parseLine(buf.subarray(pos, nl))
    if (parsed._tag === "Newer") {
      stop = `event log ${where} has a record in format v${parsed.v} at byte ${base + pos} (seq ${head.seq + 1}), ` +
        `written by a newer plugin-ledger; refusing to write; upgrade plugin-ledger`
    } else if (parsed._tag === "Invalid") {
      pending.push(`${parsed.reason} at byte ${base + pos}`)
    } else {
      const r = parsed.record
      if (r.seq === head.seq + 1 && r.prev === head.h) {
        if (pending.length > 0) {
          skipped.push(`${where}: skipped bytes ${base + committedEnd}-${base + pos} before seq ${r.seq}: ${pending.join("; ")}`)
          pending = []
        }
        committed.push(r)
        head = { seq: r.seq, h: r.h }
        committedEnd = nl + 1
      } else if (r.seq > head.seq + 1) {
        const before = pending.length > 0 ? ` after ${pending.join("; ")}` : ""
        stop = `event log is corrupt at byte ${base + committedEnd} (seq ${head.seq + 1}): ` +
          `record seq ${r.seq} at byte ${base + pos} of ${where} follows seq ${head.seq}${before}, ` +
          `so committed records are missing or corrupt; refusing to write; see plugin-ledger doctor`
      } else {
        const why = r.seq <= head.seq ? `duplicate seq ${r.seq}` : `seq ${r.seq} with a prev that is not seq ${head.seq}'s hash`
        pending.push(`orphan record (${why}) at byte ${base + pos}`)
      }
    }
    pos = nl + 1
  }
  return { committed, committedEnd, head, skipped, stop, tail: stop === undefined ? pending : [] }
}
