/**
 * FaultFs has to be trusted by the durability suites, so its model is checked here: what survives a power loss
 * with everything dropped or everything kept, that a missing fsync (file or directory) really loses data, that
 * renames stay atomic, and that crash and errno hooks fire exactly at their op.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { fsyncDir, writeAll, writeFileAtomic } from "../../src/adapters/AtomicFile.ts"
import { Crash, FaultFs } from "./FaultFs.ts"
import { makeRandom, scaled, seedFor } from "./Soak.ts"

const withRoot = <A>(f: (root: string) => A): A => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "faultfs-test-")))
  try {
    return f(root)
  } finally {
    NodeFs.rmSync(root, { recursive: true, force: true })
  }
}

const never = { next: () => 0.999 }

const writeFile = (fs: FaultFs, path: string, text: string, sync: boolean): void => {
  const fd = fs.openSync(path, "w", 0o644)
  writeAll(fs, fd, Buffer.from(text), 0)
  if (sync) fs.fsyncSync(fd)
  fs.closeSync(fd)
}

const read = (path: string): string | undefined => (NodeFs.existsSync(path) ? NodeFs.readFileSync(path, "utf8") : undefined)

/** A deliberately broken atomic write: no fsync of the temp file before the rename. */
const writeWithoutFileFsync = (fs: FaultFs, path: string, text: string): void => {
  const tmp = `${path}.tmp`
  writeFile(fs, tmp, text, false)
  fs.renameSync(tmp, path)
  fsyncDir(fs, Path.dirname(path))
}

describe("FaultFs", () => {
  it("passes through to the real directory and counts every call", () =>
    withRoot((root) => {
      const fs = new FaultFs({ root })
      fs.mkdirSync(Path.join(root, "a", "b"), { recursive: true })
      writeFile(fs, Path.join(root, "a", "b", "f"), "hello", true)
      assert.strictEqual(read(Path.join(root, "a", "b", "f")), "hello")
      assert.deepStrictEqual([...fs.readdirSync(Path.join(root, "a"))], ["b"])
      assert.isAbove(fs.ops, 5)
    }))

  it("power loss dropping everything pending keeps exactly what was fsynced", () =>
    withRoot((root) => {
      NodeFs.writeFileSync(Path.join(root, "old"), "old bytes")
      const fs = new FaultFs({ root })
      // durable: data fsynced and the directory entry fsynced
      writeFile(fs, Path.join(root, "durable"), "kept", true)
      // data fsynced, but the new entry never made durable
      fs.mkdirSync(Path.join(root, "d"), { recursive: false })
      fsyncDir(fs, root)
      writeFile(fs, Path.join(root, "d", "lost-entry"), "x", true)
      fsyncDir(fs, root) // the wrong directory: the entry lives in d
      // an existing file overwritten without fsync: the old bytes come back
      writeFile(fs, Path.join(root, "old"), "new bytes", false)
      // appended after the fsync: dropped
      const fd = fs.openSync(Path.join(root, "durable"), "a")
      fs.writeSync(fd, Buffer.from(" and more"), 0, 9, null)
      fs.closeSync(fd)
      const report = fs.powerLoss(never, 0)
      assert.strictEqual(report.kept, 0)
      assert.strictEqual(read(Path.join(root, "durable")), "kept")
      assert.isTrue(NodeFs.existsSync(Path.join(root, "d")))
      assert.deepStrictEqual(NodeFs.readdirSync(Path.join(root, "d")), [])
      assert.strictEqual(read(Path.join(root, "old")), "old bytes")
    }))

  it("power loss keeping everything pending leaves the tree as it was (a process crash)", () =>
    withRoot((root) => {
      const fs = new FaultFs({ root })
      fs.mkdirSync(Path.join(root, "x", "y"), { recursive: true })
      writeFile(fs, Path.join(root, "x", "y", "f"), "content", false)
      fs.chmodSync(Path.join(root, "x", "y", "f"), 0o755)
      fs.renameSync(Path.join(root, "x", "y", "f"), Path.join(root, "x", "g"))
      fs.linkSync(Path.join(root, "x", "g"), Path.join(root, "h"))
      const report = fs.powerLoss(never, 1)
      assert.strictEqual(report.dropped, 0)
      assert.strictEqual(read(Path.join(root, "x", "g")), "content")
      assert.strictEqual(NodeFs.statSync(Path.join(root, "x", "g")).mode & 0o777, 0o755)
      assert.strictEqual(NodeFs.statSync(Path.join(root, "h")).ino, NodeFs.statSync(Path.join(root, "x", "g")).ino)
      assert.deepStrictEqual(NodeFs.readdirSync(Path.join(root, "x", "y")), [])
    }))

  it("tears pending writes into prefixes", () =>
    withRoot((root) => {
      const seed = seedFor("FaultFs tears")
      const random = makeRandom(seed)
      let torn = 0
      for (let i = 0; i < 50; i++) {
        const fs = new FaultFs({ root })
        const path = Path.join(root, `f${i}`)
        writeFile(fs, path, "", true)
        fsyncDir(fs, root)
        const fd = fs.openSync(path, "r+")
        fs.writeSync(fd, Buffer.from("0123456789"), 0, 10, 0)
        fs.closeSync(fd)
        torn += fs.powerLoss(random, 1).torn
        const text = read(path) ?? ""
        assert.isTrue("0123456789".startsWith(text), `not a prefix: ${text}`)
      }
      assert.isAbove(torn, 0)
    }))

  it("a rename between directories never loses the file", () =>
    withRoot((root) => {
      const seed = seedFor("FaultFs cross-dir rename")
      const random = makeRandom(seed)
      NodeFs.mkdirSync(Path.join(root, "a"))
      NodeFs.mkdirSync(Path.join(root, "b"))
      NodeFs.writeFileSync(Path.join(root, "a", "f"), "f")
      const outcomes = new Set<string>()
      for (let i = 0; i < 40; i++) {
        const fs = new FaultFs({ root })
        const [from, to] = NodeFs.existsSync(Path.join(root, "a", "f")) ? ["a", "b"] : ["b", "a"]
        fs.renameSync(Path.join(root, from, "f"), Path.join(root, to, "f"))
        fs.powerLoss(random)
        const where = ["a", "b"].filter((d) => NodeFs.existsSync(Path.join(root, d, "f")))
        assert.isAbove(where.length, 0, "the file is somewhere")
        outcomes.add(where.join("+"))
        // back to one copy for the next round
        if (where.length === 2) NodeFs.unlinkSync(Path.join(root, "b", "f"))
      }
      assert.isTrue(outcomes.size >= 2, `${[...outcomes]}`)
    }))

  it("writeFileAtomic: after a crash at every op and a power loss, the file is the old or the new bytes", () =>
    withRoot((root) => {
      const seed = seedFor("FaultFs atomic write")
      const random = makeRandom(seed)
      const path = Path.join(root, "config.toml")
      const runs = scaled(10, 100)
      let ops = 0
      {
        NodeFs.writeFileSync(path, "old")
        const fs = new FaultFs({ root })
        writeFileAtomic(fs, path, Buffer.from("new"))
        ops = fs.ops
      }
      const seen = new Set<string | undefined>()
      for (let k = 0; k <= ops; k++) {
        for (let run = 0; run < runs; run++) {
          NodeFs.rmSync(root, { recursive: true, force: true })
          NodeFs.mkdirSync(root)
          NodeFs.writeFileSync(path, "old")
          const fs = new FaultFs({ root })
          fs.crashAt(k)
          try {
            writeFileAtomic(fs, path, Buffer.from("new"))
          } catch (error) {
            if (!(error instanceof Crash)) throw error
          }
          fs.powerLoss(random, random.next())
          const text = read(path)
          seen.add(text)
          assert.include(["old", "new"], text, `crash at op ${k}, seed ${seed}`)
        }
      }
      assert.deepStrictEqual([...seen].sort(), ["new", "old"])
    }))

  it("the model catches a missing fsync: a rename without the file's fsync can leave an empty file", () =>
    withRoot((root) => {
      const seed = seedFor("FaultFs negative control")
      const random = makeRandom(seed)
      const path = Path.join(root, "config.toml")
      const seen = new Set<string | undefined>()
      for (let i = 0; i < 40; i++) {
        NodeFs.writeFileSync(path, "old")
        const fs = new FaultFs({ root })
        writeWithoutFileFsync(fs, path, "new")
        fs.powerLoss(random)
        seen.add(read(path))
      }
      assert.isTrue([...seen].some((text) => text !== "old" && text !== "new"), `${[...seen]}`)
    }))

  it("crashAt: the op and everything after throw Crash and change nothing; failAt: one errno error", () =>
    withRoot((root) => {
      const fs = new FaultFs({ root, recordTrace: true })
      fs.failAt(1, "ENOSPC")
      fs.crashAt(3)
      const fd = fs.openSync(Path.join(root, "f"), "w") // op 0
      assert.throws(() => fs.writeSync(fd, Buffer.from("x"), 0, 1, 0), /ENOSPC/) // op 1
      assert.strictEqual(fs.writeSync(fd, Buffer.from("y"), 0, 1, 0), 1) // op 2
      assert.throws(() => fs.fsyncSync(fd), Crash) // op 3
      assert.throws(() => fs.closeSync(fd), Crash)
      assert.isTrue(fs.crashed)
      assert.deepStrictEqual(fs.fired.map((r) => [r.index, r.fault]), [[1, "ENOSPC"], [3, "crash"]])
      fs.powerLoss(never, 0)
      assert.deepStrictEqual(NodeFs.readdirSync(root), [], "nothing was ever made durable")
    }))

  it("attributes each op to the first named function outside FaultFs", () =>
    withRoot((root) => {
      const fs = new FaultFs({ root, recordSites: true })
      function namedCaller(): void {
        fs.statSync(root)
      }
      namedCaller()
      writeFileAtomic(fs, Path.join(root, "f"), Buffer.from("x"))
      const sites = fs.trace.map((r) => r.site ?? "")
      assert.match(sites[0] ?? "", /^test\/support\/FaultFs\.test\.ts:namedCaller < /)
      assert.isTrue(sites.some((s) => s.startsWith("src/adapters/AtomicFile.ts:writeFileAtomic < test/support/FaultFs.test.ts:")))
      assert.isTrue(sites.some((s) => s.startsWith("src/adapters/AtomicFile.ts:fsyncDir < src/adapters/AtomicFile.ts:writeFileAtomic")))
    }))
})
