/**
 * The chain rule over a byte range of a segment: which records are committed, and what the bytes that are not
 * committed hold (torn tails, incomplete batches, benign fragments, orphans, breaks). The line format is in
 * `LogRecordFormat.ts`.
 */
import { type Head, type LogRecord, parseLine } from "./LogRecordFormat.ts"

const NEWLINE = 0x0a

export interface ScanResult {
  readonly committed: ReadonlyArray<LogRecord>
  /** offset in the scanned buffer just past the last committed record */
  readonly committedEnd: number
  readonly head: Head
  /** benign fragments and orphans that were followed by committed records, and incomplete batches kept */
  readonly skipped: ReadonlyArray<string>
  /** set when nothing may be written: a chain break (committed data missing) or a newer format */
  readonly stop: string | undefined
  /** what the bytes after `committedEnd` contain, when there are any */
  readonly tail: ReadonlyArray<string>
}

/**
 * Apply the chain rule to `buf` (which starts at byte `base` of segment `where`): a record chains if it verifies
 * and has `seq == tip.seq + 1` and `prev == tip.h`, and it is committed once its batch is whole (the record with no
 * `more`). Records of a batch whose last record is missing are not committed: they belong to the tail, as a torn
 * record does. Invalid bytes or orphans (valid records that do not chain, seq not ahead) followed by a chaining
 * record are skipped and reported; a valid record whose seq is ahead of `tip.seq + 1` means committed records are
 * missing, so the scan stops with a read-only verdict.
 *
 * A batch that announces more records than follow it, with another batch chained after it, was accepted by a
 * version that did not read `more` (and appended after it): it is kept as written, and reported.
 */
export const scan = (buf: Buffer, base: number, startHead: Head, where: string): ScanResult => {
  const committed: Array<LogRecord> = []
  const skipped: Array<string> = []
  /** fragments and orphans since the last chaining record */
  let pending: Array<string> = []
  let head = startHead
  let committedEnd = 0
  /** the chaining records of a batch not yet whole, with the fragments skipped among them */
  let open: Array<LogRecord> = []
  let openSkipped: Array<string> = []
  let tip = startHead
  let tipEnd = 0
  let pos = 0
  let stop: string | undefined

  const commitOpen = (): void => {
    for (const r of open) committed.push(r)
    skipped.push(...openSkipped)
    open = []
    openSkipped = []
    head = tip
    committedEnd = tipEnd
  }

  while (pos < buf.length && stop === undefined) {
    const nl = buf.indexOf(NEWLINE, pos)
    if (nl < 0) {
      pending.push(`incomplete line (${buf.length - pos} bytes, no newline) at byte ${base + pos}`)
      break
    }
    const parsed = parseLine(buf.subarray(pos, nl))
    if (parsed._tag === "Newer") {
      stop = `event log ${where} has a record in format v${parsed.v} at byte ${base + pos} (seq ${tip.seq + 1}), ` +
        `written by a newer plugin-ledger; refusing to write; upgrade plugin-ledger`
    } else if (parsed._tag === "Invalid") {
      pending.push(`${parsed.reason} at byte ${base + pos}`)
    } else {
      const r = parsed.record
      if (r.seq === tip.seq + 1 && r.prev === tip.h) {
        if (pending.length > 0) {
          openSkipped.push(`${where}: skipped bytes ${base + tipEnd}-${base + pos} before seq ${r.seq}: ${pending.join("; ")}`)
          pending = []
        }
        const last = open.at(-1)
        if (last !== undefined && (r.more ?? 0) !== (last.more ?? 0) - 1) {
          openSkipped.push(
            `${where}: seq ${open[0]?.seq}-${last.seq} at bytes ${base + committedEnd}-${base + tipEnd} are a batch whose ` +
              `last record announces ${last.more} more, but seq ${r.seq} chained to it starts another batch; kept as written`
          )
          commitOpen()
        }
        open.push(r)
        tip = { seq: r.seq, h: r.h }
        tipEnd = nl + 1
        if (r.more === undefined) commitOpen()
      } else if (r.seq > tip.seq + 1) {
        const before = pending.length > 0 ? ` after ${pending.join("; ")}` : ""
        stop = `event log is corrupt at byte ${base + committedEnd} (seq ${head.seq + 1}): ` +
          `record seq ${r.seq} at byte ${base + pos} of ${where} follows seq ${tip.seq}${before}, ` +
          `so committed records are missing or corrupt; refusing to write; see plugin-ledger doctor`
      } else {
        const why = r.seq <= tip.seq ? `duplicate seq ${r.seq}` : `seq ${r.seq} with a prev that is not seq ${tip.seq}'s hash`
        pending.push(`orphan record (${why}) at byte ${base + pos}`)
      }
    }
    pos = nl + 1
  }
  const last = open.at(-1)
  const incomplete = last === undefined ? [] : [
    ...openSkipped,
    `an incomplete batch at bytes ${base + committedEnd}-${base + tipEnd}: seq ${open[0]?.seq}-${last.seq}, ` +
    `whose last record announces ${last.more} more`
  ]
  return { committed, committedEnd, head, skipped, stop, tail: stop === undefined ? [...incomplete, ...pending] : [] }
}
