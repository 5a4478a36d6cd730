import { afterAll, assert, describe, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import {
  FINE_SETTLE_MS,
  isSettled,
  type Observation,
  observe,
  observeMatching,
  sameSignature,
  settleMarginMs,
  signatureOf,
  signatureText
} from "../../src/adapters/StatSignature.ts"
import { type Computed, ListingCache, makeCacheWatchRelay, type StoredEntry } from "../../src/services/ListingCache.ts"
import { coarsen, editInPlace } from "../support/SameSizeEdit.ts"

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

  it("given whole-second timestamps then the full settle time applies, given finer ones FINE_SETTLE_MS", () => {
    const at = (mtimeNs: bigint, ctimeNs: bigint): Observation => ({
      path: "/f",
      follow: false,
      signature: { _tag: "Entry", kind: "file", dev: 1n, ino: 2n, size: 3n, mtimeNs, ctimeNs }
    })
    const second = 1_800_000_000n
    const ns = (s: bigint, sub = 0n) => s * 1_000_000_000n + sub
    const msAfter = (s: bigint, ms: number) => Number(s) * 1000 + ms
    // whole seconds: two seconds
    assert.isFalse(isSettled(at(ns(second), ns(second)), msAfter(second, 1_999), 2_000))
    assert.isTrue(isSettled(at(ns(second), ns(second)), msAfter(second, 2_001), 2_000))
    // a sub-second part in either: FINE_SETTLE_MS after the newer of the two
    const fine: ReadonlyArray<readonly [Observation, number]> = [
      [at(ns(second, 1n), ns(second)), msAfter(second, 0)],
      [at(ns(second), ns(second, 500_000_000n)), msAfter(second, 500)],
      [at(ns(second, 7n), ns(second, 7n)), msAfter(second, 0)]
    ]
    for (const [observation, newestMs] of fine) {
      assert.isFalse(isSettled(observation, newestMs + FINE_SETTLE_MS - 1, 2_000))
      assert.isTrue(isSettled(observation, newestMs + FINE_SETTLE_MS + 1, 2_000))
    }
    assert.strictEqual(settleMarginMs(ns(second, 1n), ns(second), 100), 100)
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

  it("peek: the kept value while a stat shows it unchanged, even when a watch covers it (its event may be late)", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "one")
    coarsen(file)
    // a watch that covers everything and never reports: `get` trusts the entry after one check, as `serve`'s does
    const cache = new ListingCache<string>({ settleMs: 2_000, maxEntries: 10, watch: { covers: () => true, track: () => {}, untrack: () => {} } })
    const compute = (): Computed<string> => ({ value: NodeFs.readFileSync(file, "utf8"), observations: [observe(file, true)] })
    assert.isUndefined(cache.peek(file), "nothing kept yet")
    cache.get(file, later(), compute)
    cache.get(file, later(), compute)
    assert.strictEqual(cache.peek(file), "one")
    editInPlace(file, "two")
    assert.strictEqual(cache.get(file, later(), compute), "one", "get trusts the watch, whose event has not come")
    assert.isUndefined(cache.peek(file), "peek does not")
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

describe("ListingCache: results stored by an earlier process", () => {
  /** `file`'s text as a stored entry, its lookup as the snapshot keeps it */
  const storedText = (file: string): StoredEntry<string> => {
    const { path, follow, signature } = observe(file, true)
    return { value: NodeFs.readFileSync(file, "utf8"), observations: [{ path, follow, signature: signatureText(signature) }] }
  }
  const counting = (file: string) => {
    let reads = 0
    const compute = (): Computed<string> => {
      reads++
      return { value: NodeFs.readFileSync(file, "utf8"), observations: [observe(file, true)] }
    }
    return { compute, reads: () => reads }
  }

  it("given a stored entry whose lookups still hold then it is taken over without computing, and is no change", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "one")
    const stored = storedText(file)
    let asked = 0
    const cache = new ListingCache<string>({ settleMs: 2_000, maxEntries: 10, stored: () => (asked++, stored) })
    const { compute, reads } = counting(file)
    assert.strictEqual(cache.get(file, later(), compute), "one")
    assert.strictEqual(cache.get(file, later(), compute), "one")
    assert.deepStrictEqual([reads(), asked, cache.size, cache.changes], [0, 1, 1, 0])
    assert.deepStrictEqual(cache.keptEntries().map((e) => [e.key, e.value, e.observations.map((o) => signatureText(o.signature))]), [
      [file, "one", [stored.observations[0]?.signature]]
    ])
  })

  it("given a stored entry whose file changed since (same size, mtime put back) then it is computed again, a change", () => {
    const file = Path.join(tempDir(), "f")
    NodeFs.writeFileSync(file, "one")
    coarsen(file)
    const stored = storedText(file)
    editInPlace(file, "two")
    const cache = new ListingCache<string>({ settleMs: 2_000, maxEntries: 10, stored: () => stored })
    const { compute, reads } = counting(file)
    assert.strictEqual(cache.get(file, later(), compute), "two")
    assert.deepStrictEqual([reads(), cache.changes], [1, 1])
  })

  it("given a stored lookup then only the exact signature matches, and the observation is today's", () => {
    const dir = tempDir()
    const file = Path.join(dir, "f")
    NodeFs.writeFileSync(file, "x")
    const now = observe(file, false)
    const text = signatureText(now.signature)
    assert.deepStrictEqual(observeMatching({ path: file, follow: false, signature: text }), now)
    for (const other of [`${text}0`, text.replace("file", "directory"), "!ENOENT", "", "garbage"]) {
      assert.isUndefined(observeMatching({ path: file, follow: false, signature: other }), other)
    }
    const gone = Path.join(dir, "gone")
    assert.deepStrictEqual(observeMatching({ path: gone, follow: false, signature: "!ENOENT" }), observe(gone, false))
    assert.isUndefined(observeMatching({ path: gone, follow: false, signature: "!ENOTDIR" }))
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
