/**
 * R7: 4 writer processes x 300 appends on one ledger dir, each with its own ids, all on the same 3 streams; once
 * with every writer surviving and once with half of them SIGKILLed midway (possibly while holding the lock).
 * No acknowledged record lost, none duplicated, global seq contiguous, every stream's version gap-free, and the
 * chain verifies; the killed writers' attempted commands replayed afterwards apply nothing twice.
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
const WRITERS = 4
const APPENDS = 300
/** think time between a writer's commands (0..2 ms): without it one writer keeps re-taking the lock while the others back off */
const PAUSE_MS = 2

const CommandJson = Schema.fromJsonString(Schema.Struct({
  writer: Schema.String,
  items: Schema.Array(Schema.Struct({ id: Schema.String, stream: Schema.String, n: Schema.Int }))
}))
const decodeCommand = Schema.decodeUnknownSync(CommandJson)

interface WriterRun {
  readonly writer: string
  readonly killed: boolean
  readonly acked: ReadonlyMap<string, number>
  readonly tried: ReadonlyArray<StreamCommand>
  readonly done: boolean
  /** the lock file still named this writer right after its SIGKILL */
  readonly diedHoldingLock: boolean
}

const runWriter = async (
  script: string,
  dir: string,
  writer: string,
  seed: number,
  kill: { readonly atTry: number; readonly delayMs: number } | undefined
): Promise<WriterRun> => {
  const child = new LineChild(script, [])
  let diedHoldingLock = false
  try {
    await child.waitForLine((l) => l === "WARM", 30_000)
    child.send(`GO ${JSON.stringify({ dir, writer, count: APPENDS, seed, batchMax: 3, pauseMs: PAUSE_MS })}`)
    if (kill === undefined) {
      const exit = await child.exit
      assert.deepStrictEqual(exit, { code: 0, signal: null }, `${writer}: ${child.stderr}`)
    } else {
      // right after it announced a command (it is taking the lock, appending, or just done); at most the 99th
      // command, while a writer needs ~150 (of 1-3 ids) for its 300 ids, so it cannot have finished
      let tries = 0
      await child.waitForLine((l) => l.startsWith("TRY ") && ++tries >= kill.atTry, 120_000)
      await sleep(kill.delayMs)
      const exit = await child.kill()
      assert.strictEqual(exit.signal, "SIGKILL", `${writer} finished before its kill: ${child.stderr}`)
      diedHoldingLock = lockHolderPid(dir) === child.pid
    }
  } finally {
    await child.kill()
  }
  const acked = new Map<string, number>()
  const tried: Array<StreamCommand> = []
  for (const line of child.lines) {
    if (line.startsWith("ACK ")) {
      const [id = "", seq = ""] = line.slice(4).split(" ")
      acked.set(id, Number(seq))
    } else if (line.startsWith("TRY ")) tried.push(decodeCommand(line.slice(4)))
  }
  return { writer, killed: kill !== undefined, acked, tried, done: child.lines.includes("DONE"), diedHoldingLock }
}

const inspect = (dir: string, replay: ReadonlyArray<StreamCommand>) =>
  EventLog.use((log) =>
    Effect.gen(function*() {
      const before = yield* log.records
      const report = yield* log.verify
      let replayed = 0
      for (const command of replay) {
        const { appended } = yield* log.transact((records) =>
          Effect.sync(() => ({ append: streamRecords(command, records, new Date().toISOString()), value: undefined }))
        )
        replayed += appended.length
      }
      return { before, report, replayed, after: yield* log.records, afterReport: yield* log.verify }
    })
  ).pipe(Effect.provide(EventLog.layer({ ledgerDir: dir, lockTimeoutMs: 10_000 })))

const runOnce = async (root: string, run: number, seed: number, killHalf: boolean) => {
  const random = makeRandom(seed + run * 104_729 + (killHalf ? 1 : 0))
  const dir = Path.join(root, `run-${run}-${killHalf ? "kill" : "all"}`)
  const script = await bundled(WRITER_SOURCE)
  const names = Array.from({ length: WRITERS }, (_, i) => `r${run}w${i}`)
  const runs = await Promise.all(names.map((writer, i) =>
    runWriter(
      script,
      dir,
      writer,
      random.int(2 ** 31),
      killHalf && i % 2 === 1 ? { atTry: 15 + random.int(85), delayMs: random.int(2) } : undefined
    )
  ))
  const context = `run ${run} ${killHalf ? "with kills" : "all surviving"} (seed ${seed})`
  const result = await Effect.runPromise(inspect(dir, runs.filter((r) => r.killed).flatMap((r) => r.tried)))
  assert.deepStrictEqual(result.report, { ok: true, records: result.before.length, problems: [] }, context)
  assert.deepStrictEqual(streamLogProblems(result.before), [], context)
  const seqOf = new Map(result.before.map((r) => [r.id, r.seq]))
  for (const r of runs) {
    for (const [id, seq] of r.acked) assert.strictEqual(seqOf.get(id), seq, `${context}: acknowledged ${id}@${seq}`)
    const mine = result.before.filter((record) => record.id.startsWith(`${r.writer}-`)).map((record) => record.id)
    if (!r.killed) {
      assert.isTrue(r.done, `${context}: ${r.writer} did not finish`)
      assert.strictEqual(r.acked.size, APPENDS, context)
      assert.deepStrictEqual(mine, Array.from({ length: APPENDS }, (_, n) => `${r.writer}-${n}`), `${context}: ${r.writer}`)
    } else {
      // a prefix of its ids, in order: everything acknowledged, at most the in-flight command beyond that
      assert.deepStrictEqual(mine, Array.from({ length: mine.length }, (_, n) => `${r.writer}-${n}`), `${context}: ${r.writer}`)
      assert.isAtMost(mine.length - r.acked.size, r.tried.at(-1)?.items.length ?? 0, context)
    }
  }
  for (const record of result.before.slice(1)) assert.strictEqual(record.type, STREAM_EVENT, context)
  // R2 for the killed writers: the replay adds exactly what was attempted and is missing
  const attempted = runs.flatMap((r) => r.tried.flatMap((c) => c.items.map((i) => i.id)))
  assert.strictEqual(result.replayed, attempted.filter((id) => !seqOf.has(id)).length, context)
  assert.deepStrictEqual(result.afterReport, { ok: true, records: result.after.length, problems: [] }, context)
  assert.deepStrictEqual(streamLogProblems(result.after), [], context)
  assert.deepStrictEqual(NodeFs.readdirSync(dir).filter((name) => name.startsWith("lock")), [], `${context}: lock debris`)
  // how often the log switches from one writer to another: the writers really did interleave
  const writerOf = (id: string) => id.slice(0, id.lastIndexOf("-"))
  const switches = result.before.slice(2).filter((record, i) => writerOf(record.id) !== writerOf(result.before[i + 1]?.id ?? "")).length
  assert.isAbove(switches, 20, `${context}: the writers did not interleave`)
  return {
    switches,
    records: result.before.length - 1,
    acked: runs.reduce((sum, r) => sum + r.acked.size, 0),
    killed: runs.filter((r) => r.killed).length,
    diedHoldingLock: runs.filter((r) => r.diedHoldingLock).length
  }
}

describe("R7: concurrent writer processes", () => {
  for (const killHalf of [false, true]) {
    it(`${WRITERS} processes x ${APPENDS} appends on shared streams, ${killHalf ? "half of them SIGKILLed midway" : "all surviving"}`, async () => {
      const seed = seedFor(killHalf ? "concurrent-kill" : "concurrent")
      const runs = scaled(1, 10)
      const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "concurrent-"))
      const started = Date.now()
      let records = 0
      let acked = 0
      let killed = 0
      let switches = 0
      let diedHoldingLock = 0
      try {
        for (let run = 0; run < runs; run++) {
          const r = await runOnce(root, run, seed, killHalf)
          records += r.records
          acked += r.acked
          killed += r.killed
          switches += r.switches
          diedHoldingLock += r.diedHoldingLock
        }
      } finally {
        NodeFs.rmSync(root, { recursive: true, force: true })
      }
      console.log(
        `[concurrent${killHalf ? "-kill" : ""}] seed=${seed} runs=${runs} writers=${WRITERS}x${APPENDS} records=${records} ` +
          `acknowledged=${acked} killed=${killed} (${diedHoldingLock} holding the lock) writer-switches=${switches} lost=0 duplicates=0 wall=${Date.now() - started}ms`
      )
    }, 900_000)
  }
})
