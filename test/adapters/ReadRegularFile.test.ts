/**
 * `readRegularFile` reads what a request or a marketplace names: never a directory, FIFO or device, never more than
 * its limit, and never blocking, even when the file is swapped between its check and its read.
 */
import { execFileSync, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readRegularFile } from "../../src/adapters/ReadRegularFile.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "read-regular-"))),
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
)

const failureOf = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
  return "no failure"
}

describe("readRegularFile", () => {
  it.effect("reads a regular file, through a symlink too", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = Path.join(dir, "marketplace.json")
      NodeFs.writeFileSync(file, "{\"name\":\"m\"}\n")
      NodeFs.symlinkSync(file, Path.join(dir, "link.json"))
      assert.strictEqual(readRegularFile(nodeTreeFs, file).toString(), "{\"name\":\"m\"}\n")
      assert.strictEqual(readRegularFile(nodeTreeFs, Path.join(dir, "link.json")).toString(), "{\"name\":\"m\"}\n")
    }).pipe(Effect.scoped))

  it.effect("refuses a directory (EISDIR), a FIFO and a file over the limit", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fifo = Path.join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      const big = Path.join(dir, "big")
      NodeFs.writeFileSync(big, "x".repeat(100))
      assert.match(failureOf(() => readRegularFile(nodeTreeFs, dir)), /^EISDIR/)
      assert.strictEqual(failureOf(() => readRegularFile(nodeTreeFs, fifo)), `not a regular file: ${fifo}`)
      assert.strictEqual(failureOf(() => readRegularFile(nodeTreeFs, big, 99)), `file is larger than 99 bytes: ${big}`)
    }).pipe(Effect.scoped))

  it.effect("a FIFO swapped in after the check is refused at once instead of blocking the process", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const regular = Path.join(dir, "regular")
      NodeFs.writeFileSync(regular, "{}")
      const fifo = Path.join(dir, "marketplace.json")
      execFileSync("mkfifo", [fifo])
      // the check sees the regular file that was there; the read meets the FIFO that replaced it. A read by path
      // would wait for a writer (with none, forever, and the whole process with it); one comes after 1 s and gives
      // up after 3, so a read that waited fails this test by returning its bytes instead of hanging the suite
      const writer = spawn("timeout", ["3", "sh", "-c", `sleep 1; echo '{}' > '${fifo}'`], { stdio: "ignore" })
      yield* Effect.addFinalizer(() => Effect.sync(() => writer.kill()))
      const swapped: TreeFs = { ...nodeTreeFs, statSync: (path) => nodeTreeFs.statSync(path === fifo ? regular : path) }
      assert.strictEqual(failureOf(() => readRegularFile(swapped, fifo)), `not a regular file: ${fifo}`)
    }).pipe(Effect.scoped))

  it.effect("a file grown past the limit after the check is not read whole", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = Path.join(dir, "grows")
      NodeFs.writeFileSync(file, "x".repeat(1000))
      const small = Path.join(dir, "small")
      NodeFs.writeFileSync(small, "x")
      const grown: TreeFs = { ...nodeTreeFs, statSync: (path) => nodeTreeFs.statSync(path === file ? small : path) }
      assert.strictEqual(failureOf(() => readRegularFile(grown, file, 10)), `file is larger than 10 bytes: ${file}`)
    }).pipe(Effect.scoped))

  it("a file whose size reads as 0 (procfs) is read to its end, and no further than the limit", () => {
    const status = "/proc/self/status"
    assert.strictEqual(NodeFs.statSync(status).size, 0, "procfs reports no size")
    assert.include(readRegularFile(nodeTreeFs, status).toString(), "Name:")
    assert.strictEqual(failureOf(() => readRegularFile(nodeTreeFs, status, 10)), `file is larger than 10 bytes: ${status}`)
  })
})
