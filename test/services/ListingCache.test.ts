import { afterAll, assert, describe, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { isSettled, observe, sameSignature, signatureOf } from "../../src/adapters/StatSignature.ts"
import { type Computed, ListingCache, makeCacheWatchRelay } from "../../src/services/ListingCache.ts"

const created: Array<string> = []
const tempDir = (): string => {
  const dir = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "listing-cache-")))
  created.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of created) NodeFs.rmSync(dir, { recursive: true, force: true })
})
/** a clock far enough ahead that every file counts as settled */
const later = () => Date.now() + 60_000

/** Sets a whole-second mtime, as a file system with coarse timestamps keeps it. */
const coarsen = (file: string) => {
  const second = Math.floor(Date.now() / 1000) - 100
  NodeFs.utimesSync(file, second, second)
}
/** Rewrites a coarsened `file` with content of the same size and puts its mtime back: only ctime tells. */
const editInPlace = (file: string, content: string) => {
  const before = NodeFs.statSync(file, { bigint: true })
  assert.strictEqual(Buffer.byteLength(content), Number(before.size))
  NodeFs.writeFileSync(file, content)
  NodeFs.utimesSync(file, Number(before.atimeNs / 1_000_000_000n), Number(before.mtimeNs / 1_000_000_000n))
  const after = NodeFs.statSync(file, { bigint: true })
  assert.deepStrictEqual([after.ino, after.size, after.mtimeNs], [before.ino, before.size, before.mtimeNs])
}

/** A cache over one file's text that counts how often it reads. */
const textCache = (file: string, options = { settleMs: 2_000, maxEntries: 10 }) => {
  const cache = new ListingCache<string | undefined>(options)
  let reads = 0
  const compute = (): Computed<string | undefined> => {
    reads++
    const observation = observe(file, true)
    return { value: NodeFs.existsSync(file) ? NodeFs.readFileSync(file, "utf8") : undefined, observations: [observation] }
  }
  return { get: (now: number) => cache.get(file, now, compute), reads: () => reads, cache }
}

describe("StatSignature", () => {
  it("given missing paths then the error is the signature", () => {
    const dir = tempDir()
    NodeFs.writeFileSync(Path.join(dir, "f"), "x")
    assert.deepStrictEqual(signatureOf(Path.join(dir, "nope"), false), { _tag: "Missing", code: "ENOENT" })
    assert.deepStrictEqual(signatureOf(Path.join(dir, "f", "below"), false), { _tag: "Missing", code: "ENOTDIR" })
  })

  it("given a symlink then lstat sees the link and stat its target", () => {
    const dir = tempDir()
    NodeFs.mkdirSync(Path.join(dir, "d"))
    NodeFs.symlinkSync(Path.join(dir, "d"), Path.join(dir, "l"))
    const link = signatureOf(Path.join(dir, "l"), false)
    const target = signatureOf(Path.join(dir, "l"), true)
    assert.strictEqual(link._tag === "Entry" ? link.kind : link.code, "symlink")
    assert.isTrue(sameSignature(target, signatureOf(Path.join(dir, "d"), false)))
  })

  it("given an edit of the same size within the same timestamp then the signature still changes (ctime)", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "aaaa")
    coarsen(file)
    const before = signatureOf(file, false)
    editInPlace(file, "bbbb")
    assert.isFalse(sameSignature(before, signatureOf(file, false)))
  })

  it("given timestamps within the settle window then the observation is not settled", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "x")
    const observation = observe(file, false)
    assert.isFalse(isSettled(observation, Date.now(), 2_000))
    assert.isTrue(isSettled(observation, later(), 2_000))
    assert.isTrue(isSettled(observe(`${file}.missing`, false), 0, 2_000))
  })
})

describe("ListingCache", () => {
  it("given settled, unchanged files then the kept value is reused", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "one")
    const c = textCache(file)
    assert.strictEqual(c.get(later()), "one")
    assert.strictEqual(c.get(later()), "one")
    assert.strictEqual(c.reads(), 1)
  })

  it("given a same-size edit with the mtime put back then the next get reads again", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "one")
    coarsen(file)
    const c = textCache(file)
    c.get(later())
    editInPlace(file, "two")
    assert.strictEqual(c.get(later()), "two")
    assert.strictEqual(c.reads(), 2)
  })

  it("given a missing file then its creation is noticed", () => {
    const file = Path.join(tempDir(), "f")
    const c = textCache(file)
    assert.strictEqual(c.get(later()), undefined)
    assert.strictEqual(c.get(later()), undefined)
    NodeFs.writeFileSync(file, "new")
    assert.strictEqual(c.get(later()), "new")
    assert.strictEqual(c.reads(), 2)
  })

  it("given files changed within the settle window then nothing is kept (coarse timestamps)", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "one")
    const c = textCache(file)
    c.get(Date.now())
    c.get(Date.now())
    assert.strictEqual(c.reads(), 2)
    assert.strictEqual(c.cache.size, 0)
  })

  it("given a result without observations then it is never kept", () => {
    const cache = new ListingCache<number>({ settleMs: 0, maxEntries: 10 })
    let computed = 0
    const compute = (): Computed<number> => ({ value: ++computed, observations: undefined })
    assert.strictEqual(cache.get("k", later(), compute), 1)
    assert.strictEqual(cache.get("k", later(), compute), 2)
  })

  it("given more keys than maxEntries then the oldest are dropped", () => {
    const cache = new ListingCache<string>({ settleMs: 0, maxEntries: 2 })
    const missing = observe(Path.join(tempDir(), "none"), false)
    for (const key of ["a", "b", "c"]) cache.get(key, later(), () => ({ value: key, observations: [missing] }))
    assert.strictEqual(cache.size, 2)
    assert.strictEqual(cache.get("a", later(), () => ({ value: "recomputed", observations: [missing] })), "recomputed")
    assert.strictEqual(cache.get("c", later(), () => ({ value: "recomputed", observations: [missing] })), "c")
  })
})

describe("makeCacheWatchRelay", () => {
  it("covers nothing and keeps what it is asked to track until connected, then forwards everything", () => {
    const relay = makeCacheWatchRelay()
    relay.track(["/a", "/b"])
    relay.untrack(["/b"])
    const observation = { path: "/a", follow: false, signature: { _tag: "Missing" as const, code: "ENOENT" } }
    assert.isFalse(relay.covers(observation))
    const tracked: Array<ReadonlyArray<string>> = []
    const untracked: Array<ReadonlyArray<string>> = []
    relay.connect({ covers: (o) => o.path === "/a", track: (paths) => void tracked.push(paths), untrack: (paths) => void untracked.push(paths) })
    assert.deepStrictEqual(tracked, [["/a"]])
    assert.isTrue(relay.covers(observation))
    relay.track(["/c"])
    relay.untrack(["/a"])
    assert.deepStrictEqual(tracked, [["/a"], ["/c"]])
    assert.deepStrictEqual(untracked, [["/a"]])
  })
})
