/**
 * R1 + R2: SIGKILL of a writer process at random moments while it appends, then reopen and verify; then replay
 * every command the killed writer attempted (acknowledged or not) with the same ids.
 *
 * Writers run in two lanes in parallel (a fresh ledger dir every 10 kills); each lane keeps the next writer process
 * warm (bundled, modules loaded, waiting for GO), so a kill costs the random delay plus a reopen, not a start.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { EventLog } from "../../src/services/EventLog.ts"
import { bundled } from "../support/Bundle.ts"
import { LineChild, sleep } from "../support/LineChild.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"
import { lockHolderPid, STREAM_EVENT, type StreamCommand, streamLogProblems, streamRecords } from "../support/StreamAppends.ts"

const WRITER_SOURCE = Path.join(import.meta.dirname, "children", "streamWriter.ts")
const BATCH_MAX = 3
const KILLS_PER_DIR = 10

const assertNoLockDebris = (dir: string, lane: number): void => {
  const debris = NodeFs.readdirSync(dir).filter((name) => name.startsWith("lock"))
  assert.deepStrictEqual(debris, [], `lane ${lane}: lock files left behind in ${dir}`)
}

const CommandJson = Schema.fromJsonString(Schema.Struct({
  writer: Schema.String,
  items: Schema.Array(Schema.Struct({ id: Schema.String, stream: Schema.String, n: Schema.Int }))
}))
const decodeCommand = Schema.decodeUnknownSync(CommandJson)

/** What one killed writer printed: the commands it started and the acknowledgements it gave. */
const parseWriterOutput = (lines: ReadonlyArray<string>) => {
  const tried: Array<StreamCommand> = []
  const acked = new Map<string, number>()
  let opened = false
  for (const line of lines) {
    if (line === "OPEN") opened = true
    else if (line.startsWith("TRY ")) tried.push(decodeCommand(line.slice(4)))
    else if (line.startsWith("ACK ")) {
      const [id = "", seq = ""] = line.slice(4).split(" ")
      acked.set(id, Number(seq))
    }
  }
  return { tried, acked, opened }
}

/** Reopen `dir` in this process (lock, recovery, verify), then replay `tried` with the same ids. */
const reopenAndReplay = (dir: string, tried: ReadonlyArray<StreamCommand>) =>
  Effect.gen(function*() {
    const log = yield* EventLog
    const before = yield* log.records
    const report = yield* log.verify
    const readOnly = log.readOnlyReason
    const repair = log.tailRepair
    const repaired = repair !== undefined
    let replayAppended = 0
    for (const command of tried) {
      const { appended } = yield* log.transact((records) =>
        Effect.sync(() => ({ append: streamRecords(command, records, new Date().toISOString()), value: undefined }))
      )
      replayAppended += appended.length
    }
    const after = yield* log.records
    const afterReport = yield* log.verify
    return { before, report, readOnly, repair, repaired, replayAppended, after, afterReport }
  }).pipe(Effect.provide(EventLog.layer({ ledgerDir: dir, lockTimeoutMs: 10_000 })))

interface LaneTotals {
  kills: number
  acked: number
  durableUnacked: number
  replayed: number
  tornTails: number
  killedBeforeOpen: number
  killedWithoutAck: number
  /** the lock file still named the writer after its death: the reopen had to take the lock over */
  diedHoldingLock: number
}

const runLane = async (
  root: string,
  lane: number,
  kills: number,
  seed: number,
  totals: LaneTotals
): Promise<void> => {
  const random = makeRandom(seed + lane * 7_919)
  /** every id seen committed in the current dir, with its seq: a later reopen must still have it, unchanged */
  const committed = new Map<string, number>()
  const allTried = new Set<string>()
  let dir = ""
  const writerScript = await bundled(WRITER_SOURCE)
  let warm = new LineChild(writerScript, [])
  try {
    for (let k = 0; k < kills; k++) {
      if (k % KILLS_PER_DIR === 0) {
        // a fresh ledger every few kills keeps each reopen (a full read and verify) cheap
        if (dir !== "") assertNoLockDebris(dir, lane)
        dir = Path.join(root, `lane-${lane}-${k}`)
        committed.clear()
        allTried.clear()
      }
      const child = warm
      await child.waitForLine((l) => l === "WARM", 30_000)
      if (k + 1 < kills) warm = new LineChild(writerScript, [])
      const delayMs = random.int(201)
      const writer = `l${lane}k${k}`
      const context = `lane ${lane} kill ${k} (seed ${seed}, +${delayMs} ms)`
      child.send(`GO ${JSON.stringify({ dir, writer, count: null, seed: random.int(2 ** 31), batchMax: BATCH_MAX, pauseMs: 0 })}`)
      await sleep(delayMs)
      const exit = await child.kill()
      assert.strictEqual(exit.signal, "SIGKILL", `${context}: the writer exited by itself: ${child.stderr}`)
      if (lockHolderPid(dir) === child.pid) totals.diedHoldingLock++
      const { acked, opened, tried } = parseWriterOutput(child.lines)
      for (const command of tried) for (const item of command.items) allTried.add(item.id)

      const result = await Effect.runPromise(reopenAndReplay(dir, tried))
      // R1: the reopen needed no manual step and finds a sound log holding every acknowledged record
      assert.isUndefined(result.readOnly, context)
      assert.deepStrictEqual(result.report, { ok: true, records: result.before.length, problems: [] }, context)
      assert.deepStrictEqual(streamLogProblems(result.before), [], context)
      const seqOf = new Map(result.before.map((r) => [r.id, r.seq]))
      for (const [id, seq] of acked) assert.strictEqual(seqOf.get(id), seq, `${context}: acknowledged ${id}@${seq}`)
      for (const [id, seq] of committed) assert.strictEqual(seqOf.get(id), seq, `${context}: committed ${id}@${seq}`)
      // nothing that no writer attempted (no orphan, no fabricated record), and only the in-flight command is unsure
      const mine = result.before.filter((r) => r.id.startsWith(`${writer}-`))
      for (const record of result.before.slice(1)) {
        const last = JSON.stringify(child.lines.slice(-5))
        assert.isTrue(record.type === STREAM_EVENT && allTried.has(record.id), `${context}: unexpected ${record.id}; writer's last lines ${last}`)
      }
      const inFlight = new Set(tried.at(-1)?.items.map((i) => i.id) ?? [])
      const unacked = mine.filter((r) => !acked.has(r.id))
      for (const record of unacked) assert.isTrue(inFlight.has(record.id), `${context}: ${record.id} durable, unacked, not in flight`)
      const triedIds = tried.flatMap((c) => c.items.map((i) => i.id))
      const missing = triedIds.filter((id) => !seqOf.has(id))
      for (const id of missing) assert.isTrue(inFlight.has(id), `${context}: ${id} attempted before the last command but not durable`)
      // a command is recorded whole or not at all, wherever the kill cut its write (its batch's last record closes it)
      const inFlightDurable = [...inFlight].filter((id) => seqOf.has(id)).length
      assert.include([0, inFlight.size], inFlightDurable, `${context}: ${inFlightDurable} of the in-flight command's ${inFlight.size} records durable`)

      // R2: the replay of every attempted command applied exactly the missing ones, nothing twice
      assert.strictEqual(result.replayAppended, missing.length, context)
      assert.deepStrictEqual(result.afterReport, { ok: true, records: result.after.length, problems: [] }, context)
      assert.deepStrictEqual(streamLogProblems(result.after), [], context)
      const counts = new Map<string, number>()
      for (const record of result.after) counts.set(record.id, (counts.get(record.id) ?? 0) + 1)
      for (const id of triedIds) assert.strictEqual(counts.get(id), 1, `${context}: ${id} after the replay`)
      assert.deepStrictEqual(result.after.slice(0, result.before.length), result.before, context)
      for (const record of result.after) committed.set(record.id, record.seq)

      totals.kills++
      totals.acked += acked.size
      totals.durableUnacked += unacked.length
      totals.replayed += result.replayAppended
      if (result.repaired) totals.tornTails++
      if (!opened) totals.killedBeforeOpen++
      if (acked.size === 0) totals.killedWithoutAck++
    }
    assertNoLockDebris(dir, lane)
  } finally {
    await warm.kill()
  }
}

/**
 * One command of `RECORDS` records of ~900 KB each: a ~14 MB `write` that the kernel carries out in steps, so a
 * SIGKILL sent while the segment grows cuts it with some of the command's records complete before the cut.
 */
const BIG_COMMAND = { records: 16, padBytes: 900_000 }

/** Start a writer on a fresh `dir`, and kill it once its command's write is seen past `records` records. */
const killDuringBigWrite = async (writerScript: string, dir: string, seed: number, records: number) => {
  const child = new LineChild(writerScript, [])
  await child.waitForLine((l) => l === "WARM", 30_000)
  const { padBytes } = BIG_COMMAND
  const size = BIG_COMMAND.records
  child.send(`GO ${JSON.stringify({ dir, writer: "big", count: size, seed, batchMax: size, batchMin: size, pauseMs: 0, padBytes })}`)
  await child.waitForLine((l) => l === "OPEN", 30_000)
  const segment = Path.join(dir, "events", "00000000000000000001.jsonl")
  const base = NodeFs.statSync(segment).size
  // a busy wait, on purpose: the write lasts a few ms, and a timer would sleep through it
  const deadline = Date.now() + 10_000
  while (NodeFs.statSync(segment).size < base + records * padBytes && Date.now() < deadline) {}
  const exit = await child.kill()
  return { exit, base, size: NodeFs.statSync(segment).size, bytes: NodeFs.readFileSync(segment), lines: child.lines }
}

describe("R1 + R2: SIGKILL during append, reopen, replay", () => {
  it("a kill while a command's write is under way leaves none of its records, even those complete before the cut", async () => {
    const seed = seedFor("crash-append-big")
    const writerScript = await bundled(WRITER_SOURCE)
    const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "crash-append-big-"))
    let cutWithWholeRecords = 0
    let attempts = 0
    try {
      while (cutWithWholeRecords < 3 && attempts < 30) {
        attempts++
        const dir = Path.join(root, `attempt-${attempts}`)
        const killed = await killDuringBigWrite(writerScript, dir, seed + attempts, 1 + (attempts % 12))
        const context = `attempt ${attempts} (seed ${seed}): ${killed.size - killed.base} bytes of the command on disk`
        assert.strictEqual(killed.exit.signal, "SIGKILL", `${context}: ${killed.lines.join(" | ")}`)
        const { tried, acked } = parseWriterOutput(killed.lines)
        const tail = killed.bytes.subarray(killed.base)
        const wholeLines = tail.toString("latin1").split("\n").length - 1
        const cut = acked.size === 0 && wholeLines > 0 && wholeLines < BIG_COMMAND.records
        if (cut) cutWithWholeRecords++

        const result = await Effect.runPromise(reopenAndReplay(dir, tried))
        assert.isUndefined(result.readOnly, context)
        assert.deepStrictEqual(result.report, { ok: true, records: result.before.length, problems: [] }, context)
        // whole or nothing: the command's records are all there (it completed its write) or none is
        assert.include([1, 1 + BIG_COMMAND.records], result.before.length, context)
        if (acked.size > 0) assert.strictEqual(result.before.length, 1 + BIG_COMMAND.records, context)
        if (result.before.length === 1 && tail.length > 0) {
          // the part on disk was cut off whole, into quarantine, and the segment ends where the command began
          assert.strictEqual(result.repair?.bytes, tail.length, context)
          const quarantined = NodeFs.readFileSync(Path.join(dir, result.repair?.quarantineFile ?? "missing"))
          assert.isTrue(quarantined.equals(tail), context)
        }
        // the retried command is recorded whole, once
        assert.strictEqual(result.after.length, 1 + BIG_COMMAND.records, context)
        assert.deepStrictEqual(result.afterReport, { ok: true, records: result.after.length, problems: [] }, context)
        NodeFs.rmSync(dir, { recursive: true, force: true })
      }
      console.log(`[crash-append-big] seed=${seed} attempts=${attempts} cut-with-whole-records=${cutWithWholeRecords}`)
      // the case this test is for must have happened, or it proved nothing
      assert.isAtLeast(cutWithWholeRecords, 1, "no kill cut the command's write after a complete record")
    } finally {
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
  }, 300_000)


  it("kills a multi-stream writer at uniform random 0-200 ms: 0 acknowledged lost, 0 duplicates, chain verifies; replays apply nothing twice", async () => {
    const seed = seedFor("crash-append")
    const kills = scaled(200, 1_000)
    // two lanes keep both cores busy: the writers append flat out between kills (measured: 4 lanes are not faster)
    const lanes = 2
    const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "crash-append-"))
    const totals: LaneTotals = { kills: 0, acked: 0, durableUnacked: 0, replayed: 0, tornTails: 0, killedBeforeOpen: 0, killedWithoutAck: 0, diedHoldingLock: 0 }
    const started = Date.now()
    try {
      await Promise.all(
        Array.from({ length: lanes }, (_, lane) => runLane(root, lane, Math.ceil((kills - lane) / lanes), seed, totals))
      )
    } finally {
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
    console.log(
      `[crash-append] seed=${seed} kills=${totals.kills} lanes=${lanes} acknowledged=${totals.acked} ` +
        `durable-but-unacknowledged=${totals.durableUnacked} replayed-and-appended=${totals.replayed} ` +
        `torn-tails-repaired=${totals.tornTails} killed-before-open=${totals.killedBeforeOpen} ` +
        `killed-before-first-ack=${totals.killedWithoutAck} died-holding-the-lock=${totals.diedHoldingLock} lost=0 duplicates=0 wall=${Date.now() - started}ms`
    )
    assert.strictEqual(totals.kills, kills)
    assert.isAbove(totals.acked, kills, "the writers should have acknowledged records")
  }, 900_000)
})
