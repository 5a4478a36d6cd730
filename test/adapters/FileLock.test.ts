import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { disposeKept, makeKeptLockFile, releaseLock, stillHeld, tryAcquireLock } from "../../src/adapters/FileLock.ts"
import { acquireLock } from "../../src/adapters/LockAcquisition.ts"
import {
  isStale,
  type LockHost,
  type LockOwner,
  makeNodeLockHost,
  parseProcStatStartTime
} from "../../src/adapters/LockOwner.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { deadPid, tempDirScoped } from "./fixtures/testkit.ts"

const host = makeNodeLockHost()
const ownerOf = (pid: number, overrides: Partial<LockOwner> = {}): LockOwner => ({
  pid,
  host: host.hostname,
  bootId: host.bootId ?? null,
  startTime: host.startTimeOf(pid) ?? null,
  nonce: `nonce-${pid}`,
  ...overrides
})
const writeLock = (dir: string, owner: LockOwner): void => NodeFs.writeFileSync(Path.join(dir, "lock"), JSON.stringify(owner))
const readLock = (dir: string): unknown => JSON.parse(NodeFs.readFileSync(Path.join(dir, "lock"), "utf8"))
const lockFiles = (dir: string): Array<string> => NodeFs.readdirSync(dir).filter((n) => n.startsWith("lock")).sort()

describe("FileLock", () => {
  it("parses the start time from /proc/<pid>/stat even with ') ' in the command name", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3))
    assert.strictEqual(parseProcStatStartTime(`123 (a) b (c) ${fields.join(" ")}`), "22")
    assert.strictEqual(parseProcStatStartTime("garbage"), undefined)
  })

  it.effect("acquire writes complete owner content via link(); release removes it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const lock = yield* acquireLock({ fs: nodeFs, dir, host })
      const content = readLock(dir)
      assert.deepStrictEqual(content, lock.owner)
      assert.strictEqual(lock.owner.pid, process.pid)
      assert.strictEqual(lock.owner.host, host.hostname)
      if (process.platform === "linux") {
        assert.match(lock.owner.bootId ?? "", /^[0-9a-f-]{36}$/)
        assert.match(lock.owner.startTime ?? "", /^\d+$/)
      }
      assert.deepStrictEqual(lockFiles(dir), ["lock"]) // the temp file is gone
      assert.isTrue(releaseLock(nodeFs, lock))
      assert.deepStrictEqual(lockFiles(dir), [])
    }))

  it.effect("release leaves a lock that is no longer ours alone", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const lock = yield* acquireLock({ fs: nodeFs, dir, host })
      writeLock(dir, ownerOf(process.ppid))
      assert.isFalse(releaseLock(nodeFs, lock))
      assert.deepStrictEqual(lockFiles(dir), ["lock"])
    }))

  it.live("a live holder blocks until the timeout, with a typed 'locked by pid/host' error", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const live = ownerOf(process.ppid) // the vitest parent process: alive, not us
      writeLock(dir, live)
      const started = Date.now()
      const error = yield* Effect.flip(acquireLock({ fs: nodeFs, dir, host, timeoutMs: 300 }))
      const waited = Date.now() - started
      assert.strictEqual(error.reason, "Locked")
      assert.include(error.message, `ledger is locked by pid ${process.ppid} on host ${host.hostname}`)
      assert.isAtLeast(waited, 290)
      assert.isBelow(waited, 2_000)
      assert.deepStrictEqual(readLock(dir), live) // untouched
      assert.deepStrictEqual(lockFiles(dir), ["lock"])
    }))

  it.live("another live instance in this same process also blocks (same pid, same start time)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const first = yield* acquireLock({ fs: nodeFs, dir, host })
      const error = yield* Effect.flip(acquireLock({ fs: nodeFs, dir, host, timeoutMs: 100 }))
      assert.include(error.message, `ledger is locked by pid ${process.pid}`)
      assert.isTrue(releaseLock(nodeFs, first))
    }))

  it.live("never stale by age: an ancient lock of a live pid still blocks", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      writeLock(dir, ownerOf(process.ppid))
      NodeFs.utimesSync(Path.join(dir, "lock"), new Date(0), new Date(0))
      const error = yield* Effect.flip(acquireLock({ fs: nodeFs, dir, host, timeoutMs: 100 }))
      assert.strictEqual(error.reason, "Locked")
    }))

  it.live("a lock naming a dead pid is taken over (rename + re-check), leaving no debris", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const pid = yield* Effect.promise(() => deadPid())
      writeLock(dir, ownerOf(pid, { startTime: "12345" }))
      const started = Date.now()
      const lock = yield* acquireLock({ fs: nodeFs, dir, host, timeoutMs: 2_000 })
      assert.isBelow(Date.now() - started, 500)
      assert.deepStrictEqual(readLock(dir), lock.owner)
      assert.deepStrictEqual(lockFiles(dir), ["lock"])
    }))

  it("staleness rules: pid reuse and reboot are stale; other hosts never are", () => {
    const fake = (alive: boolean, startTime: string | undefined, bootId = "boot-a"): LockHost => ({
      pid: 1,
      hostname: "here",
      bootId,
      startTimeOf: () => startTime,
      isAlive: () => alive,
      bootTimeMs: () => 0
    })
    const owner: LockOwner = { pid: 42, host: "here", bootId: "boot-a", startTime: "100", nonce: "n" }
    assert.isFalse(isStale(owner, fake(true, "100")), "live, same start time")
    assert.isTrue(isStale(owner, fake(false, undefined)), "dead pid")
    assert.isTrue(isStale(owner, fake(true, "200")), "pid reused by a newer process")
    assert.isTrue(isStale(owner, fake(true, "100", "boot-b")), "written before a reboot")
    assert.isFalse(isStale({ ...owner, host: "elsewhere" }, fake(false, undefined, "boot-b")), "other host: never")
    assert.isFalse(isStale({ ...owner, startTime: null, bootId: null }, fake(true, undefined)), "live, no /proc info")
  })

  it.live("same pid with a different start time (pid reuse) is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      if (host.startTimeOf(process.ppid) === undefined) return // no /proc on this platform
      writeLock(dir, ownerOf(process.ppid, { startTime: "1" }))
      const lock = yield* acquireLock({ fs: nodeFs, dir, host, timeoutMs: 1_000 })
      assert.deepStrictEqual(readLock(dir), lock.owner)
    }))

  it.live("a dead pid on another host is never taken over", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const pid = yield* Effect.promise(() => deadPid())
      writeLock(dir, ownerOf(pid, { host: "some-other-host" }))
      const error = yield* Effect.flip(acquireLock({ fs: nodeFs, dir, host, timeoutMs: 100 }))
      assert.include(error.message, `ledger is locked by pid ${pid} on host some-other-host`)
    }))

  it.live("an unreadable (empty) lock blocks unless it predates this boot", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const path = Path.join(dir, "lock")
      NodeFs.writeFileSync(path, "")
      const error = yield* Effect.flip(acquireLock({ fs: nodeFs, dir, host, timeoutMs: 100 }))
      assert.include(error.message, "is unreadable (empty lock file)")
      NodeFs.utimesSync(path, new Date(0), new Date(0)) // a power loss before the last boot
      const lock = yield* acquireLock({ fs: nodeFs, dir, host, timeoutMs: 1_000 })
      assert.deepStrictEqual(readLock(dir), lock.owner)
    }))

  it.live("orphaned lock.tmp.* files of dead pids are removed at acquire; live ones are kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const pid = yield* Effect.promise(() => deadPid())
      const dead = Path.join(dir, `lock.tmp.${pid}.aaaa`)
      NodeFs.writeFileSync(dead, JSON.stringify(ownerOf(pid, { nonce: "aaaa" })))
      const deadEmpty = Path.join(dir, `lock.tmp.${pid}.bbbb`)
      NodeFs.writeFileSync(deadEmpty, "") // killed between open and write
      const liveTmp = Path.join(dir, `lock.tmp.${process.ppid}.cccc`)
      NodeFs.writeFileSync(liveTmp, JSON.stringify(ownerOf(process.ppid, { nonce: "cccc" })))
      const lock = yield* acquireLock({ fs: nodeFs, dir, host })
      assert.deepStrictEqual(lockFiles(dir), ["lock", `lock.tmp.${process.ppid}.cccc`])
      assert.isTrue(releaseLock(nodeFs, lock))
    }))

  it.live("sweepOrphans: false leaves orphans while the lock is free, and removes them before waiting when it is busy", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const pid = yield* Effect.promise(() => deadPid())
      const orphan = `lock.tmp.${pid}.aaaa`
      const plant = () => NodeFs.writeFileSync(Path.join(dir, orphan), JSON.stringify(ownerOf(pid, { nonce: "aaaa" })))
      plant()
      const free = yield* acquireLock({ fs: nodeFs, dir, host, sweepOrphans: false })
      assert.deepStrictEqual(lockFiles(dir), ["lock", orphan])
      assert.isTrue(releaseLock(nodeFs, free))
      writeLock(dir, ownerOf(process.ppid))
      const error = yield* Effect.flip(acquireLock({ fs: nodeFs, dir, host, timeoutMs: 50, sweepOrphans: false }))
      assert.strictEqual(error.reason, "Locked")
      assert.deepStrictEqual(lockFiles(dir), ["lock"])
    }))

  it.effect("a kept temp file is linked again for each acquisition: one inode, its complete content, one call to take the lock", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const calls: Array<string> = []
      const fs = {
        ...nodeFs,
        writeSync: (...args: Parameters<typeof nodeFs.writeSync>) => {
          calls.push("writeSync")
          return nodeFs.writeSync(...args)
        },
        fstatSync: (fd: number) => {
          calls.push("fstatSync")
          return nodeFs.fstatSync(fd)
        },
        linkSync: (existing: string, to: string) => {
          calls.push("linkSync")
          nodeFs.linkSync(existing, to)
        }
      }
      const kept = makeKeptLockFile()
      const first = yield* acquireLock({ fs, dir, host, kept, sweepOrphans: false })
      const [tmp] = lockFiles(dir).filter((name) => name !== "lock")
      assert.match(tmp ?? "", new RegExp(`^lock\\.tmp\\.${process.pid}\\.`))
      const ino = NodeFs.statSync(Path.join(dir, "lock")).ino
      assert.isTrue(releaseLock(fs, first))
      assert.deepStrictEqual(lockFiles(dir), [tmp], "after the release only the kept temp file is left")
      calls.length = 0
      const second = yield* acquireLock({ fs, dir, host, kept, sweepOrphans: false })
      assert.deepStrictEqual(calls, ["linkSync"])
      assert.strictEqual(second.content, first.content, "the holder's record, nonce included")
      assert.strictEqual(NodeFs.readFileSync(Path.join(dir, "lock"), "utf8"), second.content)
      assert.strictEqual(NodeFs.statSync(Path.join(dir, "lock")).ino, ino, "the same file")
      assert.isTrue(releaseLock(fs, second))
      // removed under us between two acquisitions: a new one is made
      NodeFs.unlinkSync(Path.join(dir, tmp ?? ""))
      const third = yield* acquireLock({ fs, dir, host, kept, sweepOrphans: false })
      assert.strictEqual(NodeFs.readFileSync(Path.join(dir, "lock"), "utf8"), third.content)
      assert.isTrue(releaseLock(fs, third))
      disposeKept(fs, kept)
      assert.deepStrictEqual(lockFiles(dir), [])
    }))

  it.effect("a release whose unlink failed leaves our kept file as the lock: the next acquisition takes it instead of waiting for itself", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      let failUnlink = true
      const fs = {
        ...nodeFs,
        unlinkSync: (path: string) => {
          if (failUnlink && path === Path.join(dir, "lock")) throw Object.assign(new Error("EIO: i/o error, unlink"), { code: "EIO" })
          nodeFs.unlinkSync(path)
        }
      }
      const kept = makeKeptLockFile()
      const first = yield* acquireLock({ fs, dir, host, kept, sweepOrphans: false })
      assert.throws(() => releaseLock(fs, first), /EIO/)
      assert.isTrue(NodeFs.existsSync(Path.join(dir, "lock")), "still linked")
      failUnlink = false
      // a short timeout: waiting for ourselves would fail with Locked
      const second = yield* acquireLock({ fs, dir, host, kept, sweepOrphans: false, timeoutMs: 300 })
      assert.strictEqual(second.content, first.content)
      assert.isTrue(releaseLock(fs, second))
      assert.isFalse(NodeFs.existsSync(Path.join(dir, "lock")))
      disposeKept(fs, kept)
      assert.deepStrictEqual(lockFiles(dir), [])
    }))

  it.live("a kept temp file is no orphan while its holder lives; once the holder is dead, the next sweep removes it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const pid = yield* Effect.promise(() => deadPid())
      for (const [holder, alive] of [[process.ppid, true], [pid, false]] as const) {
        const holderHost: LockHost = { ...host, pid: holder, startTimeOf: () => undefined }
        const kept = makeKeptLockFile()
        assert.isTrue(releaseLock(nodeFs, yield* acquireLock({ fs: nodeFs, dir, host: holderHost, kept, sweepOrphans: false })))
        const lock = yield* acquireLock({ fs: nodeFs, dir, host })
        assert.strictEqual(lockFiles(dir).some((name) => name.startsWith(`lock.tmp.${holder}.`)), alive)
        assert.isTrue(releaseLock(nodeFs, lock))
        disposeKept(nodeFs, kept)
      }
    }))

  it.effect("release checks the lock is still the file this holder linked: another file, even with the same content, is not ours", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const path = Path.join(dir, "lock")
      /** another file renamed over `lock` (what any other holder's link, or a restore, puts there) */
      const replaceWith = (content: string): void => {
        NodeFs.writeFileSync(`${path}.other`, content)
        NodeFs.renameSync(`${path}.other`, path)
      }
      for (const other of ["same", "other nonce", "torn"] as const) {
        const lock = yield* acquireLock({ fs: nodeFs, dir, host })
        assert.strictEqual(NodeFs.readFileSync(path, "utf8"), lock.content)
        assert.isTrue(stillHeld(nodeFs, lock))
        replaceWith(
          other === "same" ? lock.content : other === "torn" ? lock.content.slice(0, 20) : JSON.stringify({ ...lock.owner, nonce: "other" })
        )
        assert.isFalse(stillHeld(nodeFs, lock), other)
        assert.isFalse(releaseLock(nodeFs, lock), other)
        assert.isTrue(NodeFs.existsSync(path), other)
        assert.isFalse(releaseLock(nodeFs, lock), `${other}: a second release changes nothing`)
        NodeFs.unlinkSync(path)
      }
      // a rewrite in place to another length is not ours either
      const rewritten = yield* acquireLock({ fs: nodeFs, dir, host })
      NodeFs.writeFileSync(path, `${rewritten.content} `)
      assert.isFalse(releaseLock(nodeFs, rewritten))
      NodeFs.unlinkSync(path)
      // gone: not ours; our own file linked back (a takeover that found it live and restored it): ours
      const lock = yield* acquireLock({ fs: nodeFs, dir, host })
      NodeFs.linkSync(path, `${path}.saved`)
      NodeFs.unlinkSync(path)
      assert.isFalse(stillHeld(nodeFs, lock))
      NodeFs.linkSync(`${path}.saved`, path)
      NodeFs.unlinkSync(`${path}.saved`)
      assert.isTrue(releaseLock(nodeFs, lock))
      assert.isFalse(NodeFs.existsSync(path))
    }))

  it("a takeover that finds a different (live) lock after the rename puts it back", () => {
    // simulate: between our read of a dead owner's lock and our rename, a live process took it
    const dir = NodeFs.mkdtempSync("/tmp/ledger-lock-race-")
    try {
      const stale = ownerOf(999_999_999, { nonce: "dead" })
      const live = ownerOf(process.ppid, { nonce: "live" })
      writeLock(dir, stale)
      let swapped = false
      const fs = {
        ...nodeFs,
        renameSync: (from: string, to: string) => {
          if (!swapped && Path.basename(from) === "lock") {
            swapped = true
            writeLock(dir, live)
          }
          nodeFs.renameSync(from, to)
        }
      }
      const fakeHost: LockHost = { ...host, isAlive: (pid) => pid !== 999_999_999 && host.isAlive(pid) }
      const attempt = tryAcquireLock(fs, dir, fakeHost)
      assert.strictEqual(attempt._tag, "Busy")
      assert.deepStrictEqual(readLock(dir), live)
      assert.deepStrictEqual(lockFiles(dir), ["lock"])
    } finally {
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
