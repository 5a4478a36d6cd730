import { createHash } from "node:crypto"
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { type FsPort, nodeFs } from "../../src/adapters/FsPort.ts"
import { type LogFile, openLogFile } from "../../src/adapters/LogFile.ts"
import { segmentName } from "../../src/adapters/SegmentName.ts"
import { encodeRecord, hash128, LogFileError, type NewRecord, parseLine, ZERO_HASH } from "../../src/adapters/LogRecordFormat.ts"
import { makeRng, makeTempDir, removeDir, testSeed, withTempDir } from "./fixtures/testkit.ts"

const NOW = Date.parse("2026-01-02T03:04:05.678Z")
const open = (dir: string, fs: FsPort = nodeFs): LogFile => openLogFile({ fs, ledgerDir: dir, nowMs: () => NOW })
const rec = (id: string, data: unknown = { id }): NewRecord => ({ id, ts: "2026-01-02T03:04:05.678Z", type: "TestAppended", data })
const segmentPath = (dir: string): string => Path.join(dir, "events", segmentName(1))
const fileBytes = (dir: string): Buffer => NodeFs.readFileSync(segmentPath(dir))
const lineOffsets = (bytes: Buffer): Array<number> => {
  const starts = [0]
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a && i + 1 < bytes.length) starts.push(i + 1)
  return starts
}
const throwsLogFileError = (f: () => unknown, reason: string): LogFileError => {
  try {
    f()
  } catch (error) {
    if (error instanceof LogFileError && error.reason === reason) return error
    throw error
  }
  throw new Error(`expected a LogFileError(${reason})`)
}
const LINE_RE = /^\{"v":1,"seq":(\d+),"id":"[^"]*","ts":"[^"]*","type":"[^"]*","data":.*,"prev":"([0-9a-f]{32})","h":"([0-9a-f]{32})"\}$/

describe("LogFile: format", () => {
  it("a new log starts with the LogCreated genesis record; lines have the fixed key order and hash rule", () =>
    withTempDir((dir) => {
      const log = open(dir)
      log.catchUp()
      log.append([rec("a", { n: 1, nested: { s: "x\ny" } }), rec("b")])
      const lines = fileBytes(dir).toString("utf8").split("\n")
      assert.strictEqual(lines.pop(), "") // every line ends in \n
      assert.strictEqual(lines.length, 3)
      let prev = ZERO_HASH
      for (const [i, line] of lines.entries()) {
        const m = LINE_RE.exec(line)
        assert.isNotNull(m, line)
        assert.strictEqual(m?.[1], String(i + 1))
        assert.strictEqual(m?.[2], prev)
        const cut = line.lastIndexOf(`,"h":"`)
        const h = createHash("sha256").update(line.slice(0, cut)).digest("hex").slice(0, 32)
        assert.strictEqual(m?.[3], h)
        prev = h
      }
      const genesis = JSON.parse(lines[0] ?? "")
      assert.strictEqual(genesis.type, "LogCreated")
      assert.strictEqual(genesis.data.format, 1)
      assert.match(genesis.data.logId, /^[0-9a-f-]{36}$/)
      assert.strictEqual(genesis.ts, "2026-01-02T03:04:05.678Z")
      assert.strictEqual(lines[1], JSON.stringify(JSON.parse(lines[1] ?? ""))) // compact JSON, no spaces
      assert.deepStrictEqual(log.records().map((r) => r.id).slice(1), ["a", "b"])
    }))

  it("parseLine rejects every tampering: hash, framing, newer format", () => {
    const { line } = encodeRecord(1, ZERO_HASH, rec("x"))
    const body = line.subarray(0, line.length - 1)
    assert.strictEqual(parseLine(body)._tag, "Valid")
    const flipped = Buffer.from(body)
    flipped[20] = (flipped[20] ?? 0) ^ 0x01
    assert.deepStrictEqual(parseLine(flipped), { _tag: "Invalid", reason: "hash mismatch" })
    assert.strictEqual(parseLine(body.subarray(0, 40))._tag, "Invalid")
    assert.strictEqual(parseLine(Buffer.from("not json at all"))._tag, "Invalid")
    // v:2 with a correct hash is a newer format; v:2 with a broken hash is just corrupt
    const v2Body = `{"v":2,"seq":1,"whatever":true`
    const v2 = Buffer.from(`${v2Body},"h":"${hash128(v2Body)}"}`)
    assert.deepStrictEqual(parseLine(v2), { _tag: "Newer", v: 2 })
    const v3flip = Buffer.from(body.toString("utf8").replace(`"v":1`, `"v":3`))
    assert.strictEqual(parseLine(v3flip)._tag, "Invalid")
  })

  it("rejects unserialisable data and oversize records before writing anything", () =>
    withTempDir((dir) => {
      const log = open(dir)
      const before = fileBytes(dir)
      assert.throws(() => log.append([{ id: "u", ts: "t", type: "T", data: undefined }]), /no JSON-serialisable data/)
      assert.throws(() => log.append([rec("big", "x".repeat(1024 * 1024))]), /max 1048576/)
      assert.deepStrictEqual(fileBytes(dir), before)
    }))
})

describe("LogFile: append, reopen, idempotency, catch-up", () => {
  it("append + reopen roundtrip", () =>
    withTempDir((dir) => {
      const a = open(dir)
      a.catchUp()
      const written = a.append([rec("1"), rec("2", [1, "two", null, { deep: true }]), rec("3", "s")])
      assert.deepStrictEqual(written.map((r) => r.seq), [2, 3, 4])
      const b = open(dir)
      assert.deepStrictEqual(b.records(), a.records())
      assert.isUndefined(b.openRepair)
      assert.isUndefined(b.readOnlyReason())
      assert.deepStrictEqual(b.verify(), { ok: true, records: 4, problems: [] })
    }))

  it("ids are idempotency keys: existing ids and duplicates within a batch are not appended again", () =>
    withTempDir((dir) => {
      const log = open(dir)
      log.catchUp()
      assert.strictEqual(log.append([rec("a"), rec("b"), rec("a")]).length, 2)
      const again = log.append([rec("b", "different payload"), rec("c")])
      assert.deepStrictEqual(again.map((r) => r.id), ["c"])
      assert.deepStrictEqual(log.append([rec("a")]), [])
      const reopened = open(dir)
      assert.deepStrictEqual(reopened.records().map((r) => r.id).slice(1), ["a", "b", "c"])
      assert.deepStrictEqual(reopened.append([rec("c")]), [])
      assert.strictEqual(reopened.verify().ok, true)
    }))

  it("a second instance catches up (refresh / catchUp) before it writes, so seq and prev stay chained", () =>
    withTempDir((dir) => {
      const a = open(dir)
      const b = open(dir)
      a.catchUp()
      a.append([rec("from-a-1"), rec("from-a-2")])
      assert.deepStrictEqual(b.refresh().map((r) => r.id), ["from-a-1", "from-a-2"])
      assert.deepStrictEqual(b.refresh(), [])
      a.append([rec("from-a-3")])
      b.catchUp()
      assert.deepStrictEqual(b.append([rec("from-b")]).map((r) => r.seq), [5])
      assert.deepStrictEqual(a.refresh().map((r) => r.id), ["from-b"])
      assert.deepStrictEqual(a.records(), b.records())
      assert.strictEqual(open(dir).verify().ok, true)
    }))

  it("an append that skips the catch-up is refused, never written at a stale offset", () =>
    withTempDir((dir) => {
      const a = open(dir)
      const b = open(dir)
      a.append([rec("a")])
      const error = throwsLogFileError(() => b.append([rec("b")]), "Io")
      assert.include(error.message, "another writer is not holding the ledger lock")
      assert.strictEqual(open(dir).verify().ok, true)
    }))

  it("lock-bug backstop: bytes from another writer landing during our append fail it (no ack) and poison", () =>
    withTempDir((dir) => {
      const other = open(dir)
      let intrude = true
      const fs: FsPort = {
        ...nodeFs,
        writeSync: (fd, buffer, offset, length, position) => {
          if (intrude) {
            intrude = false
            other.append([rec("intruder")]) // O_APPEND: it lands first, ours after it
          }
          return nodeFs.writeSync(fd, buffer, offset, length, position)
        }
      }
      const log = open(dir, fs)
      assert.include(throwsLogFileError(() => log.append([rec("mine")]), "Io").message, "another process wrote without the ledger lock")
      assert.include(throwsLogFileError(() => log.append([rec("again")]), "Io").message, "poisoned")
      // the intruder's record is committed; ours is an orphan (duplicate seq) in the tail, quarantined at open
      const reopened = open(dir)
      assert.deepStrictEqual(reopened.records().map((r) => r.id).slice(1), ["intruder"])
      assert.isDefined(reopened.openRepair)
      assert.isTrue(reopened.verify().ok)
    }))

  it("refresh never exposes a half-written line, and picks it up once complete", () =>
    withTempDir((dir) => {
      const log = open(dir)
      const head = log.records().at(-1)
      const { line } = encodeRecord(2, head?.h ?? "", rec("later"))
      NodeFs.appendFileSync(segmentPath(dir), line.subarray(0, 30))
      assert.deepStrictEqual(log.refresh(), [])
      assert.strictEqual(log.records().length, 1)
      NodeFs.appendFileSync(segmentPath(dir), line.subarray(30))
      assert.deepStrictEqual(log.refresh().map((r) => r.id), ["later"])
    }))

  it("refresh holds back a batch until its last record is there: another process never sees a command in part", () =>
    withTempDir((dir) => {
      const writer = open(dir)
      const reader = open(dir)
      const before = fileBytes(dir).length
      writer.append([rec("x:0"), rec("x:1"), rec("x:2")])
      const whole = fileBytes(dir)
      const [, batchStart, , lastStart = 0] = lineOffsets(whole)
      assert.strictEqual(batchStart, before)
      NodeFs.writeFileSync(segmentPath(dir), whole.subarray(0, lastStart)) // as a reader may see a write under way
      assert.deepStrictEqual(reader.refresh(), [])
      NodeFs.writeFileSync(segmentPath(dir), whole)
      assert.deepStrictEqual(reader.refresh().map((r) => r.id), ["x:0", "x:1", "x:2"])
      assert.deepStrictEqual(reader.records(), writer.records())
    }))

  it("a batch cut between its records (a killed write): the open under the lock quarantines all of it; a retry appends it whole", () =>
    withTempDir((dir) => {
      const log = open(dir)
      log.append([rec("first")])
      const committed = log.records()
      log.append([rec("cmd:0"), rec("cmd:1"), rec("cmd:2")])
      const whole = fileBytes(dir)
      const starts = lineOffsets(whole)
      const batchStart = starts[2] ?? 0
      for (const cut of [starts[3] ?? 0, starts[4] ?? 0]) {
        NodeFs.writeFileSync(segmentPath(dir), whole.subarray(0, cut))
        const reopened = open(dir)
        assert.deepStrictEqual(reopened.records(), committed, `cut at ${cut}`)
        assert.strictEqual(reopened.openRepair?.bytes, cut - batchStart)
        const quarantined = NodeFs.readFileSync(Path.join(dir, reopened.openRepair?.quarantineFile ?? "missing"))
        assert.deepStrictEqual(quarantined, whole.subarray(batchStart, cut))
        assert.deepStrictEqual(fileBytes(dir), whole.subarray(0, batchStart))
        assert.isTrue(reopened.verify().ok)
        // the same ids again, as a retried command sends them: all appended, as one batch
        assert.deepStrictEqual(reopened.append([rec("cmd:0"), rec("cmd:1"), rec("cmd:2")]).map((r) => [r.seq, r.more]), [
          [3, 2],
          [4, 1],
          [5, undefined]
        ])
        assert.isTrue(open(dir).verify().ok)
      }
    }))

  it("a short write is undone (ftruncate + fsync) and fails; the next append succeeds", () =>
    withTempDir((dir) => {
      let short = true
      const fs: FsPort = {
        ...nodeFs,
        writeSync: (fd, buffer, offset, length, position) =>
          nodeFs.writeSync(fd, buffer, offset, short ? Math.floor(length / 2) : length, position)
      }
      open(dir) // genesis written with a healthy fs
      const log = open(dir, fs)
      const size = fileBytes(dir).length
      const error = throwsLogFileError(() => log.append([rec("a"), rec("b")]), "Io")
      assert.include(error.message, "short write")
      assert.strictEqual(fileBytes(dir).length, size)
      short = false
      assert.strictEqual(log.append([rec("a")]).length, 1)
      assert.strictEqual(open(dir).verify().ok, true)
    }))

  it("ENOSPC on write: nothing appended, no poisoning", () =>
    withTempDir((dir) => {
      let fail = true
      const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
      const fs: FsPort = {
        ...nodeFs,
        writeSync: (...args) => {
          if (fail) throw enospc
          return nodeFs.writeSync(...args)
        }
      }
      open(dir) // genesis written with a healthy fs
      const log = open(dir, fs)
      assert.include(throwsLogFileError(() => log.append([rec("a")]), "Io").message, "ENOSPC")
      assert.strictEqual(log.records().length, 1)
      fail = false
      assert.strictEqual(log.append([rec("a")]).length, 1)
    }))

  it("an fdatasync error poisons the log: no retry, every later append fails", () =>
    withTempDir((dir) => {
      let fdatasyncs = 0
      const eio = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })
      const fs: FsPort = {
        ...nodeFs,
        fdatasyncSync: () => {
          fdatasyncs++
          throw eio
        }
      }
      open(dir) // genesis written with a healthy fs
      const log = open(dir, fs)
      assert.include(throwsLogFileError(() => log.append([rec("a")]), "Io").message, "poisoned")
      assert.include(throwsLogFileError(() => log.append([rec("b")]), "Io").message, "poisoned")
      assert.strictEqual(fdatasyncs, 1)
      assert.strictEqual(log.records().length, 1) // "a" was never acknowledged
    }))
})

describe("LogFile: recovery", () => {
  it("torn tails (random prefix, bit flip, prefix+\\n, garbage, complete+torn, flipped last record): detected, quarantined, truncated exactly", () => {
    const seed = testSeed("torn-tail")
    const rng = makeRng(seed)
    const root = makeTempDir()
    const kinds = ["prefix", "bitflip", "prefixNewline", "garbage", "completeThenTorn", "flipLastRecord"] as const
    const counts = new Map<string, number>()
    try {
      // a base log with a few records of varied sizes
      const baseDir = Path.join(root, "base")
      const base = open(baseDir)
      // one command each: a batch is committed only whole, and these cases are about single records
      for (let i = 0; i < 6; i++) base.append([rec(`base-${i}`, { pad: "p".repeat(i * 37) })])
      const baseBytes = fileBytes(baseDir)
      const baseRecords = base.records()
      const lastHead = baseRecords.at(-1)
      if (lastHead === undefined) throw new Error("no base records")
      const starts = lineOffsets(baseBytes)
      const lastStart = starts.at(-1) ?? 0
      for (let i = 0; i < 300; i++) {
        const kind = kinds[rng.int(0, kinds.length - 1)] ?? "garbage"
        counts.set(kind, (counts.get(kind) ?? 0) + 1)
        const next = encodeRecord(lastHead.seq + 1, lastHead.h, rec(`next-${i}`, { r: rng.int(0, 1e9) })).line
        let prefix = baseBytes
        let tail: Buffer
        switch (kind) {
          case "prefix":
            tail = next.subarray(0, rng.int(1, next.length - 1))
            break
          case "bitflip": {
            tail = Buffer.from(next)
            const at = rng.int(0, tail.length - 1)
            tail[at] = (tail[at] ?? 0) ^ (1 << rng.int(0, 7))
            break
          }
          case "prefixNewline":
            tail = Buffer.concat([next.subarray(0, rng.int(1, next.length - 2)), Buffer.from("\n")])
            break
          case "garbage":
            tail = rng.bytes(rng.int(1, 300))
            break
          case "completeThenTorn": {
            const after = encodeRecord(lastHead.seq + 2, hash128(next.subarray(0, next.lastIndexOf(`,"h":"`))), rec(`after-${i}`)).line
            prefix = Buffer.concat([baseBytes, next])
            tail = after.subarray(0, rng.int(1, after.length - 1))
            break
          }
          case "flipLastRecord": {
            prefix = baseBytes.subarray(0, lastStart)
            tail = Buffer.from(baseBytes.subarray(lastStart))
            const at = rng.int(0, tail.length - 1)
            tail[at] = (tail[at] ?? 0) ^ (1 << rng.int(0, 7))
            break
          }
        }
        const dir = Path.join(root, `case-${i}`)
        NodeFs.mkdirSync(Path.join(dir, "events"), { recursive: true })
        NodeFs.writeFileSync(segmentPath(dir), Buffer.concat([prefix, tail]))
        const context = `case ${i} (${kind}, seed ${seed})`
        const log = open(dir)
        assert.isUndefined(log.readOnlyReason(), context)
        const repair = log.openRepair
        assert.isDefined(repair, context)
        assert.strictEqual(repair?.bytes, tail.length, context)
        assert.strictEqual(repair?.sha256, createHash("sha256").update(tail).digest("hex"), context)
        assert.match(repair?.quarantineFile ?? "", /^quarantine\/20260102T030405\.678Z-[0-9a-f]{16}\.bin$/, context)
        assert.deepStrictEqual(NodeFs.readFileSync(Path.join(dir, repair?.quarantineFile ?? "")), tail, context)
        assert.deepStrictEqual(fileBytes(dir), prefix, context) // truncated exactly at the last committed record
        const expected = kind === "completeThenTorn" ? baseRecords.length + 1 : kind === "flipLastRecord" ? baseRecords.length - 1 : baseRecords.length
        assert.strictEqual(log.records().length, expected, context)
        const kept = Math.min(expected, baseRecords.length)
        assert.deepStrictEqual(log.records().slice(0, kept), baseRecords.slice(0, kept), context)
        // still writable, and a fresh open finds a clean log
        log.catchUp()
        assert.strictEqual(log.append([rec(`post-${i}`)]).length, 1, context)
        assert.deepStrictEqual(open(dir).verify(), { ok: true, records: expected + 1, problems: [] }, context)
      }
    } finally {
      removeDir(root)
    }
    console.log(`[torn-tail] injections per kind: ${JSON.stringify(Object.fromEntries(counts))}`)
  })

  it("a torn tail left after the genesis record alone, or a torn genesis, still recovers", () =>
    withTempDir((dir) => {
      NodeFs.mkdirSync(Path.join(dir, "events"), { recursive: true })
      const torn = `{"v":1,"seq":1,"id":"x`
      NodeFs.writeFileSync(segmentPath(dir), torn)
      const log = open(dir)
      assert.strictEqual(log.openRepair?.bytes, torn.length)
      assert.strictEqual(log.records().length, 1)
      assert.strictEqual(log.records()[0]?.type, "LogCreated")
      assert.strictEqual(open(dir).verify().ok, true)
    }))

  it("benign fragments and orphans that the chain continues past are skipped and reported, not truncated", () =>
    withTempDir((dir) => {
      const log = open(dir)
      log.append([rec("1"), rec("2"), rec("3"), rec("4")])
      const bytes = fileBytes(dir)
      const starts = lineOffsets(bytes)
      const cut = starts[3] ?? 0 // before seq 4
      const orphan = bytes.subarray(starts[1] ?? 0, starts[2] ?? 0) // a second copy of seq 2
      const tampered = Buffer.concat([bytes.subarray(0, cut), Buffer.from("garbage from a failed write\n"), orphan, bytes.subarray(cut)])
      NodeFs.writeFileSync(segmentPath(dir), tampered)
      const reopened = open(dir)
      assert.isUndefined(reopened.readOnlyReason())
      assert.isUndefined(reopened.openRepair)
      assert.strictEqual(reopened.records().length, 5)
      assert.strictEqual(reopened.skipped().length, 1)
      assert.match(reopened.skipped()[0] ?? "", /skipped bytes \d+-\d+ before seq 4: no hash field at byte \d+; orphan record \(duplicate seq 2\)/)
      assert.deepStrictEqual(fileBytes(dir), tampered)
      const report = reopened.verify()
      assert.isFalse(report.ok)
      assert.strictEqual(report.records, 5)
      reopened.catchUp()
      assert.strictEqual(reopened.append([rec("5")]).length, 1)
    }))

  it("a break in the middle opens read-only with a clear message; appends refused; nothing truncated", () =>
    withTempDir((dir) => {
      const log = open(dir)
      for (let i = 0; i < 9; i++) log.append([rec(`r${i + 2}`)]) // one command each
      const bytes = fileBytes(dir)
      const starts = lineOffsets(bytes)
      const at = starts[4] ?? 0 // seq 5
      for (const damage of ["flip", "delete"] as const) {
        const broken = damage === "flip"
          ? Buffer.from(bytes).fill(0x41, at + 30, at + 31)
          : Buffer.concat([bytes.subarray(0, at), bytes.subarray(starts[5] ?? 0)])
        NodeFs.writeFileSync(segmentPath(dir), broken)
        const opened = open(dir)
        const reason = opened.readOnlyReason() ?? ""
        assert.match(reason, new RegExp(`^event log is corrupt at byte ${at} \\(seq 5\\): record seq 6 at byte \\d+ .*; refusing to write; see plugin-ledger doctor$`), damage)
        assert.strictEqual(opened.records().length, 4, damage)
        assert.isUndefined(opened.openRepair)
        assert.include(throwsLogFileError(() => opened.append([rec("new")]), "ReadOnly").message, "refusing to write")
        assert.isFalse(opened.verify().ok)
        assert.deepStrictEqual(fileBytes(dir), broken, damage) // never repaired automatically
        assert.deepStrictEqual(NodeFs.readdirSync(dir).sort(), ["events"])
      }
    }))

  it("a record from a newer format makes the log read-only", () =>
    withTempDir((dir) => {
      const log = open(dir)
      const body = `{"v":2,"seq":2,"id":"future","prev":"${log.records()[0]?.h ?? ""}"`
      NodeFs.appendFileSync(segmentPath(dir), `${body},"h":"${hash128(body)}"}\n`)
      const reopened = open(dir)
      assert.match(reopened.readOnlyReason() ?? "", /format v2 at byte \d+ \(seq 2\), written by a newer plugin-ledger; refusing to write/)
      assert.strictEqual(throwsLogFileError(() => reopened.append([rec("x")]), "ReadOnly")._tag, "LogFileError")
      // the refresh of an already open instance reaches the same verdict
      assert.deepStrictEqual(log.refresh(), [])
      assert.isDefined(log.readOnlyReason())
    }))
})

describe("LogFile: the active segment held between commands", () => {
  /** nodeFs, recording the kind (and open flags) of every call */
  const counting = (): { readonly fs: FsPort; readonly calls: Array<string> } => {
    const calls: Array<string> = []
    const fs: FsPort = {
      ...nodeFs,
      openSync: (path, flags, mode) => {
        calls.push(`openSync ${flags}`)
        return nodeFs.openSync(path, flags, mode)
      },
      closeSync: (fd) => {
        calls.push("closeSync")
        nodeFs.closeSync(fd)
      },
      statSync: (path) => {
        calls.push("statSync")
        return nodeFs.statSync(path)
      },
      statIfExists: (path) => {
        calls.push("statIfExists")
        return nodeFs.statIfExists(path)
      },
      fstatSync: (fd) => {
        calls.push("fstatSync")
        return nodeFs.fstatSync(fd)
      },
      readdirSync: (path) => {
        calls.push("readdirSync")
        return nodeFs.readdirSync(path)
      },
      writeSync: (...args) => {
        calls.push("writeSync")
        return nodeFs.writeSync(...args)
      },
      fdatasyncSync: (fd) => {
        calls.push("fdatasyncSync")
        nodeFs.fdatasyncSync(fd)
      }
    }
    return { fs, calls }
  }
  const taken = (calls: Array<string>): Array<string> => calls.splice(0)

  it("nothing new costs two stats (no listing, no open); appends reuse one descriptor, opened again after a failure", () =>
    withTempDir((dir) => {
      const { fs, calls } = counting()
      let failWrite = false
      const log = open(dir, {
        ...fs,
        writeSync: (...args) => {
          if (failWrite) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
          return fs.writeSync(...args)
        }
      })
      log.catchUp()
      log.append([rec("a")])
      taken(calls)
      log.catchUp()
      assert.deepStrictEqual(taken(calls), ["statIfExists", "statIfExists"])
      assert.deepStrictEqual(log.refresh(), [])
      assert.deepStrictEqual(taken(calls), ["statIfExists", "statIfExists"])
      log.append([rec("b")])
      assert.deepStrictEqual(taken(calls), ["fstatSync", "writeSync", "fdatasyncSync", "statSync"])
      failWrite = true
      throwsLogFileError(() => log.append([rec("c")]), "Io")
      assert.include(taken(calls), "closeSync") // the descriptor is dropped
      failWrite = false
      log.catchUp()
      log.append([rec("c")])
      assert.deepStrictEqual(taken(calls), ["statIfExists", "statIfExists", "openSync a", "fstatSync", "writeSync", "fdatasyncSync", "statSync"])
      log.close()
      assert.deepStrictEqual(taken(calls), ["closeSync"])
      assert.deepStrictEqual(open(dir).records().map((r) => r.id).slice(1), ["a", "b", "c"])
    }))

  it("a segment another process started after the head (named by its first seq) is read, and appended to from then on", () =>
    withTempDir((dir) => {
      const log = open(dir)
      log.catchUp()
      log.append([rec("a")])
      const head = log.records().at(-1)
      const next = encodeRecord((head?.seq ?? 0) + 1, head?.h ?? "", rec("in-the-next-segment"))
      const nextPath = Path.join(dir, "events", segmentName((head?.seq ?? 0) + 1))
      NodeFs.writeFileSync(nextPath, next.line)
      const first = fileBytes(dir)
      assert.deepStrictEqual(log.refresh().map((r) => r.id), ["in-the-next-segment"])
      log.catchUp()
      log.append([rec("after")])
      assert.deepStrictEqual(fileBytes(dir), first, "the sealed segment is left as it was")
      assert.include(NodeFs.readFileSync(nextPath, "utf8"), `"id":"after"`)
      assert.deepStrictEqual(open(dir).verify(), { ok: true, records: 4, problems: [] })
    }))

  it("a segment replaced under the log (another inode at its path) is read again from its path; an append that did not see it is refused", () =>
    withTempDir((dir) => {
      const log = open(dir)
      log.catchUp()
      log.append([rec("a")])
      /** another file with the same bytes, renamed over the segment (a restore, a copy) */
      const replace = (): void => {
        const copy = `${segmentPath(dir)}.copy`
        NodeFs.copyFileSync(segmentPath(dir), copy)
        NodeFs.renameSync(copy, segmentPath(dir))
      }
      replace()
      log.catchUp()
      log.append([rec("b")])
      // written through the file now at the path, not the one renamed away (whose inode is gone with its name)
      assert.deepStrictEqual(open(dir).records().map((r) => r.id).slice(1), ["a", "b"])
      replace()
      const before = fileBytes(dir)
      assert.include(throwsLogFileError(() => log.append([rec("c")]), "Io").message, "no longer the file this process read")
      assert.deepStrictEqual(fileBytes(dir), before)
      log.catchUp()
      log.append([rec("c")])
      assert.deepStrictEqual(open(dir).records().map((r) => r.id).slice(1), ["a", "b", "c"])
      assert.isTrue(open(dir).verify().ok)
    }))
})
