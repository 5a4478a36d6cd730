import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { makeNodeLockHost } from "../../src/adapters/LockOwner.ts"
import { type FsPort, nodeFs } from "../../src/adapters/FsPort.ts"
import { segmentName } from "../../src/adapters/SegmentName.ts"
import { encodeRecord } from "../../src/adapters/LogRecordFormat.ts"
import { EventLog, type EventLogError, type LogRecord, type NewRecord } from "../../src/services/EventLog.ts"
import { deadPid, fixturePath, makeRng, runNode, tempDirScoped, testSeed } from "../adapters/fixtures/testkit.ts"

type EventLogShape = EventLog["Service"]

const rec = (id: string, data: unknown = { id }): NewRecord => ({ id, ts: "2026-01-02T03:04:05.678Z", type: "TestAppended", data })
const append = (log: EventLogShape, records: ReadonlyArray<NewRecord>) =>
  log.transact(() => Effect.succeed({ append: records, value: undefined }))
const segmentPath = (dir: string): string => Path.join(dir, "events", segmentName(1))
const lockPath = (dir: string): string => Path.join(dir, "lock")

/** Run `f` against a freshly opened log on `dir` (open = take the lock, recover, release). */
const withLog = <A, E>(
  dir: string,
  f: (log: EventLogShape) => Effect.Effect<A, E>,
  options: { readonly fs?: FsPort; readonly lockTimeoutMs?: number } = {}
): Effect.Effect<A, E | EventLogError> => EventLog.use(f).pipe(Effect.provide(EventLog.layer({ ledgerDir: dir, ...options })))

const assertChain = (records: ReadonlyArray<LogRecord>): void => {
  records.forEach((r, i) => {
    assert.strictEqual(r.seq, i + 1)
    assert.strictEqual(r.prev, i === 0 ? "0".repeat(32) : records[i - 1]?.h)
  })
  assert.strictEqual(new Set(records.map((r) => r.id)).size, records.length, "duplicate ids")
}

class DecideRejected extends Schema.TaggedError<DecideRejected>()("DecideRejected", { why: Schema.String }) {}

const contract = (name: string, makeLayer: (dir: string) => Layer.Layer<EventLog, EventLogError>) =>
  describe(`EventLog contract: ${name}`, () => {
    const run = <A, E>(f: (log: EventLogShape) => Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        const dir = yield* tempDirScoped
        return yield* EventLog.use(f).pipe(Effect.provide(makeLayer(dir)))
      })

    it.live("starts with the LogCreated genesis record; transact appends in seq order", () =>
      run((log) =>
        Effect.gen(function*() {
          const [genesis] = yield* log.records
          assert.strictEqual(genesis?.type, "LogCreated")
          assert.strictEqual(genesis?.seq, 1)
          const { value, appended } = yield* log.transact((records) =>
            Effect.succeed({ append: [rec("a"), rec("b", [1, 2])], value: records.length })
          )
          assert.strictEqual(value, 1)
          assert.deepStrictEqual(appended.map((r) => [r.seq, r.id]), [[2, "a"], [3, "b"]])
          // one transaction is one batch: `more` counts the records after each, the last has none
          assert.deepStrictEqual(appended.map((r) => r.more), [1, undefined])
          assert.deepStrictEqual(appended[1]?.data, [1, 2])
          const all = yield* log.records
          assert.deepStrictEqual(all.slice(1), appended)
          assertChain(all)
          assert.isUndefined(log.readOnlyReason)
          assert.isUndefined(log.tailRepair)
          assert.deepStrictEqual(yield* log.verify, { ok: true, records: 3, problems: [] })
        })
      ))

    it.live("ids are idempotent: a retried append returns nothing new and changes nothing", () =>
      run((log) =>
        Effect.gen(function*() {
          yield* append(log, [rec("x"), rec("y")])
          const retry = yield* append(log, [rec("x"), rec("y", "other payload"), rec("x"), rec("z")])
          assert.deepStrictEqual(retry.appended.map((r) => [r.id, r.more]), [["z", undefined]]) // a batch of the new ids only
          assert.deepStrictEqual((yield* log.records).map((r) => r.id).slice(1), ["x", "y", "z"])
          assert.deepStrictEqual((yield* log.records)[2]?.data, { id: "y" })
        })
      ))

    it.live("recordById finds a committed record by its id, the first one kept when an id is retried", () =>
      run((log) =>
        Effect.gen(function*() {
          assert.isUndefined(log.recordById("k:0"), "nothing yet")
          yield* append(log, [rec("k:0"), rec("k:1")])
          yield* append(log, [rec("k:1", "retried payload"), rec("other")])
          const all = yield* log.records
          for (const record of all) assert.strictEqual(log.recordById(record.id), record)
          assert.deepStrictEqual(log.recordById("k:1")?.data, { id: "k:1" })
          assert.strictEqual(log.recordById("k:1")?.seq, 3)
          // ids are exact: no prefix of one, no id that was only decided and refused
          assert.isUndefined(log.recordById("k"))
          assert.isUndefined(log.recordById("k:"))
          yield* Effect.flip(log.transact(() => Effect.fail(new DecideRejected({ why: "no" }))))
          // inside decide it answers for the records decide is given
          yield* log.transact((records) =>
            Effect.sync(() => {
              assert.strictEqual(log.recordById("other"), records.at(-1))
              return { append: [], value: undefined }
            })
          )
        })
      ))

    it.live("decide failing => nothing appended; afterAppend gets the appended and all records", () =>
      run((log) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(log.transact(() => Effect.fail(new DecideRejected({ why: "no" }))))
          assert.strictEqual(error._tag, "DecideRejected")
          assert.strictEqual((yield* log.records).length, 1)
          const seen: Array<string> = []
          yield* log.transact(
            () => Effect.succeed({ append: [rec("p")], value: 0 }),
            (appended, all) => Effect.sync(() => seen.push(`${appended.length}/${all.length}`))
          )
          assert.deepStrictEqual(seen, ["1/2"])
          // an afterAppend failure is reported; the append itself is already durable
          const after = yield* Effect.flip(log.transact(
            () => Effect.succeed({ append: [rec("q")], value: 0 }),
            () => Effect.fail(new DecideRejected({ why: "projection" }))
          ))
          assert.strictEqual(after._tag, "DecideRejected")
          assert.deepStrictEqual((yield* log.records).map((r) => r.id).slice(1), ["p", "q"])
        })
      ))

    it.live("concurrent transactions in one process are serialised", () =>
      run((log) =>
        Effect.gen(function*() {
          yield* Effect.all(
            Array.from({ length: 20 }, (_, i) =>
              log.transact((records) =>
                Effect.gen(function*() {
                  const before = records.length
                  yield* Effect.yieldNow
                  return { append: [rec(`c${i}`, { before })], value: undefined }
                })
              )),
            { concurrency: "unbounded" }
          )
          const all = yield* log.records
          assert.strictEqual(all.length, 21)
          assertChain(all)
          // each decide saw exactly the records before its own
          all.slice(1).forEach((r) => assert.deepStrictEqual(r.data, { before: r.seq - 1 }))
        })
      ))
  })

contract("layer (files)", (dir) => EventLog.layer({ ledgerDir: dir }))
contract("layerMemory", () => EventLog.layerMemory)

describe("EventLog.layer: durability, recovery, locking", () => {
  it.live("append + reopen roundtrip; the lock is held only inside transactions", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const pid = process.pid
      const first = yield* withLog(dir, (log) =>
        Effect.gen(function*() {
          assert.isFalse(NodeFs.existsSync(lockPath(dir)), "not held after open")
          yield* log.transact(
            () =>
              Effect.sync(() => {
                assert.strictEqual(JSON.parse(NodeFs.readFileSync(lockPath(dir), "utf8")).pid, pid)
                return { append: [rec("one")], value: undefined }
              }),
            () => Effect.sync(() => assert.isTrue(NodeFs.existsSync(lockPath(dir)), "held during afterAppend"))
          )
          assert.isFalse(NodeFs.existsSync(lockPath(dir)), "released after the transaction")
          return yield* log.records
        })
      )
      const second = yield* withLog(dir, (log) => log.records)
      assert.deepStrictEqual(second, first)
      assert.deepStrictEqual(second.map((r) => r.id).slice(1), ["one"])
    }))

  it.live("two open instances (a daemon and a CLI) share the file: catch-up before every write", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const layerA = EventLog.layer({ ledgerDir: dir })
      const layerB = EventLog.layer({ ledgerDir: dir })
      const a = Context.get(yield* Layer.build(layerA), EventLog)
      const b = Context.get(yield* Layer.build(layerB), EventLog)
      yield* append(a, [rec("a1")])
      assert.deepStrictEqual((yield* b.refresh).map((r) => r.id), ["a1"])
      yield* Effect.all([
        ...Array.from({ length: 10 }, (_, i) => append(a, [rec(`a-${i}`)])),
        ...Array.from({ length: 10 }, (_, i) => append(b, [rec(`b-${i}`)]))
      ], { concurrency: "unbounded" })
      yield* a.refresh
      yield* b.refresh
      const fromA = yield* a.records
      assert.strictEqual(fromA.length, 22)
      assertChain(fromA)
      assert.deepStrictEqual(yield* b.records, fromA)
      assert.isTrue((yield* b.verify).ok)
    }))

  it.live("recordById sees what another instance appended once caught up, and what a reopened log read", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const a = Context.get(yield* Layer.build(EventLog.layer({ ledgerDir: dir })), EventLog)
      const b = Context.get(yield* Layer.build(EventLog.layer({ ledgerDir: dir })), EventLog)
      yield* append(a, [rec("key:0"), rec("key:1")])
      assert.isUndefined(b.recordById("key:0"), "not read by b yet")
      yield* b.refresh
      assert.strictEqual(b.recordById("key:0")?.seq, 2)
      // a transaction catches up before it decides: a's next record is known to b's decide
      yield* append(a, [rec("late")])
      yield* b.transact(() =>
        Effect.sync(() => {
          assert.strictEqual(b.recordById("late")?.seq, 4)
          return { append: [rec("from-b")], value: undefined }
        })
      )
      const reopened = yield* withLog(dir, (log) => Effect.succeed(["key:0", "key:1", "late", "from-b"].map((id) => log.recordById(id)?.seq)))
      assert.deepStrictEqual(reopened, [2, 3, 4, 5])
    }))

  it.live("a torn tail found at open is truncated, quarantined and reported as tailRepair", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      yield* withLog(dir, (log) => append(log, [rec("kept")]))
      const garbage = Buffer.from(`{"v":1,"seq":3,"id":"torn","ts":"2026`)
      NodeFs.appendFileSync(segmentPath(dir), garbage)
      yield* withLog(dir, (log) =>
        Effect.gen(function*() {
          const repair = log.tailRepair
          assert.strictEqual(repair?.bytes, garbage.length)
          assert.deepStrictEqual(NodeFs.readFileSync(Path.join(dir, repair?.quarantineFile ?? "")), garbage)
          // the caller records it
          yield* append(log, [{ id: `LogTailRepaired:${repair?.sha256}`, ts: "t", type: "LogTailRepaired", data: repair }])
          assert.deepStrictEqual((yield* log.records).map((r) => r.type), ["LogCreated", "TestAppended", "LogTailRepaired"])
          assert.isTrue((yield* log.verify).ok)
        })
      )
    }))

  it.live("a torn tail left by another process after our open is repaired in the next transaction and recorded", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      yield* withLog(dir, (log) =>
        Effect.gen(function*() {
          NodeFs.appendFileSync(segmentPath(dir), "half a rec")
          assert.deepStrictEqual(yield* log.refresh, []) // without the lock it may be a write in progress
          const { appended } = yield* append(log, [rec("next")])
          const all = yield* log.records
          assert.deepStrictEqual(all.map((r) => r.type), ["LogCreated", "LogTailRepaired", "TestAppended"])
          assert.deepStrictEqual(appended.map((r) => r.id), ["next"])
          assert.deepInclude(all[1]?.data, { bytes: 10 })
          assert.isTrue((yield* log.verify).ok)
        })
      )
    }))

  it.live("a break in the middle: read-only with the clear reason, transact refused, records up to the break", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      // one command each, so the records before the break are each a whole batch
      yield* withLog(dir, (log) => Effect.forEach(Array.from({ length: 6 }, (_, i) => rec(`r${i}`)), (r) => append(log, [r])))
      const lines = NodeFs.readFileSync(segmentPath(dir), "utf8").split("\n")
      const brokenAt = Buffer.byteLength(lines.slice(0, 3).join("\n")) + 1 // start of seq 4
      lines.splice(3, 1) // committed record seq 4 lost
      NodeFs.writeFileSync(segmentPath(dir), lines.join("\n"))
      yield* withLog(dir, (log) =>
        Effect.gen(function*() {
          assert.match(
            log.readOnlyReason ?? "",
            new RegExp(`^event log is corrupt at byte ${brokenAt} \\(seq 4\\): .*; refusing to write; see plugin-ledger doctor$`)
          )
          assert.strictEqual((yield* log.records).length, 3)
          const error = yield* Effect.flip(append(log, [rec("new")]))
          assert.strictEqual(error.reason, "ReadOnly")
          assert.strictEqual(error.message, log.readOnlyReason)
          const report = yield* log.verify
          assert.isFalse(report.ok)
          assert.include(report.problems.join("\n"), "refusing to write")
        })
      )
    }))

  it.live("a lock held by a live process makes open fail with a typed error after the timeout", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const host = makeNodeLockHost()
      const live = { pid: process.ppid, host: host.hostname, bootId: host.bootId ?? null, startTime: host.startTimeOf(process.ppid) ?? null, nonce: "x" }
      NodeFs.writeFileSync(lockPath(dir), JSON.stringify(live))
      const error = yield* Effect.flip(withLog(dir, (log) => log.records, { lockTimeoutMs: 250 }))
      assert.strictEqual(error.reason, "Locked")
      assert.include(error.message, `ledger is locked by pid ${process.ppid} on host ${host.hostname}`)
      // a lock naming a dead pid is taken over instead
      const pid = yield* Effect.promise(() => deadPid())
      NodeFs.writeFileSync(lockPath(dir), JSON.stringify({ ...live, pid, startTime: null }))
      const records = yield* withLog(dir, (log) => log.records, { lockTimeoutMs: 2_000 })
      assert.strictEqual(records.length, 1)
      assert.isFalse(NodeFs.existsSync(lockPath(dir)))
    }))

  it.live("waiting for the lock is interruptible (e.g. by a timeout), even inside acquire/release", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const host = makeNodeLockHost()
      const live = { pid: process.ppid, host: host.hostname, bootId: host.bootId ?? null, startTime: host.startTimeOf(process.ppid) ?? null, nonce: "x" }
      NodeFs.writeFileSync(lockPath(dir), JSON.stringify(live))
      const started = Date.now()
      const error = yield* Effect.flip(withLog(dir, (log) => log.records, { lockTimeoutMs: 10_000 }).pipe(Effect.timeout("200 millis")))
      assert.strictEqual(error._tag, "TimeoutError")
      assert.isBelow(Date.now() - started, 2_000)
      assert.deepStrictEqual(JSON.parse(NodeFs.readFileSync(lockPath(dir), "utf8")), live)
    }))

  it.live("an fdatasync error poisons the log: the append fails, is never retried, later appends fail", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      let fdatasyncs = 0
      const fs: FsPort = {
        ...nodeFs,
        fdatasyncSync: () => {
          fdatasyncs++
          throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })
        }
      }
      yield* withLog(dir, (log) =>
        Effect.gen(function*() {
          const first = yield* Effect.flip(append(log, [rec("a")]))
          assert.strictEqual(first.reason, "Io")
          assert.include(first.message, "poisoned")
          const second = yield* Effect.flip(append(log, [rec("b")]))
          assert.include(second.message, "poisoned")
          assert.strictEqual(fdatasyncs, 1)
          assert.isFalse(NodeFs.existsSync(lockPath(dir)), "lock released on failure")
        }), { fs })
    }))

  it("a hand-written next record (another writer's format) is read back identically", () => {
    const a = encodeRecord(2, "f".repeat(32), rec("x", { nested: { list: [1, "2", null] } }))
    assert.deepStrictEqual(a.record.data, { nested: { list: [1, "2", null] } })
  })
})

describe("EventLog.layer: real processes", () => {
  it.live("SIGKILL of a writer at random moments (~20x): 0 acknowledged ids lost, 0 duplicates, chain verifies", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const seed = testSeed("sigkill")
      const rng = makeRng(seed)
      const acked = new Set<string>()
      let durableUnacked = 0
      for (let k = 0; k < 20; k++) {
        const early = rng.next() < 0.25 // sometimes kill during startup / open / first append
        const delayMs = early ? rng.int(0, 300) : rng.int(0, 150)
        const result = yield* Effect.promise(() =>
          runNode(fixturePath("appender.ts"), [dir, `k${k}`], (child) => {
            void (early ? Promise.resolve() : child.firstLine).then(() => setTimeout(child.kill, delayMs))
          })
        )
        const context = `kill ${k} (seed ${seed}, ${early ? "early" : "after READY"} +${delayMs} ms)`
        assert.strictEqual(result.signal, "SIGKILL", `${context}: child exited by itself: ${result.stderr}`)
        const mine = result.lines.filter((l) => l.startsWith("ACK ")).map((l) => l.slice(4))
        mine.forEach((id) => acked.add(id))
        const { records, report } = yield* withLog(dir, (log) => Effect.all({ records: log.records, report: log.verify }))
        assert.deepStrictEqual(report, { ok: true, records: records.length, problems: [] }, context)
        assertChain(records)
        const ids = new Set(records.map((r) => r.id))
        const lost = [...acked].filter((id) => !ids.has(id))
        assert.deepStrictEqual(lost, [], `${context}: acknowledged ids lost`)
        durableUnacked += records.filter((r) => r.id.startsWith(`k${k}-`) && !mine.includes(r.id)).length
      }
      console.log(`[sigkill] ${acked.size} acknowledged ids, ${durableUnacked} durable but unacknowledged, 0 lost`)
      assert.isAbove(acked.size, 20, "the writers should have acknowledged something")
      assert.isFalse(NodeFs.existsSync(lockPath(dir)))
      assert.deepStrictEqual(NodeFs.readdirSync(dir).filter((n) => n.startsWith("lock")), [])
    }), 60_000)

  it.live("3 concurrent writer processes x 50 appends: 150 records, contiguous seq, no duplicates", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const runs = yield* Effect.promise(() =>
        Promise.all(["w1", "w2", "w3"].map((prefix) => runNode(fixturePath("appender.ts"), [dir, prefix, "50"])))
      )
      for (const run of runs) {
        assert.strictEqual(run.code, 0, run.stderr)
        assert.strictEqual(run.lines.filter((l) => l.startsWith("ACK ")).length, 50)
        assert.strictEqual(run.lines.at(-1), "DONE")
      }
      const { records, report } = yield* withLog(dir, (log) => Effect.all({ records: log.records, report: log.verify }))
      assert.strictEqual(records.length, 151)
      assertChain(records)
      assert.isTrue(report.ok, report.problems.join("\n"))
      for (const prefix of ["w1", "w2", "w3"]) {
        const mine = records.filter((r) => r.id.startsWith(`${prefix}-`)).map((r) => r.id)
        assert.deepStrictEqual(mine, Array.from({ length: 50 }, (_, i) => `${prefix}-${i}`)) // in order, each once
      }
    }), 60_000)
})
