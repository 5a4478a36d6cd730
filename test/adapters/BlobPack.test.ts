/**
 * The pack file format on its own: what a scan reads back from whole packs, from packs torn at every byte (a crash
 * mid-append), and from packs with bytes that are no record; and that it skips the bodies it does not need.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { encodeRecord, PACK_MAGIC, type PackScan, scanPack } from "../../src/adapters/BlobPack.ts"
import { makeBlobStore, sha256Hex } from "../../src/adapters/BlobStore.ts"
import { type FsPort, nodeFs } from "../../src/adapters/FsPort.ts"
import { tempDirScoped, withTempDir } from "./fixtures/testkit.ts"

const BLOBS = [Buffer.from("alpha\n"), Buffer.alloc(0), Buffer.from("a third blob, with a newline\ninside\n")]

/** A pack holding `blobs` in order, and where each record ends. */
const packOf = (blobs: ReadonlyArray<Uint8Array>): { readonly bytes: Buffer; readonly ends: ReadonlyArray<number> } => {
  const parts: Array<Uint8Array> = [PACK_MAGIC]
  const ends: Array<number> = []
  let at = PACK_MAGIC.length
  for (const blob of blobs) {
    const record = encodeRecord(sha256Hex(blob), blob)
    parts.push(...record)
    at += record.reduce((n, part) => n + part.length, 0)
    ends.push(at)
  }
  return { bytes: Buffer.concat(parts), ends }
}

/** A file-system port that counts the reads made through it and the bytes they returned. */
const countingReads = () => {
  const counts = { bytes: 0, reads: 0 }
  const fs: FsPort = {
    ...nodeFs,
    readSync: (fd, buffer, offset, length, position) => {
      const n = nodeFs.readSync(fd, buffer, offset, length, position)
      counts.bytes += n
      counts.reads++
      return n
    }
  }
  return {
    fs,
    get bytes() {
      return counts.bytes
    },
    get reads() {
      return counts.reads
    }
  }
}

const scanBytes = (dir: string, bytes: Uint8Array, fs: FsPort = nodeFs): PackScan => {
  const path = Path.join(dir, `1-000000000000.pack`)
  NodeFs.writeFileSync(path, bytes)
  return scanPack(fs, path, 0, Number.MAX_SAFE_INTEGER)
}

describe("scanPack", () => {
  it.live("reads back what a store appended, in order", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const store = makeBlobStore(nodeFs, dir)
      yield* store.putAll(BLOBS.slice(0, 2))
      yield* store.putAll(BLOBS.slice(2))
      const [pack, ...others] = NodeFs.readdirSync(Path.join(dir, "packs"))
      assert.deepStrictEqual(others, [], "one pack for both batches")
      const path = Path.join(dir, "packs", pack ?? "")
      const scanned = scanPack(nodeFs, path, 0, Number.MAX_SAFE_INTEGER)
      assert.deepStrictEqual(scanned.records.map((r) => r.hash), BLOBS.map(sha256Hex))
      assert.deepStrictEqual(NodeFs.readFileSync(path), packOf(BLOBS).bytes, "the format, byte for byte")
      assert.deepStrictEqual([scanned.stop, scanned.next, scanned.size], ["end", NodeFs.statSync(path).size, NodeFs.statSync(path).size])
      // a scan from where the last one stopped reads only what came since
      const first = scanPack(nodeFs, path, 0, packOf(BLOBS.slice(0, 2)).bytes.length)
      assert.deepStrictEqual(scanPack(nodeFs, path, first.next, Number.MAX_SAFE_INTEGER).records.map((r) => r.hash), [sha256Hex(BLOBS[2] ?? Buffer.alloc(0))])
    }))

  it("a pack torn at any byte gives exactly its whole records, and says where to go on", () =>
    withTempDir((dir) => {
      const { bytes, ends } = packOf(BLOBS)
      for (let cut = 0; cut <= bytes.length; cut++) {
        const scanned = scanBytes(dir, bytes.subarray(0, cut))
        const whole = ends.filter((end) => end <= cut)
        const next = whole.at(-1) ?? (cut >= PACK_MAGIC.length ? PACK_MAGIC.length : 0)
        assert.deepStrictEqual(scanned.records.map((r) => r.hash), BLOBS.slice(0, whole.length).map(sha256Hex), `cut at ${cut}`)
        assert.deepStrictEqual([scanned.next, scanned.stop], [next, next === cut && cut >= PACK_MAGIC.length ? "end" : "short"], `cut at ${cut}`)
      }
    }))

  it("bytes that are no record end the scan there for good, whatever follows", () =>
    withTempDir((dir) => {
      const { bytes, ends } = packOf(BLOBS.slice(0, 2))
      const good = ends.at(-1) ?? 0
      const rest = packOf(BLOBS.slice(2)).bytes.subarray(PACK_MAGIC.length)
      const damaged: ReadonlyArray<readonly [string, Uint8Array]> = [
        ["zeros (an append the disk lost, its size kept)", Buffer.alloc(200)],
        ["a header with a hash that is not hex", Buffer.from(`sha256 ${"g".repeat(64)} 1\nx\n`)],
        ["a header with a size that is not a number", Buffer.from(`sha256 ${"a".repeat(64)} 01\nx\n`)],
        ["a body longer than its header says", Buffer.from(`sha256 ${"a".repeat(64)} 1\nxy\n`)],
        ["a line too long to be a header", Buffer.alloc(200, 0x61)]
      ]
      for (const [what, junk] of damaged) {
        const scanned = scanBytes(dir, Buffer.concat([bytes, junk, rest]))
        assert.deepStrictEqual([scanned.records.length, scanned.next, scanned.stop], [2, good, "bad"], what)
      }
      assert.strictEqual(scanBytes(dir, Buffer.from("not a pack at all\n")).stop, "bad")
      assert.strictEqual(scanBytes(dir, PACK_MAGIC.subarray(0, 5)).stop, "short", "a header still being written")
    }))

  it("jumps over a big body instead of reading it", () =>
    withTempDir((dir) => {
      const big = Buffer.alloc(5 * 1024 * 1024, 1)
      const counting = countingReads()
      const scanned = scanBytes(dir, packOf([BLOBS[0] ?? Buffer.alloc(0), big, BLOBS[2] ?? Buffer.alloc(0)]).bytes, counting.fs)
      assert.strictEqual(scanned.records.length, 3)
      assert.isBelow(counting.bytes, 2 * 1024 * 1024, `read ${counting.bytes} bytes of a ${big.length}-byte body`)
    }))

  it("reads a small window per record of mid-sized blobs, not their bodies; and runs of small records in few reads", () =>
    withTempDir((dir) => {
      // 40 blobs of 300 KB (a plugin's big files): 12 MB of bodies
      const mid = Array.from({ length: 40 }, (_, i) => Buffer.alloc(300 * 1024, i))
      const counting = countingReads()
      const scanned = scanBytes(dir, packOf(mid).bytes, counting.fs)
      assert.strictEqual(scanned.records.length, 40)
      assert.strictEqual(scanned.stop, "end")
      assert.isBelow(counting.bytes, 40 * 40 * 1024, `read ${counting.bytes} bytes for 40 headers`)

      // 2,000 blobs of 100 bytes (tree manifests, small files): the window grows, so a few dozen reads
      const small = Array.from({ length: 2_000 }, (_, i) => Buffer.from(`small blob ${i} `.repeat(6)))
      const countingSmall = countingReads()
      const smallScan = scanBytes(dir, packOf(small).bytes, countingSmall.fs)
      assert.strictEqual(smallScan.records.length, 2_000)
      assert.isBelow(countingSmall.reads, 40, `${countingSmall.reads} reads for ${countingSmall.bytes} bytes`)
    }))
})
