/**
 * R3: torn and corrupt tails injected after the committed records of a real log, opened through EventLog.layer
 * (the lock and recovery path every process takes). Each must be detected, none of its bytes accepted, the file
 * truncated exactly at the end of the last committed record (never before it), and the removed bytes kept
 * byte-equal in quarantine/. A valid record after garbage is not a tail: that log must open read-only, untouched.
 */
import { createHash } from "node:crypto"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import { segmentName } from "../../src/adapters/SegmentName.ts"
import { encodeRecord, hash128 } from "../../src/adapters/LogRecordFormat.ts"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { PluginEvent } from "../../src/domain/Events.ts"
import { Engine } from "../../src/services/EngineApi.ts"
import { EventLog, type LogRecord } from "../../src/services/EventLog.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"
import { STREAMS } from "../support/StreamAppends.ts"

type Random = ReturnType<typeof makeRandom>

const KINDS = ["prefix", "bitflip", "prefixNewline", "garbage", "garbageLines", "orphanCopy", "committedThenTorn"] as const
type Kind = (typeof KINDS)[number]

const segmentPath = (ledgerDir: string): string => Path.join(ledgerDir, "events", segmentName(1))

interface Base {
  readonly bytes: Buffer
  readonly records: ReadonlyArray<LogRecord>
  /** byte offset where each line starts */
  readonly starts: ReadonlyArray<number>
}

/** A real log of `count` records with payloads of random size, written through EventLog. */
const makeBase = (dir: string, count: number, random: Random) =>
  EventLog.use((log) =>
    Effect.gen(function*() {
      for (let n = 0; n < count; n++) {
        const record = { id: `base-${n}`, ts: "2026-01-02T03:04:05.678Z", type: "BaseAppended", data: { n, pad: "p".repeat(random.int(700)) } }
        yield* log.transact(() => Effect.succeed({ append: [record], value: undefined }))
      }
      const bytes = NodeFs.readFileSync(segmentPath(dir))
      const starts = [0]
      for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 0x0a) starts.push(i + 1)
      return { bytes, records: yield* log.records, starts } satisfies Base
    })
  ).pipe(Effect.provide(EventLog.layer({ ledgerDir: dir })))

/** The line the next writer would have appended after `head`. */
const nextLine = (head: LogRecord, id: string, random: Random): Buffer =>
  encodeRecord(head.seq + 1, head.h, {
    id,
    ts: "2026-01-02T03:04:05.678Z",
    type: "BaseAppended",
    data: { n: head.seq, stream: random.pick(STREAMS), pad: "q".repeat(random.int(900)) }
  }).line

/** The bytes appended after the committed records, and how many of them are committed records themselves. */
const makeTail = (kind: Kind, base: Base, random: Random, i: number): { readonly tail: Buffer; readonly committed: Buffer } => {
  const head = base.records.at(-1)
  if (head === undefined) throw new Error("empty base")
  const next = nextLine(head, `next-${i}`, random)
  switch (kind) {
    case "prefix":
      return { tail: next.subarray(0, 1 + random.int(next.length - 1)), committed: Buffer.alloc(0) }
    case "bitflip": {
      const tail = Buffer.from(next)
      const at = random.int(tail.length)
      tail[at] = (tail[at] ?? 0) ^ (1 << random.int(8))
      return { tail, committed: Buffer.alloc(0) }
    }
    case "prefixNewline":
      return { tail: Buffer.concat([next.subarray(0, 1 + random.int(next.length - 2)), Buffer.from("\n")]), committed: Buffer.alloc(0) }
    case "garbage":
      return { tail: Buffer.from(Array.from({ length: 1 + random.int(600) }, () => random.int(256))), committed: Buffer.alloc(0) }
    case "garbageLines": {
      const lines = Array.from({ length: 1 + random.int(4) }, () => `${"x".repeat(random.int(80))}{"v":1,"seq":${head.seq + 1}}\n`)
      return { tail: Buffer.from(lines.join("")), committed: Buffer.alloc(0) }
    }
    case "orphanCopy": {
      // a hash-valid copy of an earlier committed line: it does not chain, so it is not committed a second time
      const k = random.int(base.starts.length)
      const copy = base.bytes.subarray(base.starts[k] ?? 0, base.starts[k + 1] ?? base.bytes.length)
      return { tail: Buffer.concat([copy, next.subarray(0, random.int(next.length))]), committed: Buffer.alloc(0) }
    }
    case "committedThenTorn": {
      // the next record is complete and chains: it is committed and must survive; only the one after it is torn
      const after = encodeRecord(head.seq + 2, hash128(next.subarray(0, next.lastIndexOf(`,"h":"`))), {
        id: `after-${i}`,
        ts: "2026-01-02T03:04:05.678Z",
        type: "BaseAppended",
        data: { pad: "r".repeat(random.int(300)) }
      }).line
      return { tail: after.subarray(0, 1 + random.int(after.length - 1)), committed: next }
    }
  }
}

const openLog = (dir: string) =>
  EventLog.use((log) =>
    Effect.gen(function*() {
      const opened = { records: yield* log.records, repair: log.tailRepair, readOnly: log.readOnlyReason }
      const report = yield* log.verify
      return { ...opened, report }
    })
  ).pipe(Effect.provide(EventLog.layer({ ledgerDir: dir })))

const appendOne = (dir: string, id: string) =>
  EventLog.use((log) =>
    log.transact(() => Effect.succeed({ append: [{ id, ts: "2026-01-02T03:04:05.678Z", type: "Probe", data: {} }], value: undefined }))
  ).pipe(Effect.provide(EventLog.layer({ ledgerDir: dir })))

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

describe("R3: torn and corrupt tails", () => {
  it.live("every injected tail is detected, quarantined byte-equal and truncated exactly at the last committed record", () =>
    Effect.gen(function*() {
      const seed = seedFor("torn-tail")
      const random = makeRandom(seed)
      const injections = scaled(360, 5_000)
      const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "torn-tail-"))
      const perKind = new Map<string, number>()
      let detected = 0
      let removedBytes = 0
      try {
        let base: Base | undefined
        for (let i = 0; i < injections; i++) {
          if (i % 40 === 0) {
            const baseDir = Path.join(root, `base-${i}`)
            base = yield* makeBase(baseDir, 1 + random.int(12), random)
          }
          if (base === undefined) throw new Error("no base")
          const kind = random.pick(KINDS)
          perKind.set(kind, (perKind.get(kind) ?? 0) + 1)
          const { committed, tail } = makeTail(kind, base, random, i)
          const dir = Path.join(root, `case-${i}`)
          NodeFs.mkdirSync(Path.join(dir, "events"), { recursive: true })
          const kept = Buffer.concat([base.bytes, committed])
          NodeFs.writeFileSync(segmentPath(dir), Buffer.concat([kept, tail]))
          const context = `injection ${i} (${kind}, ${tail.length} bytes, seed ${seed})`

          const opened = yield* openLog(dir)
          assert.isUndefined(opened.readOnly, context)
          const repair = opened.repair
          if (repair === undefined) return assert.fail(`${context}: not detected`)
          detected++
          removedBytes += repair.bytes
          // exactly the tail was removed, byte-equal in quarantine, and nothing before it
          assert.strictEqual(repair.bytes, tail.length, context)
          assert.strictEqual(repair.sha256, sha256(tail), context)
          assert.deepStrictEqual(NodeFs.readFileSync(Path.join(dir, repair.quarantineFile)), tail, context)
          assert.deepStrictEqual(NodeFs.readFileSync(segmentPath(dir)), kept, context)
          // no byte of the tail accepted: the committed records are the base's (plus a committed next record)
          assert.deepStrictEqual(opened.records.slice(0, base.records.length), base.records, context)
          assert.strictEqual(opened.records.length, base.records.length + (committed.length > 0 ? 1 : 0), context)
          assert.deepStrictEqual(opened.report, { ok: true, records: opened.records.length, problems: [] }, context)
          // recovery is done once: a second open finds a clean log; the log stays writable and chained
          const again = yield* openLog(dir)
          assert.isUndefined(again.repair, context)
          assert.deepStrictEqual(again.records, opened.records, context)
          const { appended } = yield* appendOne(dir, `probe-${i}`)
          assert.strictEqual(appended[0]?.seq, opened.records.length + 1, context)
          assert.strictEqual(appended[0]?.prev, opened.records.at(-1)?.h, context)
          NodeFs.rmSync(dir, { recursive: true, force: true })
        }
      } finally {
        NodeFs.rmSync(root, { recursive: true, force: true })
      }
      console.log(
        `[torn-tail] seed=${seed} injections=${injections} detected=${detected} accepted=0 quarantined-bytes=${removedBytes} ` +
          `per kind ${JSON.stringify(Object.fromEntries(perKind))}`
      )
      assert.strictEqual(detected, injections)
    }), 600_000)

  it.live("garbage followed by a record that is ahead of the chain is a break, not a tail: read-only, nothing truncated", () =>
    Effect.gen(function*() {
      const seed = seedFor("torn-tail-break")
      const random = makeRandom(seed)
      const cases = scaled(40, 400)
      const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "torn-break-"))
      try {
        const base = yield* makeBase(Path.join(root, "base"), 4 + random.int(6), random)
        const head = base.records.at(-1)
        if (head === undefined) throw new Error("empty base")
        for (let i = 0; i < cases; i++) {
          // a torn or corrupt record, then one that chains to it: committed data may follow, so nothing may go
          const torn = nextLine(head, `torn-${i}`, random)
          const tornBytes = torn.subarray(0, 1 + random.int(torn.length - 2))
          const ahead = encodeRecord(head.seq + 2, hash128(torn.subarray(0, torn.lastIndexOf(`,"h":"`))), {
            id: `ahead-${i}`,
            ts: "2026-01-02T03:04:05.678Z",
            type: "BaseAppended",
            data: {}
          }).line
          const dir = Path.join(root, `case-${i}`)
          NodeFs.mkdirSync(Path.join(dir, "events"), { recursive: true })
          const bytes = Buffer.concat([base.bytes, tornBytes, Buffer.from("\n"), ahead])
          NodeFs.writeFileSync(segmentPath(dir), bytes)
          const context = `case ${i} (seed ${seed})`
          const opened = yield* openLog(dir)
          assert.match(opened.readOnly ?? "", /^event log is corrupt at byte \d+ \(seq \d+\): .*refusing to write/, context)
          assert.isUndefined(opened.repair, context)
          assert.deepStrictEqual(opened.records, base.records, context)
          assert.deepStrictEqual(NodeFs.readFileSync(segmentPath(dir)), bytes, context)
          assert.isFalse(NodeFs.existsSync(Path.join(dir, "quarantine")), context)
          const refused = yield* Effect.flip(appendOne(dir, "refused"))
          assert.strictEqual(refused.reason, "ReadOnly", context)
        }
        console.log(`[torn-tail-break] seed=${seed} cases=${cases} read-only=${cases} truncated=0`)
      } finally {
        NodeFs.rmSync(root, { recursive: true, force: true })
      }
    }), 120_000)

  it.live("the Engine records each repair found at open as a LogTailRepaired event naming the quarantine file", () =>
    Effect.gen(function*() {
      const seed = seedFor("torn-tail-engine")
      const random = makeRandom(seed)
      const cases = scaled(8, 80)
      const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "torn-engine-"))
      const decodeEvent = Schema.decodeUnknownResult(PluginEvent)
      try {
        for (let i = 0; i < cases; i++) {
          const paths = makeLedgerPaths({ codexHome: Path.join(root, `home-${i}`), home: Path.join(root, "userhome") })
          const base = yield* makeBase(paths.ledgerDir, 1 + random.int(5), random)
          const kind = random.pick(KINDS.filter((k) => k !== "committedThenTorn"))
          const { tail } = makeTail(kind, base, random, i)
          NodeFs.appendFileSync(segmentPath(paths.ledgerDir), tail)
          const context = `case ${i} (${kind}, seed ${seed})`
          const history = yield* Engine.use((engine) => engine.history({})).pipe(Effect.provide(appLayer(paths)))
          const repairs = history.filter((entry) => entry.type === "LogTailRepaired")
          assert.strictEqual(repairs.length, 1, context)
          const data = repairs[0]?.data
          const decoded = decodeEvent(typeof data === "object" && data !== null ? { _tag: "LogTailRepaired", ...data } : data)
          if (Result.isFailure(decoded)) return assert.fail(`${context}: ${decoded.failure.message}`)
          const event = decoded.success
          if (event._tag !== "LogTailRepaired") return assert.fail(context)
          assert.strictEqual(event.bytes, tail.length, context)
          assert.strictEqual(event.sha256, sha256(tail), context)
          assert.deepStrictEqual(NodeFs.readFileSync(Path.join(paths.ledgerDir, event.quarantineFile)), tail, context)
          // a second start records nothing more
          const later = yield* Engine.use((engine) => engine.history({})).pipe(Effect.provide(appLayer(paths)))
          assert.deepStrictEqual(later, history, context)
        }
        console.log(`[torn-tail-engine] seed=${seed} cases=${cases} LogTailRepaired=${cases}`)
      } finally {
        NodeFs.rmSync(root, { recursive: true, force: true })
      }
    }), 120_000)
})
