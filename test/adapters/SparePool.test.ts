import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { sha256Hex } from "../../src/adapters/BlobStore.ts"
import { releaseLock, tryAcquireLock } from "../../src/adapters/FileLock.ts"
import { makeNodeLockHost } from "../../src/adapters/LockOwner.ts"
import { prepareTree } from "../../src/adapters/TreeStaging.ts"
import { makeSparePool } from "../../src/adapters/SparePool.ts"
import type { LoadedTree, TreeEntry } from "../../src/adapters/TreeBlob.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { trackFds } from "../support/TrackedFds.ts"
import { tempDirScoped } from "./fixtures/testkit.ts"

const ENTRIES = [
  { path: ".codex-plugin", mode: 0o755 },
  { path: ".codex-plugin/plugin.json", mode: 0o644, text: "{\"name\":\"p\"}\n" },
  { path: "README.md", mode: 0o644, text: "# p\n" },
  { path: "scripts", mode: 0o755 },
  { path: "scripts/run.sh", mode: 0o755, text: "#!/bin/sh\n" },
  { path: "private", mode: 0o700 },
  { path: "private/key", mode: 0o600, text: "k" },
  { path: "skills/alpha/SKILL.md", mode: 0o644, text: "---\nname: alpha\n---\n" }
]

const treeOf = (entries: typeof ENTRIES): LoadedTree => {
  const bytes = new Map(entries.flatMap((e) => (e.text === undefined ? [] : [[e.path, Buffer.from(e.text)] as const])))
  const manifest: ReadonlyArray<TreeEntry> = entries.map((e) => {
    const content = bytes.get(e.path)
    return content === undefined
      ? { path: e.path, type: "dir", mode: e.mode }
      : { path: e.path, type: "file", mode: e.mode, sha256: sha256Hex(content), size: content.length }
  })
  return { manifest: { format: 2, entries: manifest }, contentOf: (entry) => bytes.get(entry.path) ?? Buffer.alloc(0) }
}

/** the real fs, counting inode creations and failing the calls `fail` picks */
const instrumented = (fail: (call: string, path: string, flags?: string) => boolean = () => false) => {
  const created: Array<string> = []
  const guard = (call: string, path: string, flags?: string) => {
    if (fail(call, path, flags)) throw Object.assign(new Error(`EIO: injected, ${call} '${path}'`), { code: "EIO" })
  }
  const fs: TreeFs = {
    ...nodeTreeFs,
    mkdirSync: (path, options) => {
      guard("mkdir", path)
      created.push(path)
      nodeTreeFs.mkdirSync(path, options)
    },
    openSync: (path, flags, mode) => {
      guard("open", path, flags)
      if (flags.includes("x")) created.push(path)
      return nodeTreeFs.openSync(path, flags, mode)
    },
    renameSync: (from, to) => {
      guard("rename", from)
      nodeTreeFs.renameSync(from, to)
    }
  }
  return { fs, created }
}

const modeOf = (path: string): number => NodeFs.lstatSync(path).mode & 0o7777

/** the tree at `root` has exactly the entries' bytes and modes, and nothing else */
const assertTree = (root: string): void => {
  for (const entry of ENTRIES) {
    const path = Path.join(root, entry.path)
    assert.strictEqual(modeOf(path).toString(8), entry.mode.toString(8), entry.path)
    if (entry.text !== undefined) assert.strictEqual(NodeFs.readFileSync(path, "utf8"), entry.text, entry.path)
  }
  const listed = (dir: string): Array<string> =>
    NodeFs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
      const rel = Path.relative(root, Path.join(dir, d.name))
      return d.isDirectory() ? [rel, ...listed(Path.join(dir, d.name))] : [rel]
    })
  assert.deepStrictEqual(listed(root).sort(), [...ENTRIES.map((e) => e.path), "skills", "skills/alpha"].sort())
}

describe("SparePool", () => {
  it.effect("a tree built from spares has the same bytes and modes, and allocates no inode while it is built", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "ledger", "spare")
      NodeFs.mkdirSync(Path.dirname(spareDir))
      const { fs, created } = instrumented()
      const pool = makeSparePool(fs, spareDir, { dirs: 8, files: 6 })
      yield* pool.refill
      assert.strictEqual(NodeFs.readdirSync(spareDir).length, 14)
      created.length = 0
      const target = Path.join(dir, "cache", "market", "plugin")
      NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
      const prepared = prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool })
      // the staging dir, local/ and 5 dirs below it, 5 files: all spares
      assert.deepStrictEqual(created, [])
      assertTree(Path.join(prepared.staging, "local"))
      assert.strictEqual(NodeFs.readdirSync(spareDir).length, 14 - 12)
    }))

  it.effect("only the first refill makes the pool's dir; one removed by hand is made again by the refill after", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const { fs, created } = instrumented()
      const pool = makeSparePool(fs, spareDir, { dirs: 1, files: 1 })
      const madeDir = () => created.filter((path) => path === spareDir).length
      // given a first refill (which makes the dir), when spares are taken and the pool refilled
      yield* pool.refill
      assert.strictEqual(madeDir(), 1)
      const target = Path.join(dir, "taken")
      NodeFs.mkdirSync(target)
      assert.isDefined(pool.takeDir(Path.join(target, "d")))
      yield* pool.refill
      // then the refill does not try to make the dir again
      assert.strictEqual(madeDir(), 1)
      // when the dir is removed by hand, the next refill finds that out and the one after makes it again
      assert.isDefined(pool.takeDir(Path.join(target, "e")))
      NodeFs.rmSync(spareDir, { recursive: true, force: true })
      yield* pool.refill
      yield* pool.refill
      assert.strictEqual(madeDir(), 2)
      assert.isDefined(pool.takeDir(Path.join(target, "f")), "a spare again")
    }))

  it.effect("with too few spares, or none at all, the rest is created", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const target = Path.join(dir, "cache", "market", "plugin")
      NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
      const { fs, created } = instrumented()
      const pool = makeSparePool(fs, spareDir, { dirs: 2, files: 2 })
      const empty = prepareTree(fs, treeOf(ENTRIES), Path.join(Path.dirname(target), "other"), { under: "local", pool })
      assertTree(Path.join(empty.staging, "local"))
      yield* pool.refill
      created.length = 0
      const prepared = prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool })
      assertTree(Path.join(prepared.staging, "local"))
      // 7 directories and 5 files in all, 2 of each from spares
      assert.strictEqual(created.length, 12 - 4)
    }))

  it.effect("a spare that cannot be taken (gone, or the rename fails) leaves the inode to be created as before", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const target = Path.join(dir, "cache", "market", "plugin")
      NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
      let failing = true
      const { fs } = instrumented((call, path) => failing && call === "rename" && Path.basename(path).startsWith("f-"))
      const pool = makeSparePool(fs, spareDir, { dirs: 8, files: 6 })
      yield* pool.refill
      // removed behind the pool's back
      for (const name of NodeFs.readdirSync(spareDir)) if (name.startsWith("d-")) NodeFs.rmdirSync(Path.join(spareDir, name))
      const prepared = prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool })
      failing = false
      assertTree(Path.join(prepared.staging, "local"))
    }))

  it.effect("a taken spare that cannot be written fails the build like a failed creation: no staging dir left, no descriptor open", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const target = Path.join(dir, "cache", "market", "plugin")
      NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
      const tracked = trackFds()
      let writes = 0
      const fs: TreeFs = {
        ...tracked.fs,
        // the third file written fails (the first two stay open in the staging tree until it is discarded)
        writeSync: (fd, buffer, offset, length, position) => {
          if (++writes === 3) throw Object.assign(new Error("EIO: injected, write"), { code: "EIO" })
          return nodeTreeFs.writeSync(fd, buffer, offset, length, position)
        }
      }
      const pool = makeSparePool(fs, spareDir, { dirs: 8, files: 6 })
      yield* pool.refill
      const built = Result.try(() => prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool }))
      assert.isTrue(Result.isFailure(built))
      assert.deepStrictEqual(NodeFs.readdirSync(Path.dirname(target)), [])
      // the three taken are closed; the three still waiting are the pool's, until it is closed
      assert.strictEqual(tracked.open.size, 3)
      pool.close()
      assert.deepStrictEqual([...tracked.open.values()], [])
      assert.deepStrictEqual(tracked.strayCloses, [])
    }))

  it.effect("a spare file comes with the descriptor it was made with: taking it is one rename (a mode: one fchmod), no open, no close", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const calls: Array<string> = []
      const tracked = trackFds()
      const fs: TreeFs = {
        ...tracked.fs,
        openSync: (path, flags, mode) => {
          calls.push(`open ${flags}`)
          return tracked.fs.openSync(path, flags, mode)
        },
        closeSync: (fd) => {
          calls.push("close")
          tracked.fs.closeSync(fd)
        },
        renameSync: (from, to) => {
          calls.push("rename")
          nodeTreeFs.renameSync(from, to)
        },
        chmodSync: (path, mode) => {
          calls.push("chmod")
          nodeTreeFs.chmodSync(path, mode)
        },
        fchmodSync: (fd, mode) => {
          calls.push(`fchmod ${mode.toString(8)}`)
          nodeTreeFs.fchmodSync(fd, mode)
        }
      }
      const pool = makeSparePool(fs, Path.join(dir, "spare"), { dirs: 0, files: 2 })
      yield* pool.refill
      assert.deepStrictEqual(calls, ["open wx+", "open wx+"])
      const made = new Set(tracked.open.keys())
      calls.length = 0
      const held = pool.takeHeld(Path.join(dir, "held"))
      const fd = pool.takeFile(Path.join(dir, "secret"), 0o600)
      assert.deepStrictEqual(calls, ["rename", "rename", `fchmod ${(0o600 & ~(0o644 & ~(held?.mode ?? 0))).toString(8)}`])
      assert.isDefined(held)
      assert.isDefined(fd)
      if (held === undefined || fd === undefined) return
      // the very descriptors made by the refill, now at the new names
      assert.deepStrictEqual(new Set([held.fd, fd]), made)
      assert.strictEqual(NodeFs.fstatSync(held.fd).ino, NodeFs.statSync(Path.join(dir, "held")).ino)
      assert.strictEqual(NodeFs.fstatSync(fd).ino, NodeFs.statSync(Path.join(dir, "secret")).ino)
      NodeFs.writeSync(held.fd, "through the spare's fd")
      assert.strictEqual(NodeFs.readFileSync(Path.join(dir, "held"), "utf8"), "through the spare's fd")
      held.close()
      held.close()
      fs.closeSync(fd)
      assert.deepStrictEqual(calls.filter((call) => call === "close").length, 2, "a second close of a held file does nothing")
      assert.deepStrictEqual(tracked.strayCloses, [])
    }))

  it.effect("the pool holds at most its size in descriptors, waiting and held together; `close` closes the waiting ones", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const tracked = trackFds()
      const pool = makeSparePool(tracked.fs, spareDir, { dirs: 0, files: 3 })
      yield* pool.refill
      assert.strictEqual(tracked.open.size, 3)
      const first = pool.takeHeld(Path.join(dir, "a"))
      const second = pool.takeHeld(Path.join(dir, "b"))
      yield* pool.refill
      // one waiting, two held: full
      assert.strictEqual(tracked.open.size, 3)
      assert.strictEqual(NodeFs.readdirSync(spareDir).length, 1)
      first?.close()
      yield* pool.refill
      assert.strictEqual(tracked.open.size, 3)
      assert.strictEqual(NodeFs.readdirSync(spareDir).length, 2)
      pool.close()
      assert.deepStrictEqual([...tracked.open.keys()], second === undefined ? [] : [second.fd])
      assert.strictEqual(tracked.open.size, 1, "the held one stays open: it is its taker's to close")
      second?.close()
      assert.strictEqual(tracked.open.size, 0)
      // a closed pool makes no more, and has no file to give
      yield* pool.refill
      assert.strictEqual(tracked.open.size, 0)
      assert.isUndefined(pool.takeHeld(Path.join(dir, "c")))
      assert.deepStrictEqual(tracked.strayCloses, [])
    }))

  it.effect("a spare file whose rename fails is closed with it, or kept with its descriptor when only the target's dir is missing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const tracked = trackFds()
      let failing = true
      const fs: TreeFs = {
        ...tracked.fs,
        renameSync: (from, to) => {
          if (failing) throw Object.assign(new Error("EIO: injected, rename"), { code: "EIO" })
          nodeTreeFs.renameSync(from, to)
        }
      }
      const pool = makeSparePool(fs, spareDir, { dirs: 0, files: 2 })
      yield* pool.refill
      assert.isUndefined(pool.takeHeld(Path.join(dir, "a")))
      assert.strictEqual(tracked.open.size, 1, "the spare that could not be moved is closed")
      failing = false
      assert.isUndefined(pool.takeHeld(Path.join(dir, "missing", "b")))
      assert.strictEqual(tracked.open.size, 1, "ENOENT for the target: the spare is still good, and kept open")
      const taken = pool.takeHeld(Path.join(dir, "c"))
      assert.isDefined(taken)
      taken?.close()
      assert.strictEqual(tracked.open.size, 0)
      assert.deepStrictEqual(tracked.strayCloses, [])
    }))

  it.effect("a spare file taken with a mode has it (as open gives it) before anything is written, even 0444, and stays writable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const pool = makeSparePool(nodeTreeFs, spareDir, { dirs: 0, files: 2 })
      yield* pool.refill
      // what open gives these modes here (the umask)
      const probe = (mode: number): number => {
        const file = Path.join(dir, `probe-${mode.toString(8)}`)
        NodeFs.closeSync(NodeFs.openSync(file, "wx", mode))
        return modeOf(file)
      }
      for (const mode of [0o600, 0o444]) {
        const path = Path.join(dir, `taken-${mode.toString(8)}`)
        const fd = pool.takeFile(path, mode)
        assert.isDefined(fd)
        if (fd === undefined) return
        assert.strictEqual(modeOf(path).toString(8), probe(mode).toString(8))
        NodeFs.writeSync(fd, "secret")
        NodeFs.closeSync(fd)
        assert.strictEqual(NodeFs.readFileSync(path, "utf8"), "secret")
      }
      assert.isUndefined(pool.takeFile(Path.join(dir, "none"), 0o600))
    }))

  it.effect("the ledger lock's temp file can be a spare: the lock holds the full owner record, and is released as before", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const { fs, created } = instrumented()
      const pool = makeSparePool(fs, Path.join(dir, "spare"), { dirs: 0, files: 1 })
      yield* pool.refill
      created.length = 0
      const attempt = tryAcquireLock(fs, dir, makeNodeLockHost(), pool.takeFile)
      assert.strictEqual(attempt._tag, "Acquired")
      if (attempt._tag !== "Acquired") return
      assert.deepStrictEqual(created, [])
      assert.strictEqual(NodeFs.readFileSync(Path.join(dir, "lock"), "utf8"), attempt.lock.content)
      assert.include(attempt.lock.content, `"pid":${process.pid},`)
      assert.deepStrictEqual(NodeFs.readdirSync(dir).sort(), ["lock", "spare"])
      assert.isTrue(releaseLock(fs, attempt.lock))
      assert.deepStrictEqual(NodeFs.readdirSync(dir), ["spare"])
    }))

  it.effect("the first refill removes the spares of processes that are gone and keeps those of running ones", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      NodeFs.mkdirSync(spareDir)
      // pid 2^22 + 1 is above Linux's pid_max limit: never a running process
      const dead = ["d-4194305-000000000001", "f-4194305-000000000002"]
      const alive = `f-${process.ppid}-000000000003`
      NodeFs.mkdirSync(Path.join(spareDir, dead[0] ?? ""))
      for (const name of [dead[1] ?? "", alive]) NodeFs.writeFileSync(Path.join(spareDir, name), "")
      const pool = makeSparePool(nodeTreeFs, spareDir, { dirs: 1, files: 1 })
      yield* pool.refill
      const names = NodeFs.readdirSync(spareDir)
      assert.isTrue(names.includes(alive))
      for (const name of dead) assert.isFalse(names.includes(name), name)
      assert.strictEqual(names.length, 3)
    }))
})
