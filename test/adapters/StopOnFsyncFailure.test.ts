import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { errnoCode } from "../../src/adapters/FsPort.ts"
import { stopOnFsyncFailure } from "../../src/adapters/StopOnFsyncFailure.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { makeTempDir, removeDir, withTempDir } from "./fixtures/testkit.ts"

const eio = (): never => {
  throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" })
}

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f()
  } catch (error) {
    return errnoCode(error)
  }
  return undefined
}

describe("stopOnFsyncFailure", () => {
  it("after a failed fsync: writes, renames, mkdirs and fsyncs are refused; reads and removals still work", () =>
    withTempDir((dir) => {
      let fsyncs = 0
      const failing: TreeFs = { ...nodeTreeFs, fsyncSync: () => { fsyncs++; eio() } }
      const fs = stopOnFsyncFailure(failing)
      const file = Path.join(dir, "f")
      NodeFs.writeFileSync(file, "x")
      const fd = fs.openSync(file, "r+")
      assert.strictEqual(codeOf(() => fs.fsyncSync(fd)), "EIO")
      assert.strictEqual(codeOf(() => fs.fsyncSync(fd)), "EIO", "refused, not retried")
      assert.strictEqual(fsyncs, 1)
      assert.strictEqual(codeOf(() => fs.writeSync(fd, Buffer.from("y"), 0, 1, 0)), "EIO")
      fs.closeSync(fd)
      assert.strictEqual(codeOf(() => fs.openSync(Path.join(dir, "g"), "wx")), "EIO")
      assert.strictEqual(codeOf(() => fs.renameSync(file, Path.join(dir, "h"))), "EIO")
      assert.strictEqual(codeOf(() => fs.mkdirSync(Path.join(dir, "d"), { recursive: false })), "EIO")
      assert.strictEqual(fs.readFileSync(file).toString(), "x")
      fs.unlinkSync(file)
      assert.deepStrictEqual([...fs.readdirSync(dir)], [])
    }))

  it("a failed fsync on the thread pool stops it too, once it is reported", async () => {
    const dir = makeTempDir()
    try {
      const fs = stopOnFsyncFailure({ ...nodeTreeFs, fsyncAsync: () => Promise.reject(Object.assign(new Error("ENOSPC"), { code: "ENOSPC" })) })
      const fd = fs.openSync(Path.join(dir, "f"), "w")
      const error: unknown = await fs.fsyncAsync(fd).then(() => undefined, (e: unknown) => e)
      assert.strictEqual(errnoCode(error), "ENOSPC")
      assert.strictEqual(codeOf(() => fs.writeSync(fd, Buffer.from("y"), 0, 1, 0)), "EIO")
      fs.closeSync(fd)
    } finally {
      removeDir(dir)
    }
  })

  it("so does a failed fdatasync on the thread pool (a blob pack's), and a stopped wrapper refuses to issue one", async () => {
    const dir = makeTempDir()
    try {
      const fs = stopOnFsyncFailure({ ...nodeTreeFs, fdatasyncAsync: () => Promise.reject(Object.assign(new Error("EIO"), { code: "EIO" })) })
      const fd = fs.openSync(Path.join(dir, "f"), "w")
      const error: unknown = await fs.fdatasyncAsync(fd).then(() => undefined, (e: unknown) => e)
      assert.strictEqual(errnoCode(error), "EIO")
      assert.strictEqual(codeOf(() => fs.writeSync(fd, Buffer.from("y"), 0, 1, 0)), "EIO")
      const again: unknown = await fs.fsyncAsync(fd).then(() => undefined, (e: unknown) => e)
      assert.match(String(again), /refused/)
      fs.closeSync(fd)
    } finally {
      removeDir(dir)
    }
  })

  it("each wrapper stops on its own: a new process (a new wrapper) writes again", () =>
    withTempDir((dir) => {
      const first = stopOnFsyncFailure({ ...nodeTreeFs, fdatasyncSync: eio })
      const fd = first.openSync(Path.join(dir, "f"), "w")
      assert.strictEqual(codeOf(() => first.fdatasyncSync(fd)), "EIO")
      first.closeSync(fd)
      const second = stopOnFsyncFailure(nodeTreeFs)
      const again = second.openSync(Path.join(dir, "f"), "w")
      assert.strictEqual(second.writeSync(again, Buffer.from("z"), 0, 1, 0), 1)
      second.fsyncSync(again)
      second.closeSync(again)
    }))
})
