import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { sha256Hex } from "../../src/adapters/BlobStore.ts"
import { makeNodeLockHost, releaseLock, tryAcquireLock } from "../../src/adapters/FileLock.ts"
import { prepareTree } from "../../src/adapters/PluginTree.ts"
import { makeSparePool } from "../../src/adapters/SparePool.ts"
import type { LoadedTree, TreeEntry } from "../../src/adapters/TreeBlob.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
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
      const prepared = yield* prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool })
      // the staging dir, local/ and 5 dirs below it, 5 files: all spares
      assert.deepStrictEqual(created, [])
      assertTree(Path.join(prepared.staging, "local"))
      assert.strictEqual(NodeFs.readdirSync(spareDir).length, 14 - 12)
    }))

  it.effect("with too few spares, or none at all, the rest is created", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const target = Path.join(dir, "cache", "market", "plugin")
      NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
      const { fs, created } = instrumented()
      const pool = makeSparePool(fs, spareDir, { dirs: 2, files: 2 })
      const empty = yield* prepareTree(fs, treeOf(ENTRIES), Path.join(Path.dirname(target), "other"), { under: "local", pool })
      assertTree(Path.join(empty.staging, "local"))
      yield* pool.refill
      created.length = 0
      const prepared = yield* prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool })
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
      const prepared = yield* prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool })
      failing = false
      assertTree(Path.join(prepared.staging, "local"))
    }))

  it.effect("a taken spare that cannot be opened fails the build like a failed creation, and leaves no staging dir", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const spareDir = Path.join(dir, "spare")
      const target = Path.join(dir, "cache", "market", "plugin")
      NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
      const { fs } = instrumented((call, _path, flags) => call === "open" && flags === "r+")
      const pool = makeSparePool(fs, spareDir, { dirs: 8, files: 6 })
      yield* pool.refill
      const exit = yield* Effect.exit(prepareTree(fs, treeOf(ENTRIES), target, { under: "local", pool }))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(NodeFs.readdirSync(Path.dirname(target)), [])
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
