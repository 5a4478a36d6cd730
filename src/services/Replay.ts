/**
 * Replay and time travel: the log (up to a seq or a time) projected into a fresh directory laid out as a
 * CODEX_HOME, from the log and the blobs alone. Nothing is fetched (the log holds everything a projection needs),
 * nothing of the live CODEX_HOME is written, and its ledger lock is not taken: committed records are read as
 * they are on disk (a record is committed once its line verifies and chains, whoever is appending).
 *
 * The replay directory gets `config.toml` (from `base`, the user's config.toml as it was before the ledger's
 * first event, or no file), `plugins/cache/...`, and its own ledger: the records up to that point, byte for
 * byte, the blobs they reference, and a checkpoint, so `plugin-ledger --codex-home <dir> why|history|verify`
 * work on the past state. The projection is the live Projector's, run as on a fresh start-up.
 */
import { Effect, Layer, Result, Schema } from "effect"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { attempt, makeDirs, writeFileAtomic } from "../adapters/AtomicFile.ts"
import { makeBlobStore, sha256Hex } from "../adapters/BlobStore.ts"
import { describeError, errnoCode } from "../adapters/FsPort.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { segmentName } from "../adapters/SegmentName.ts"
import { readLogReadOnly } from "../adapters/LogReader.ts"
import { encodeRecord } from "../adapters/LogRecordFormat.ts"
import { treeBlobRefs } from "../adapters/TreeBlobRefs.ts"
import { nodeTreeFs, type TreeFs } from "../adapters/TreeFs.ts"
import { initialState } from "../domain/PluginState.ts"
import { EventLog, type LogRecord } from "./EventLog.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { type LedgerPaths, makeLedgerPaths } from "./LedgerPaths.ts"
import { readEventOf } from "./EventRecords.ts"
import { Projector } from "./Projector.ts"
import { foldRecords } from "./RecordFold.ts"
import { checkRecordedDecisions, type DecisionCheck } from "./DecisionCheck.ts"

export class ReplayError extends Schema.TaggedError<ReplayError>()("ReplayError", {
  /** `InvalidRequest`: the request cannot be met (bad point, non-empty dir); `Internal`: the ledger or the disk */
  kind: Schema.Literals(["InvalidRequest", "Internal"]),
  message: Schema.String
}) {}

/** Where a replay stops: after the record with this seq, or after the last record at or before this time. */
export type ReplayUntil = { readonly _tag: "Seq"; readonly seq: number } | { readonly _tag: "Time"; readonly time: string }

export interface ReplayOptions {
  readonly until?: ReplayUntil
  /** the directory to replay into: absent or empty; default a new temp dir */
  readonly into?: string
  /** the config.toml to start from; default none */
  readonly base?: string
  /** also decide every replayed remote sync again from its recorded input and compare */
  readonly verifyDecisions?: boolean
}

export interface ReplayView {
  /** the replayed CODEX_HOME */
  readonly into: string
  /** the last record replayed */
  readonly seq: number
  readonly at: string
  readonly h: string
  /** the live log's last committed record, for comparison */
  readonly headSeq: number
  readonly plugins: ReadonlyArray<{
    readonly pluginId: string
    readonly installed: boolean
    readonly enabled: boolean
    readonly version: string | null
    readonly treeHash: string | null
  }>
  /** sha256 of the replayed config.toml, null when there is none */
  readonly configHash: string | null
  /** with `verifyDecisions`: one entry per replayed remote sync */
  readonly decisions?: ReadonlyArray<DecisionCheck>
}

const invalid = (message: string) => new ReplayError({ kind: "InvalidRequest", message })
const internal = (message: string) => new ReplayError({ kind: "Internal", message })

/** `--until` as typed by people: a whole number is a seq, anything else must be an ISO-8601 time. */
export const parseUntil = (raw: string): Result.Result<ReplayUntil, string> => {
  if (/^\d+$/.test(raw)) {
    const seq = Number(raw)
    return Number.isSafeInteger(seq) && seq >= 1 ? Result.succeed({ _tag: "Seq", seq }) : Result.fail(`not a seq: ${raw}`)
  }
  return Number.isNaN(Date.parse(raw)) ? Result.fail(`not a seq or an ISO-8601 time: ${raw}`) : Result.succeed({ _tag: "Time", time: raw })
}

/**
 * The records a replay to `until` projects: a prefix of the log. By time, the prefix ends before the first record
 * stamped after it (a clock that stepped back never pulls a later record in). `stopped`: the readable records end
 * early (a chain break); a point that may lie beyond them is refused.
 */
export const recordsUntil = (
  records: ReadonlyArray<LogRecord>,
  until: ReplayUntil | undefined,
  stopped: string | undefined
): Result.Result<ReadonlyArray<LogRecord>, string> => {
  const last = records.at(-1)
  if (last === undefined) return Result.fail(stopped ?? "the log has no records")
  const beyond = (what: string) => Result.fail(stopped === undefined ? what : `${what}; the log is readable only up to seq ${last.seq}: ${stopped}`)
  if (until === undefined) return stopped === undefined ? Result.succeed(records) : beyond("cannot replay the whole log")
  if (until._tag === "Seq") {
    if (until.seq > last.seq) return beyond(`seq ${until.seq} is beyond the end of the log (seq ${last.seq})`)
    const at = records.findIndex((r) => r.seq === until.seq)
    const inside = records[at]
    if (inside?.more !== undefined) {
      // a command's records were committed together: no state ever had a part of them
      const first = records[batchStartOf(records, at)]?.seq ?? inside.seq
      return Result.fail(
        `seq ${until.seq} is inside the records of one command (seq ${first}-${inside.seq + inside.more}), which were ` +
          `committed together; use seq ${first - 1} or seq ${inside.seq + inside.more}`
      )
    }
    return Result.succeed(records.slice(0, at + 1))
  }
  const time = Date.parse(until.time)
  const found = records.findIndex((r) => Date.parse(r.ts) > time)
  // a command whose records straddle the time is left out whole (its last record is stamped after it)
  const after = found > 0 && records[found - 1]?.more !== undefined ? batchStartOf(records, found - 1) : found
  if (after === 0) return Result.fail(`the log has no records at or before ${until.time} (it starts at ${records[0]?.ts})`)
  if (after < 0) return stopped === undefined ? Result.succeed(records) : beyond(`cannot tell what happened up to ${until.time}`)
  return Result.succeed(records.slice(0, after))
}

/** The index of the first record of the batch that holds `records[index]` (`more` counts the records after each). */
const batchStartOf = (records: ReadonlyArray<LogRecord>, index: number): number => {
  let start = index
  while (start > 0 && records[start - 1]?.more !== undefined) start--
  return start
}

/** The tree hashes whose content the records project, each with the first record that needs it. */
const contentOf = (records: ReadonlyArray<LogRecord>): ReadonlyMap<string, LogRecord> => {
  const trees = new Map<string, LogRecord>()
  for (const record of records) {
    const event = readEventOf(record)
    const hash = event?._tag === "PluginInstalled" || event?._tag === "ProjectionRepaired"
      ? event.treeHash
      : event?._tag === "PluginRolledBack"
      ? event.toTreeHash
      : undefined
    if (hash !== undefined && !trees.has(hash)) trees.set(hash, record)
  }
  return trees
}

const isInside = (dir: string, root: string): boolean => dir === root || dir.startsWith(`${root}${Path.sep}`)

/** Creates `into` (or checks that it is an empty dir); returns whether it was created, for clean-up on failure. */
const prepareInto = (fs: TreeFs, into: string): Effect.Effect<boolean, ReplayError> =>
  Effect.suspend(() => {
    try {
      if (!fs.lstatSync(into).isDirectory()) return Effect.fail(invalid(`${into} is not a directory`))
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") return Effect.fail(internal(`cannot use ${into}: ${describeError(error)}`))
      return attempt(() => makeDirs(fs, into)).pipe(Effect.as(true), Effect.mapError((e) => internal(`cannot create ${into}: ${describeError(e)}`)))
    }
    return fs.readdirSync(into).length > 0
      ? Effect.fail(invalid(`${into} is not empty: a replay needs a fresh directory`))
      : Effect.succeed(false)
  })

/** Replays `source`'s log into a fresh directory (see the module comment). */
export const replayLedger = (source: LedgerPaths, options: ReplayOptions, fs: TreeFs = nodeTreeFs): Effect.Effect<ReplayView, ReplayError> =>
  Effect.gen(function*() {
    const reading = yield* attempt(() => readLogReadOnly(fs, source.ledgerDir)).pipe(
      Effect.mapError((e) => internal(`cannot read the log: ${describeError(e)}`))
    )
    const selected = recordsUntil(reading.records, options.until, reading.stoppedBecause)
    if (Result.isFailure(selected)) return yield* invalid(`cannot replay: ${selected.failure}`)
    const records = selected.success
    const into = options.into === undefined
      ? NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "plugin-ledger-replay-"))
      : Path.resolve(options.into)
    if (isInside(into, source.codexHome) || isInside(source.codexHome, into)) {
      return yield* invalid(`cannot replay into ${into}: it overlaps the live CODEX_HOME ${source.codexHome}`)
    }
    const created = options.into === undefined || (yield* prepareInto(fs, into))
    return yield* project(source, options, records, into, fs).pipe(
      Effect.map((view) => ({
        ...view,
        headSeq: reading.records.at(-1)?.seq ?? 0,
        ...(options.verifyDecisions === true ? { decisions: checkRecordedDecisions(records, makeBlobStore(fs, source.blobsDir)) } : {})
      })),
      // what this replay wrote goes: the dir was empty or absent before
      Effect.onError(() =>
        Effect.sync(() => {
          if (created) fs.rmSync(into, { recursive: true, force: true })
          else for (const name of fs.readdirSync(into)) fs.rmSync(Path.join(into, name), { recursive: true, force: true })
        })
      )
    )
  })

const project = (
  source: LedgerPaths,
  options: ReplayOptions,
  records: ReadonlyArray<LogRecord>,
  into: string,
  fs: TreeFs
): Effect.Effect<Omit<ReplayView, "headSeq">, ReplayError> =>
  Effect.gen(function*() {
    const paths = makeLedgerPaths({ codexHome: into, home: source.home })
    const io = <A>(what: string, f: () => A) => attempt(f).pipe(Effect.mapError((e) => internal(`${what}: ${describeError(e)}`)))
    if (options.base !== undefined) {
      const base = Path.resolve(options.base)
      yield* io(`cannot copy the base config ${base}`, () =>
        writeFileAtomic(fs, paths.configPath, fs.readFileSync(base), fs.lstatSync(base).mode & 0o777))
    }
    // the content every projected install needs, copied (verified) from the live blob store
    const from = makeBlobStore(fs, source.blobsDir)
    const to = makeBlobStore(fs, paths.blobsDir)
    for (const [treeHash, record] of contentOf(records)) {
      const bytes = yield* attempt(() => treeBlobRefs(from, treeHash).map((hash) => from.get(hash))).pipe(
        Effect.mapError((e) =>
          invalid(`cannot replay: the content of seq ${record.seq} (tree ${treeHash}) is not in the blob store: ${describeError(e)}`)
        )
      )
      yield* to.putAll(bytes).pipe(Effect.mapError((e) => internal(`cannot copy blobs: ${describeError(e)}`)))
    }
    // the records, byte for byte: re-encoding must give each record's own hash back
    const lines: Array<Buffer> = []
    for (const record of records) {
      const encoded = encodeRecord(record.seq, record.prev, { id: record.id, ts: record.ts, type: record.type, data: record.data }, record.more)
      if (encoded.record.h !== record.h) return yield* internal(`record seq ${record.seq} cannot be copied byte for byte`)
      lines.push(encoded.line)
    }
    const eventsDir = Path.join(paths.ledgerDir, "events")
    yield* io("cannot write the replayed log", () => {
      makeDirs(fs, eventsDir)
      writeFileAtomic(fs, Path.join(eventsDir, segmentName(1)), Buffer.concat(lines), 0o644)
    })
    // projected as a start-up catches up: under the replayed log's lock, made durable before it returns
    const log = EventLog.layer({ ledgerDir: paths.ledgerDir, fs })
    const layer = Layer.merge(Projector.layer, log).pipe(Layer.provide(Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layerWith(fs), log)))
    yield* Effect.gen(function*() {
      const projector = yield* Projector
      yield* (yield* EventLog).transact(() => Effect.succeed({ append: [], value: undefined }), (_, all) => projector.project(all))
    }).pipe(
      Effect.provide(layer),
      Effect.mapError((e) => internal(`projection failed: ${e.message}`))
    )
    const state = foldRecords(initialState, records)
    const config = yield* io("cannot read the replayed config.toml", () => {
      try {
        return fs.readFileSync(paths.configPath)
      } catch (error) {
        if (errnoCode(error) === "ENOENT") return undefined
        throw error
      }
    })
    const last = records.at(-1)
    return {
      into,
      seq: last?.seq ?? 0,
      at: last?.ts ?? "",
      h: last?.h ?? "",
      plugins: [...state.plugins.values()]
        .filter((p) => p.installed || p.config.configured)
        .sort((a, b) => (a.pluginId < b.pluginId ? -1 : a.pluginId > b.pluginId ? 1 : 0))
        .map((p) => ({
          pluginId: p.pluginId,
          installed: p.installed,
          enabled: p.enabled,
          version: p.version ?? null,
          treeHash: p.treeHash ?? null
        })),
      configHash: config === undefined ? null : sha256Hex(config)
    }
  })
