/**
 * The blob store over packs: the index (two writers, a miss that finds what another store or process appended
 * since, a dead writer's pack, loose blobs of earlier versions, a record that fails its hash, a pack removed), and
 * durability on FaultFs (a power loss after `putAll` keeps every blob; without the fdatasync or the dir fsync it
 * does not; `durable` waits for the fdatasync and for the batches before it; a second batch costs one write and one
 * fdatasync; a blob in another writer's pack is made durable by an fsync of that pack).
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { scanPack } from "../../src/adapters/BlobPack.ts"
import { makeBlobStore, sha256Hex } from "../../src/adapters/BlobStore.ts"
import { errnoCode, type FsPort, nodeFs } from "../../src/adapters/FsPort.ts"
import { dropBlob } from "../support/BlobPacks.ts"
import { FaultFs } from "../support/FaultFs.ts"
import { makeRandom, seedFor } from "../support/Soak.ts"
import { fixturePath, runNode, tempDirScoped } from "./fixtures/testkit.ts"

const bytes = (text: string): Buffer => Buffer.from(text)
const hashOf = (text: string): string => sha256Hex(bytes(text))
const packsIn = (blobsDir: string): ReadonlyArray<string> => NodeFs.readdirSync(Path.join(blobsDir, "packs")).sort()
const text = (buffer: Buffer): string => buffer.toString("utf8")

/** The node fs, telling `seen` of every path it opens or stats, and every fsync and fdatasync (by path). */
const tracing = (base: FsPort = nodeFs) => {
  const seen: Array<string> = []
  const opened = new Map<number, string>()
  const fs: FsPort = {
    ...base,
    openSync: (path, flags, mode) => {
      seen.push(`open ${path}`)
      const fd = base.openSync(path, flags, mode)
      opened.set(fd, path)
      return fd
    },
    statSync: (path) => {
      seen.push(`stat ${path}`)
      return base.statSync(path)
    },
    fsyncAsync: (fd) => {
      seen.push(`fsync ${opened.get(fd) ?? "?"}`)
      return base.fsyncAsync(fd)
    },
    fdatasyncAsync: (fd) => {
      seen.push(`fdatasync ${opened.get(fd) ?? "?"}`)
      return base.fdatasyncAsync(fd)
    }
  }
  return { fs, seen }
}

const codeOf = (f: () => unknown): { readonly code: string | undefined; readonly message: string } => {
  try {
    f()
  } catch (error) {
    return { code: errnoCode(error), message: error instanceof Error ? error.message : String(error) }
  }
  return { code: undefined, message: "no error" }
}

describe("the index", () => {
  it.live("blobs of two writers (two packs) are read back by a third store, checked", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      yield* makeBlobStore(nodeFs, dir).putAll([bytes("one"), bytes("two")])
      yield* makeBlobStore(nodeFs, dir).putAll([bytes("three")])
      assert.strictEqual(packsIn(dir).length, 2)
      const reader = makeBlobStore(nodeFs, dir)
      assert.deepStrictEqual(["one", "two", "three"].map((t) => text(reader.get(hashOf(t)))), ["one", "two", "three"])
      assert.isFalse(reader.has(hashOf("four")))
    }))

  it.live("a miss looks again: what another store appended since, to a new pack or to one already scanned, is found", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const reader = makeBlobStore(nodeFs, dir)
      assert.isFalse(reader.has(hashOf("one")), "nothing yet (the index is built empty)")
      const writer = makeBlobStore(nodeFs, dir)
      yield* writer.putAll([bytes("one")])
      assert.isTrue(reader.has(hashOf("one")), "in a pack that appeared")
      yield* writer.putAll([bytes("two")])
      assert.strictEqual(text(reader.get(hashOf("two"))), "two", "in a pack that grew")
      assert.strictEqual(packsIn(dir).length, 1)
    }))

  it.live("a blob a child process stored is found; its pack, whose writer is gone, is not looked at again", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const { fs, seen } = tracing()
      const reader = makeBlobStore(fs, dir)
      assert.isFalse(reader.has(hashOf("from the child")))
      const child = yield* Effect.promise(() => runNode(fixturePath("blobWriter.ts"), [dir, "from the child"]))
      assert.strictEqual(child.code, 0, child.stderr)
      assert.deepStrictEqual(child.lines, [`STORED ${hashOf("from the child")}`])
      assert.strictEqual(text(reader.get(hashOf("from the child"))), "from the child")
      const [pack = ""] = packsIn(dir)
      assert.isTrue(pack.startsWith(`${child.pid}-`), pack)
      seen.length = 0
      assert.isFalse(reader.has(hashOf("never stored")))
      assert.isFalse(reader.has(hashOf("never stored either")))
      assert.deepStrictEqual(seen.filter((call) => call.includes(pack)), [], "misses no longer stat or read it")
      assert.isAbove(seen.length, 0, "the misses did look (the packs dir, the loose path)")
    }))

  it.live("blobs stored loose by earlier versions are still read, and checked", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const loose = (hash: string) => Path.join(dir, "sha256", hash.slice(0, 2), hash.slice(2))
      NodeFs.mkdirSync(Path.dirname(loose(hashOf("loose"))), { recursive: true })
      NodeFs.writeFileSync(loose(hashOf("loose")), "loose")
      NodeFs.mkdirSync(Path.dirname(loose(hashOf("tampered"))), { recursive: true })
      NodeFs.writeFileSync(loose(hashOf("tampered")), "not what its name says")
      const store = makeBlobStore(nodeFs, dir)
      assert.isTrue(store.has(hashOf("loose")))
      assert.strictEqual(text(store.get(hashOf("loose"))), "loose")
      assert.match(codeOf(() => store.get(hashOf("tampered"))).message, /is corrupt/)
      assert.deepStrictEqual(codeOf(() => store.get(hashOf("absent"))), { code: "ENOENT", message: `blob ${hashOf("absent")} is not in the blob store` })
      assert.match(codeOf(() => store.has("../../etc/passwd")).message, /not a sha256 blob reference/)
      // a batch that refers to a loose blob fsyncs its shard (a writer may have died before it did)
      const traced = tracing()
      yield* makeBlobStore(traced.fs, dir).putAll([], [hashOf("loose")])
      assert.include(traced.seen, `fsync ${Path.dirname(loose(hashOf("loose")))}`)
    }))

  it.live("a record whose bytes are not those it names is not handed out, nor is anything after it in its pack; a copy elsewhere is", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      yield* makeBlobStore(nodeFs, dir).putAll([bytes("first"), bytes("second"), bytes("third")])
      const path = Path.join(dir, "packs", packsIn(dir)[0] ?? "")
      const second = scanPack(nodeFs, path, 0, Number.MAX_SAFE_INTEGER).records[1]
      const fd = NodeFs.openSync(path, "r+")
      NodeFs.writeSync(fd, "S", second?.offset ?? 0)
      NodeFs.closeSync(fd)
      const reader = makeBlobStore(nodeFs, dir)
      assert.match(codeOf(() => reader.get(hashOf("second"))).message, /blob [0-9a-f]+ is corrupt/)
      assert.strictEqual(codeOf(() => reader.get(hashOf("third"))).code, "ENOENT", "after the bad record: ignored")
      assert.isFalse(reader.has(hashOf("third")))
      assert.strictEqual(text(reader.get(hashOf("first"))), "first")
      yield* makeBlobStore(nodeFs, dir).putAll([bytes("second")])
      assert.strictEqual(text(reader.get(hashOf("second"))), "second", "the intact copy in another pack")
    }))

  it.live("a pack removed under its writer: its blobs are gone for it too, and its next batch starts a new pack", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const store = makeBlobStore(nodeFs, dir)
      yield* store.putAll([bytes("kept"), bytes("dropped")])
      assert.strictEqual(dropBlob(dir, hashOf("dropped")), 1)
      assert.strictEqual(codeOf(() => store.get(hashOf("dropped"))).code, "ENOENT")
      assert.strictEqual(text(store.get(hashOf("kept"))), "kept", "from the rewritten pack")
      yield* store.putAll([bytes("after")])
      assert.strictEqual(packsIn(dir).length, 2)
      assert.strictEqual(text(makeBlobStore(nodeFs, dir).get(hashOf("after"))), "after")
    }))
})

/** A ledger dir modelled by FaultFs, its blobs under `ledger/blobs`. */
const faultWorld = (root: string, lieAbout?: "dirs" | "files") => {
  NodeFs.mkdirSync(Path.join(root, "ledger"), { recursive: true })
  const fs = new FaultFs({ root, recordTrace: true, ...(lieAbout === undefined ? {} : { lieAbout }) })
  return { fs, blobsDir: Path.join(root, "ledger", "blobs") }
}

describe("durability", () => {
  it.live("after putAll, a power loss keeps every blob of every batch", () =>
    Effect.gen(function*() {
      const random = makeRandom(seedFor("BlobStore power loss"))
      for (let draw = 0; draw < 20; draw++) {
        const root = yield* tempDirScoped
        const { fs, blobsDir } = faultWorld(root)
        const store = makeBlobStore(fs, blobsDir)
        yield* store.putAll([bytes("a"), bytes("b")])
        yield* store.putAll([bytes("c")])
        fs.powerLoss(random)
        const after = makeBlobStore(nodeFs, blobsDir)
        assert.deepStrictEqual(["a", "b", "c"].map((t) => text(after.get(hashOf(t)))), ["a", "b", "c"], `draw ${draw}`)
      }
    }))

  it.live("negative controls: on a disk that ignores the pack's fdatasync, or the fsync of packs/, a power loss takes them", () =>
    Effect.gen(function*() {
      for (const lieAbout of ["files", "dirs"] as const) {
        const root = yield* tempDirScoped
        const { fs, blobsDir } = faultWorld(root, lieAbout)
        yield* makeBlobStore(fs, blobsDir).putAll([bytes("a")])
        fs.powerLoss(makeRandom(1), 0)
        assert.isFalse(makeBlobStore(nodeFs, blobsDir).has(hashOf("a")), lieAbout)
      }
    }))

  it.live("`durable` is the fdatasync: a crash before it completes, then a power loss, lose the batch; awaited, it survives", () =>
    Effect.gen(function*() {
      for (const awaited of [false, true]) {
        const root = yield* tempDirScoped
        const { fs, blobsDir } = faultWorld(root)
        const store = makeBlobStore(fs, blobsDir)
        const outcome = yield* Effect.scoped(Effect.gen(function*() {
          const { durable } = yield* store.putAllStarted([bytes("a")])
          if (awaited) yield* durable
          // the process dies now (at its next op): an fdatasync still running is lost with it
          fs.crashAt(fs.ops)
          assert.strictEqual(codeOf(() => fs.statSync(root)).message, `FaultFs: simulated crash at op ${fs.ops - 1}`)
          return yield* Effect.exit(durable)
        }))
        fs.powerLoss(makeRandom(1), 0)
        assert.strictEqual(Exit.isSuccess(outcome), awaited)
        assert.strictEqual(makeBlobStore(nodeFs, blobsDir).has(hashOf("a")), awaited, `awaited: ${awaited}`)
      }
    }))

  it.live("a second batch is one write and one fdatasync of the same pack: no file created, nothing renamed, no dir fsynced", () =>
    Effect.gen(function*() {
      const root = yield* tempDirScoped
      const { fs, blobsDir } = faultWorld(root)
      const store = makeBlobStore(fs, blobsDir)
      yield* store.putAll([bytes("a")])
      const mark = fs.ops
      yield* store.putAll([bytes("b"), bytes("c")])
      const pack = `ledger/blobs/packs/${packsIn(blobsDir)[0] ?? ""}`
      const ops = fs.trace.map((op) => `${op.kind} ${Path.relative(root, op.path ?? "")}`)
      assert.includeMembers(
        ops.slice(0, mark),
        [`fdatasyncAsync ${pack}`, "fsyncAsync ledger/blobs/packs", "fsyncAsync ledger/blobs", "fsyncAsync ledger"],
        "the first batch: the new pack and the dirs that hold it"
      )
      assert.deepStrictEqual(ops.slice(mark), [`openSync ${pack}`, `writeSync ${pack}`, `fdatasyncAsync ${pack}`, `closeSync ${pack}`])
    }))

  it.live("a batch is durable only once every batch before it in the pack is", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const held: Array<{ readonly release: (error?: Error) => void }> = []
      const steps: Array<string> = []
      let hold = true
      const holding: FsPort = {
        ...nodeFs,
        fdatasyncAsync: (fd) =>
          hold
            ? new Promise<void>((resolve, reject) => {
              held.push({ release: (error) => (error === undefined ? nodeFs.fdatasyncAsync(fd).then(resolve, reject) : reject(error)) })
            })
            : nodeFs.fdatasyncAsync(fd)
      }
      const store = makeBlobStore(holding, dir)
      yield* Effect.scoped(Effect.gen(function*() {
        const a = yield* store.putAllStarted([bytes("a")])
        const b = yield* store.putAllStarted([bytes("b")])
        const c = yield* store.putAllStarted([bytes("c")])
        const watch = (name: string, durable: Effect.Effect<void, unknown>) =>
          Effect.forkChild(Effect.exit(durable).pipe(Effect.tap((exit) => Effect.sync(() => steps.push(`${name} ${exit._tag}`)))), { startImmediately: true })
        const fibers = [yield* watch("a", a.durable), yield* watch("b", b.durable), yield* watch("c", c.durable)]
        assert.strictEqual(held.length, 3, "three fdatasyncs issued at once")
        steps.push("b's fdatasync done")
        held[1]?.release()
        // time for a wrong implementation to call b durable
        yield* Effect.sleep("30 millis")
        steps.push("a's fdatasync failed")
        held[0]?.release(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }))
        yield* Effect.sleep("30 millis")
        steps.push("c's fdatasync done")
        held[2]?.release()
        for (const fiber of fibers) yield* Fiber.join(fiber)
      }))
      // b's own fdatasync was through, but it waited for a's, and failed with it; so did c, after b
      assert.deepStrictEqual(steps.slice(0, 2), ["b's fdatasync done", "a's fdatasync failed"])
      assert.deepStrictEqual(steps.filter((step) => / (Success|Failure)$/.test(step)).sort(), ["a Failure", "b Failure", "c Failure"])
      // the pack is given up: the next batch starts another
      hold = false
      yield* store.putAll([bytes("d")])
      assert.strictEqual(packsIn(dir).length, 2)
      assert.strictEqual(text(makeBlobStore(nodeFs, dir).get(hashOf("d"))), "d")
    }))

  it.live("a blob in another writer's pack, referred to by a batch, is made durable by an fdatasync of that pack, once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      yield* makeBlobStore(nodeFs, dir).putAll([bytes("big file")])
      const pack = Path.join(dir, "packs", packsIn(dir)[0] ?? "")
      const { fs, seen } = tracing()
      const store = makeBlobStore(fs, dir)
      assert.isTrue(store.has(hashOf("big file")))
      seen.length = 0
      yield* store.putAll([], [hashOf("big file")])
      assert.includeMembers(seen.filter((call) => call.startsWith("f")), [`fdatasync ${pack}`, `fsync ${Path.join(dir, "packs")}`])
      seen.length = 0
      yield* store.putAll([], [hashOf("big file")])
      assert.deepStrictEqual(seen.filter((call) => call.startsWith("f")), [], "already durable for this store")
      const missing = yield* Effect.flip(store.putAll([], [hashOf("never stored")]))
      assert.strictEqual(errnoCode(missing), "ENOENT")
    }))
})
