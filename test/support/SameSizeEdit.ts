/**
 * Edits that only a file's ctime tells apart, for the tests of caches validated by `stat` signatures: a coarse
 * (whole-second, past) mtime, and a same-size rewrite with the mtime put back.
 */
import { assert } from "@effect/vitest"
import * as NodeFs from "node:fs"

/** Sets a whole-second mtime in the past, as a file system with coarse timestamps keeps it. */
export const coarsen = (target: string): void => {
  const second = Math.floor(Date.now() / 1000) - 100
  NodeFs.utimesSync(target, second, second)
}

/** Rewrites a coarsened `target` with content of the same size and puts its mtime back: only ctime tells. */
export const editInPlace = (target: string, content: string): void => {
  const before = NodeFs.statSync(target, { bigint: true })
  assert.strictEqual(Buffer.byteLength(content), Number(before.size))
  NodeFs.writeFileSync(target, content)
  NodeFs.utimesSync(target, Number(before.atimeNs / 1_000_000_000n), Number(before.mtimeNs / 1_000_000_000n))
  const after = NodeFs.statSync(target, { bigint: true })
  assert.deepStrictEqual([after.ino, after.size, after.mtimeNs], [before.ino, before.size, before.mtimeNs])
}
