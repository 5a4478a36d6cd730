/**
 * `checkpoint.json`: the last seq whose projection (cache trees, config.toml) is known durable, and config.toml's
 * text as projected at that seq. Written atomically (temp file fsynced, then renamed); read back only when it names
 * a committed record of the log, anything else (torn or empty bytes, a record the log does not have) counts as
 * absent, so everything is projected again, which converges on the same outputs.
 */
import { Result, Schema } from "effect"
import { errnoCode, type FsPort } from "../adapters/FsPort.ts"
import type { LogRecord } from "./EventLog.ts"

export const Checkpoint = Schema.Struct({
  projectorVersion: Schema.Number,
  seq: Schema.Number,
  h: Schema.String,
  configHash: Schema.NullOr(Schema.String),
  /** config.toml's text as projected at `seq`: where a re-projection folds from when config.toml is ahead of it */
  configText: Schema.optionalKey(Schema.String)
})
export type Checkpoint = typeof Checkpoint.Type

export const PROJECTOR_VERSION = 1

const decodeCheckpoint = Schema.decodeUnknownResult(Schema.fromJsonString(Checkpoint))

/** the last text decoded and what it gave: a command reads the same checkpoint twice (the Engine, the projection) */
let lastDecoded: { readonly text: string; readonly checkpoint: Checkpoint | undefined } | undefined

/** The checkpoint file as it is (undefined when absent or undecodable). */
export const readCheckpoint = (fs: FsPort, path: string): Checkpoint | undefined => {
  let text: string
  try {
    text = fs.readFileSync(path).toString("utf8")
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined
    throw error
  }
  if (lastDecoded?.text === text) return lastDecoded.checkpoint
  const decoded = decodeCheckpoint(text)
  const checkpoint = Result.isSuccess(decoded) ? decoded.success : undefined
  lastDecoded = { text, checkpoint }
  return checkpoint
}

/** The record with this seq (the log's seqs are 1, 2, 3, ... so this is usually one index). */
export const recordAt = (records: ReadonlyArray<LogRecord>, seq: number): LogRecord | undefined => {
  const direct = records[seq - 1]
  if (direct?.seq === seq) return direct
  for (let i = records.length - 1; i >= 0; i--) {
    const record = records[i]
    if (record === undefined || record.seq < seq) return undefined
    if (record.seq === seq) return record
  }
  return undefined
}

/** `checkpoint`, if its `seq` and `h` are those of a committed record of `records`; else undefined. */
export const validCheckpoint = (checkpoint: Checkpoint | undefined, records: ReadonlyArray<LogRecord>): Checkpoint | undefined =>
  checkpoint !== undefined && recordAt(records, checkpoint.seq)?.h === checkpoint.h ? checkpoint : undefined

/** Whether two checkpoints name the same position (both absent counts as the same). */
export const samePosition = (a: Checkpoint | undefined, b: Checkpoint | undefined): boolean =>
  a === undefined || b === undefined ? a === b : a.seq === b.seq && a.h === b.h

export const encodeCheckpoint = (checkpoint: Checkpoint): Uint8Array => Buffer.from(`${JSON.stringify(checkpoint)}\n`, "utf8")
