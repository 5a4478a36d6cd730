import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeBlobStore, sha256Hex } from "../../src/adapters/BlobStore.ts"
import { materialize } from "../../src/adapters/PluginTree.ts"
import { discardPrepared, prepareTree } from "../../src/adapters/TreeStaging.ts"
import { makeSparePool } from "../../src/adapters/SparePool.ts"
import type { LoadedTree, TreeEntry } from "../../src/adapters/TreeBlob.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { trackFds } from "../support/TrackedFds.ts"
import { tempDirScoped } from "./fixtures/testkit.ts"

/** A tree held in memory, as `readSource` hands it to `prepareTree`. */
const treeOf = (entries: ReadonlyArray<{ readonly path: string; readonly mode: number; readonly text?: string }>): LoadedTree => {
  const bytes = new Map(entries.filter((e) => e.text !== undefined).map((e) => [e.path, Buffer.from(e.text ?? "")]))
  const manifest: ReadonlyArray<TreeEntry> = entries.map((e) => {
    const content = bytes.get(e.path)
    return content === undefined
      ? { path: e.path, type: "dir", mode: e.mode }
      : { path: e.path, type: "file", mode: e.mode, sha256: sha256Hex(content), size: content.length }
  })
  return { manifest: { format: 2, entries: manifest }, contentOf: (entry) => bytes.get(entry.path) ?? Buffer.alloc(0) }
}

const counting = () => {
  const chmods: Array<string> = []
  const fchmods: Array<string> = []
  const fstats: Array<number> = []
  const fs: TreeFs = {
    ...nodeTreeFs,
    chmodSync: (path, mode) => {
      chmods.push(`${Path.basename(path)} ${mode.toString(8)}`)
      nodeTreeFs.chmodSync(path, mode)
    },
    fchmodSync: (fd, mode) => {
      // the file the descriptor is open on, by its name now (Linux's /proc)
      fchmods.push(`${Path.basename(NodeFs.readlinkSync(`/proc/self/fd/${fd}`))} ${mode.toString(8)}`)
      nodeTreeFs.fchmodSync(fd, mode)
    },
    fstatSync: (fd) => {
      fstats.push(fd)
      return nodeTreeFs.fstatSync(fd)
    }
  }
  return { fs, chmods, fchmods, fstats }
}

const modeOf = (path: string): number => NodeFs.lstatSync(path).mode & 0o7777

describe("PluginTree", () => {
  it.effect("every file and directory gets its recorded mode, chmodded only where creation did not give it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const probe = Path.join(dir, "probe")
      NodeFs.mkdirSync(probe)
      // what mkdir and open give here (the process's umask, or a default ACL), to know which chmods are due
      const dirDefault = modeOf(probe)
      const fileGives = (mode: number): number => {
        const file = Path.join(probe, `f${mode.toString(8)}`)
        NodeFs.closeSync(NodeFs.openSync(file, "wx", mode))
        return modeOf(file)
      }
      const entries = [
        { path: "README.md", mode: 0o644, text: "# p\n" },
        { path: "bin", mode: 0o755 },
        { path: "bin/run.sh", mode: 0o755, text: "#!/bin/sh\n" },
        { path: "bin/all.sh", mode: 0o777, text: "#!/bin/sh\n" },
        { path: "private", mode: 0o700 },
        { path: "private/key", mode: 0o600, text: "k" },
        { path: "sealed", mode: 0o555 },
        { path: "sealed/notes.txt", mode: 0o444, text: "n" },
        { path: "shared.txt", mode: 0o666, text: "s" }
      ]
      const expected = entries
        .filter((e) => e.text === undefined ? e.mode !== dirDefault : fileGives(e.mode) !== e.mode)
        .map((e) => `${Path.basename(e.path)} ${e.mode.toString(8)}`)
        .sort()
      const { fs, chmods } = counting()
      const target = Path.join(dir, "cache", "market", "plugin")
      const tree = treeOf(entries)
      const prepared = prepareTree(fs, tree, target, { under: "local" })
      yield* materialize(fs, makeBlobStore(fs, Path.join(dir, "blobs")), "unused", target, { under: "local", prepared })
      for (const entry of entries) {
        assert.strictEqual(modeOf(Path.join(target, "local", entry.path)).toString(8), entry.mode.toString(8), entry.path)
        if (entry.text !== undefined) assert.strictEqual(NodeFs.readFileSync(Path.join(target, "local", entry.path), "utf8"), entry.text)
      }
      assert.deepStrictEqual([...chmods].sort(), expected)
      // under the usual umask (022) the common modes need none: 0o777 and 0o666 files, 0o700 and 0o555 dirs do
      if (dirDefault === 0o755) assert.deepStrictEqual(expected, ["all.sh 777", "private 700", "sealed 555", "shared.txt 666"])
    }))

  it.effect("a file's mode is read back once per mode asked for, and never for a spare (the pool knows it): chmods as before", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const probe = Path.join(dir, "probe")
      NodeFs.mkdirSync(probe)
      const fileGives = (mode: number): number => {
        const file = Path.join(probe, `f${mode.toString(8)}`)
        NodeFs.closeSync(NodeFs.openSync(file, "wx", mode))
        const given = modeOf(file)
        NodeFs.unlinkSync(file)
        return given
      }
      const entries = [
        { path: "a.md", mode: 0o644, text: "a" },
        { path: "bin/one.sh", mode: 0o755, text: "1" },
        { path: "bin/two.sh", mode: 0o755, text: "2" },
        { path: "deep/er/b.md", mode: 0o644, text: "b" },
        { path: "deep/er/shared", mode: 0o666, text: "s" },
        { path: "deep/shared", mode: 0o666, text: "s" },
        { path: "z.md", mode: 0o644, text: "z" }
      ]
      const chmodsDue = (gives: (mode: number) => number) =>
        entries.filter((e) => gives(e.mode) !== e.mode).map((e) => `${Path.basename(e.path)} ${e.mode.toString(8)}`).sort()
      const check = (root: string) => {
        for (const entry of entries) {
          assert.strictEqual(modeOf(Path.join(root, entry.path)).toString(8), entry.mode.toString(8), entry.path)
          assert.strictEqual(NodeFs.readFileSync(Path.join(root, entry.path), "utf8"), entry.text)
        }
      }

      // created: one fstat per mode (644, 755, 666), whatever the directory
      const created = counting()
      const prepared = prepareTree(created.fs, treeOf(entries), Path.join(dir, "cache", "m", "created"), { under: "local" })
      check(Path.join(prepared.staging, "local"))
      assert.strictEqual(created.fstats.length, 3)
      assert.deepStrictEqual([...created.chmods].sort(), chmodsDue(fileGives))

      // from spares: no fstat at all; a file is chmodded (through its descriptor) where the spares' mode (0644 as open
      // gave it) is not its own
      const spared = counting()
      const pool = makeSparePool(spared.fs, Path.join(dir, "spare"), { dirs: 8, files: 8 })
      yield* pool.refill
      spared.fstats.length = 0
      const fromSpares = prepareTree(spared.fs, treeOf(entries), Path.join(dir, "cache", "m", "spared"), { under: "local", pool })
      check(Path.join(fromSpares.staging, "local"))
      assert.deepStrictEqual(spared.fstats, [])
      const spareMode = fileGives(0o644)
      assert.deepStrictEqual([...spared.chmods].filter((c) => /\.md|\.sh|shared/.test(c)), [])
      assert.deepStrictEqual([...spared.fchmods].sort(), chmodsDue(() => spareMode))
    }))

  it.effect("a marketplace's first tree: its missing cache dir is found out before any take or mkdir fails there", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      NodeFs.mkdirSync(Path.join(dir, "cache"))
      const failed: Array<string> = []
      const looked: Array<string> = []
      const recorded = <A extends ReadonlyArray<unknown>, R>(name: string, call: (path: string, ...rest: A) => R) =>
        (path: string, ...rest: A): R => {
          try {
            return call(path, ...rest)
          } catch (error) {
            failed.push(`${name} ${Path.relative(dir, path)}`)
            throw error
          }
        }
      const fs: TreeFs = {
        ...nodeTreeFs,
        renameSync: recorded("rename", nodeTreeFs.renameSync),
        mkdirSync: recorded("mkdir", nodeTreeFs.mkdirSync),
        lstatIfExists: (path) => {
          looked.push(Path.relative(dir, path))
          return nodeTreeFs.lstatIfExists(path)
        }
      }
      const pool = makeSparePool(fs, Path.join(dir, "spare"), { dirs: 8, files: 8 })
      yield* pool.refill
      const knownParents = new Set<string>()
      const entries = [{ path: "a.md", mode: 0o644, text: "a" }, { path: "sub", mode: 0o755 }, { path: "sub/b.md", mode: 0o644, text: "b" }]

      // given no cache dir for marketplace m, when its first tree is prepared
      const first = prepareTree(fs, treeOf(entries), Path.join(dir, "cache", "m", "one"), { under: "local", pool, knownParents })
      // then the dir was looked at once, nothing failed, and it is known from then on
      assert.deepStrictEqual(looked, [Path.join("cache", "m")])
      assert.deepStrictEqual(failed, [])
      assert.strictEqual(NodeFs.readFileSync(Path.join(first.staging, "local", "sub", "b.md"), "utf8"), "b")
      assert.deepStrictEqual(first.created, [Path.join(dir, "cache", "m")])
      assert.isTrue(knownParents.has(Path.join(dir, "cache", "m")))

      // when the next tree of m is prepared, the dir is not looked at again
      const second = prepareTree(fs, treeOf(entries), Path.join(dir, "cache", "m", "two"), { under: "local", pool, knownParents })
      assert.deepStrictEqual(looked, [Path.join("cache", "m")])
      assert.deepStrictEqual(failed, [])
      assert.deepStrictEqual(second.created, [])

      // when m's cache dir was removed since (by hand), the build fails over to making it, as before
      discardPrepared(fs, first)
      discardPrepared(fs, second)
      NodeFs.rmSync(Path.join(dir, "cache", "m"), { recursive: true, force: true })
      const third = prepareTree(fs, treeOf(entries), Path.join(dir, "cache", "m", "three"), { under: "local", pool, knownParents })
      assert.strictEqual(NodeFs.readFileSync(Path.join(third.staging, "local", "a.md"), "utf8"), "a")
      assert.isTrue(failed.length > 0, "the take into the removed dir failed and was recovered from")
    }))

  it.effect("what makes a swapped-in tree durable names every file and directory of it, its target and that dir's parent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const target = Path.join(dir, "cache", "market", "plugin")
      // `deep/er` is not listed: its directory exists all the same
      const tree = treeOf([
        { path: "a.txt", mode: 0o644, text: "a" },
        { path: "sub", mode: 0o755 },
        { path: "sub/b.txt", mode: 0o644, text: "b" },
        { path: "deep/er/c.txt", mode: 0o644, text: "c" }
      ])
      const prepared = prepareTree(nodeTreeFs, tree, target, { under: "local" })
      const durability = yield* materialize(nodeTreeFs, makeBlobStore(nodeTreeFs, Path.join(dir, "blobs")), "unused", target, {
        under: "local",
        prepared
      })
      const root = Path.join(target, "local")
      const files = ["a.txt", "sub/b.txt", "deep/er/c.txt"].map((f) => Path.join(root, f))
      const dirs = [Path.dirname(target), target, root, ...["sub", "deep/er", "deep"].map((d) => Path.join(root, d))]
      assert.deepStrictEqual([...durability.files].sort(), [...files].sort())
      assert.deepStrictEqual([...durability.dirs].sort(), [...dirs].sort())
      // asked again (the settle reads them more than once): the same lists
      assert.deepStrictEqual([...durability.files].sort(), [...files].sort())
      for (const path of [...durability.files, ...durability.dirs]) assert.isTrue(NodeFs.existsSync(path), path)
    }))

  it.effect("a tree from spares keeps their descriptors, written through and never reopened, until it is discarded or its durability closed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const entries = [
        { path: "a.md", mode: 0o644, text: "a" },
        { path: "bin/run.sh", mode: 0o755, text: "#!/bin/sh\n" },
        { path: "deep/er/b.md", mode: 0o644, text: "b" }
      ]
      const tracked = trackFds()
      const pool = makeSparePool(tracked.fs, Path.join(dir, "spare"), { dirs: 8, files: 8 })
      yield* pool.refill
      const made = new Set(tracked.open.keys())
      tracked.opens.length = 0
      const blobs = makeBlobStore(tracked.fs, Path.join(dir, "blobs"))

      // discarded: every descriptor it took is closed, the pool's others stay open
      const discarded = prepareTree(tracked.fs, treeOf(entries), Path.join(dir, "cache", "m", "gone"), { under: "local", pool })
      assert.deepStrictEqual(tracked.opens, [], "no file opened: the spares' descriptors are written through")
      assert.strictEqual(discarded.held.size, 3)
      discardPrepared(tracked.fs, discarded)
      assert.strictEqual(tracked.open.size, made.size - 3)
      for (const file of discarded.held.values()) assert.isFalse(tracked.open.has(file.fd))

      // swapped in: the durability holds them, at their paths below the target, until it is closed
      const target = Path.join(dir, "cache", "m", "kept")
      const prepared = prepareTree(tracked.fs, treeOf(entries), target, { under: "local", pool })
      const durability = yield* materialize(tracked.fs, blobs, "unused", target, { under: "local", prepared })
      assert.deepStrictEqual([...durability.held.keys()].sort(), entries.map((e) => Path.join(target, "local", e.path)).sort())
      for (const [path, file] of durability.held) {
        assert.isTrue(made.has(file.fd))
        assert.strictEqual(NodeFs.fstatSync(file.fd).ino, NodeFs.statSync(path).ino, path)
      }
      assert.strictEqual(tracked.open.size, made.size - 3)
      durability.close()
      assert.strictEqual(tracked.open.size, made.size - 6)

      // a swap that fails closes them too
      yield* pool.refill
      const failing: TreeFs = {
        ...tracked.fs,
        renameSync: (from, to) => {
          if (Path.basename(from).startsWith(".staging-")) throw Object.assign(new Error("EIO: injected, rename"), { code: "EIO" })
          nodeTreeFs.renameSync(from, to)
        }
      }
      const before = tracked.open.size
      const third = Path.join(dir, "cache", "m", "failed")
      const staged = prepareTree(tracked.fs, treeOf(entries), third, { under: "local", pool })
      const exit = yield* Effect.exit(materialize(failing, blobs, "unused", third, { under: "local", prepared: staged }))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(tracked.open.size, before - 3)
      pool.close()
      assert.deepStrictEqual([...tracked.open.values()], [])
      assert.deepStrictEqual(tracked.strayCloses, [])
    }))
})
