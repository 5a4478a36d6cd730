import { createHash } from "node:crypto"
import * as Path from "node:path"
import { Effect, Fiber, Result, type Scope } from "effect"
import {
  attempt,
  closeQuietly,
  fsyncBatch,
  fsyncDir,
  makeDirs,
  makeDurableDirs,
  makeFsyncQueue,
  MAX_BATCH_FDS,
  ownerAlive,
  pidSuffix,
  writeAll,
  writeFileAtomic
} from "./AtomicFile.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

const HASH = /^[0-9a-f]{64}$/

/**
 * Content-addressed blobs under `<blobsDir>/sha256/<ab>/<rest>`. A blob is written durably (temp, fsync,
 * rename, fsync dir) before any event refers to it, and is never rewritten. `putAll` does that for a whole
 * batch at once: the fsyncs of one step run concurrently, the steps stay in that order.
 */
export interface BlobStore {
  readonly put: (bytes: Uint8Array) => string
  /**
   * Stores several blobs at once, durably: when it succeeds, every one of them (new or already present) is
   * on disk under its name, and the names are returned in order; so are the blobs named in `stored` (already
   * present: only their directories are fsynced, if this process has not yet). Fails with the fs error.
   */
  readonly putAll: (blobs: ReadonlyArray<Uint8Array>, stored?: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, unknown>
  /**
   * `putAll` in two halves: it returns as soon as the new blobs of the first batch are written to their temp files and
   * their fsyncs issued; `durable` waits for the rest (it may be awaited more than once): those fsyncs, the renames
   * into place, the fsyncs of their directories. Only then are the blobs durable, and the caller awaits `durable`
   * before anything that refers to them is written; meanwhile it does other work (an install builds its cache tree,
   * takes the ledger lock and decides). The rest runs in an uninterruptible fiber of the scope, which closing awaits.
   */
  readonly putAllStarted: (
    blobs: ReadonlyArray<Uint8Array>,
    stored?: ReadonlyArray<string>
  ) => Effect.Effect<{ readonly hashes: ReadonlyArray<string>; readonly durable: Effect.Effect<void, unknown> }, unknown, Scope.Scope>
  readonly get: (hash: string) => Buffer
  readonly has: (hash: string) => boolean
  readonly pathOf: (hash: string) => string
}

interface Pending {
  readonly file: string
  readonly tmp: string
  readonly bytes: Uint8Array
}

export const makeBlobStore = (fs: FsPort, blobsDir: string): BlobStore => {
  const pathOf = (hash: string): string => {
    if (!HASH.test(hash)) throw new Error(`not a sha256 blob reference: ${hash}`)
    return Path.join(blobsDir, "sha256", hash.slice(0, 2), hash.slice(2))
  }
  const has = (hash: string): boolean => {
    try {
      return fs.statSync(pathOf(hash)).isFile()
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return false
      throw error
    }
  }
  /**
   * Shard dirs this store has created or fsynced (with their parent): their entries are durable. A shard first
   * met in this process is fsynced once, even if only existing blobs in it are referenced, in case its creator
   * died between mkdir and the fsync of the parent; after that, only shards that get a new blob are fsynced.
   */
  const durableShards = new Set<string>()
  /** `blobs/`, `blobs/sha256/` and their entries up to the ledger dir: fsynced once per process too */
  const durableDirs = makeDurableDirs(Path.dirname(blobsDir))
  /** where new blobs are written before their rename into a shard: one warm dir, instead of 256 cold ones */
  const tmpDir = Path.join(blobsDir, "tmp")
  let swept = false
  /** temp files of dead processes (a crash between write and rename) are removed once per process */
  const sweepTmp = (): void => {
    let names: ReadonlyArray<string>
    try {
      names = fs.readdirSync(tmpDir)
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error
      names = []
    }
    swept = true
    for (const name of names) {
      if (!ownerAlive(name)) {
        try {
          fs.unlinkSync(Path.join(tmpDir, name))
        } catch {
          // gone already, or not ours to remove: harmless either way
        }
      }
    }
  }

  /**
   * Runs `f` on the assumption that the directory it writes in exists (it does, but for the first blobs of a ledger
   * or of a shard): only when `f` finds it missing is it created (`dir` and its missing parents, whose parents are
   * added to `created` to be fsynced), and `f` tried once more. Saves a mkdir per blob on the install path.
   */
  const inDir = <A>(dir: string, created: Set<string>, f: () => A): A => {
    try {
      return f()
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error
      for (const parent of makeDirs(fs, dir)) created.add(parent)
      return f()
    }
  }

  /**
   * Temp files written, fsynced together, closed, then renamed into place; on failure none is left behind. The parents
   * of directories it had to create are added to `created`.
   */
  const writeChunk = Effect.fnUntraced(function*(chunk: ReadonlyArray<Pending>, created: Set<string>): Effect.fn.Return<void, unknown> {
    const fds: Array<number> = []
    const cleanUp = (): void => {
      for (const fd of fds) closeQuietly(fs, fd)
      for (const blob of chunk) {
        try {
          fs.unlinkSync(blob.tmp)
        } catch {
          // never created, or already renamed into place (a complete, fsynced blob): nothing to undo
        }
      }
    }
    const queue = makeFsyncQueue(fs)
    const written = Result.try(() => {
      for (const blob of chunk) {
        const fd = inDir(tmpDir, created, () => fs.openSync(blob.tmp, "wx", 0o444))
        fds.push(fd)
        writeAll(fs, fd, blob.bytes, 0)
        // issued now, so the wait overlaps writing the next blobs
        queue.start(fd)
      }
    })
    if (Result.isFailure(written)) {
      yield* queue.drain
      cleanUp()
      return yield* Effect.fail(written.failure)
    }
    const synced = yield* Effect.result(queue.settle())
    if (Result.isFailure(synced)) {
      cleanUp()
      return yield* Effect.fail(synced.failure)
    }
    const placed = Result.try(() => {
      // an fd is forgotten before its close: a failed close has released it all the same
      for (let fd = fds.pop(); fd !== undefined; fd = fds.pop()) fs.closeSync(fd)
      // renamed only now: no blob name is ever visible before its bytes are durable
      for (const blob of chunk) inDir(Path.dirname(blob.file), created, () => fs.renameSync(blob.tmp, blob.file))
    })
    if (Result.isFailure(placed)) {
      cleanUp()
      return yield* Effect.fail(placed.failure)
    }
  }, Effect.uninterruptible)

  /**
   * One batch for a whole snapshot: every new blob is written to a temp file, all are fsynced concurrently
   * (`MAX_BATCH_FDS` at a time), renamed into place, then every touched shard dir (and the parent of any dir
   * created) is fsynced concurrently. Only then does `putAll` succeed, so an event appended afterwards never
   * refers to a blob that a crash could take away.
   */
  const putAllStarted = Effect.fn("BlobStore.putAll")(function*(
    blobs: ReadonlyArray<Uint8Array>,
    stored: ReadonlyArray<string> = []
  ): Effect.fn.Return<{ readonly hashes: ReadonlyArray<string>; readonly durable: Effect.Effect<void, unknown> }, unknown, Scope.Scope> {
    const hashes = blobs.map(sha256Hex)
    const fresh = new Map<string, Pending>()
    const dirs = new Set<string>()
    yield* attempt(() => {
      for (const hash of stored) {
        const shard = Path.dirname(pathOf(hash))
        if (!durableShards.has(shard)) {
          dirs.add(shard)
          dirs.add(Path.dirname(shard))
        }
      }
      for (const [index, hash] of hashes.entries()) {
        const file = pathOf(hash)
        const shard = Path.dirname(file)
        if (!durableShards.has(shard)) {
          dirs.add(shard)
          dirs.add(Path.dirname(shard))
        }
        const bytes = blobs[index]
        if (bytes === undefined || fresh.has(hash) || has(hash)) continue
        dirs.add(shard)
        fresh.set(hash, { file, tmp: Path.join(tmpDir, `${hash}-${pidSuffix()}`), bytes })
      }
    })
    if (fresh.size > 0 && !swept) yield* attempt(sweepTmp)
    const pending = [...fresh.values()]
    const chain = Effect.gen(function*() {
      for (let start = 0; start < pending.length; start += MAX_BATCH_FDS) {
        yield* writeChunk(pending.slice(start, start + MAX_BATCH_FDS), dirs)
      }
      const all = durableDirs.withAncestors(dirs)
      if (all.length > 0) yield* fsyncBatch(fs, [], all)
      durableDirs.confirm(all)
      for (const hash of [...hashes, ...stored]) durableShards.add(Path.dirname(pathOf(hash)))
    })
    // started now: the first batch is written and its fsyncs issued before this returns (the fiber runs until its
    // first wait); uninterruptible, so closing the scope waits for the whole chain
    const fiber = yield* Effect.forkScoped(Effect.uninterruptible(chain), { startImmediately: true })
    return { hashes, durable: Fiber.join(fiber) }
  })

  const putAll = (blobs: ReadonlyArray<Uint8Array>, stored: ReadonlyArray<string> = []) =>
    Effect.scoped(Effect.flatMap(putAllStarted(blobs, stored), ({ durable, hashes }) => Effect.as(durable, hashes)))

  return {
    pathOf,
    has,
    putAll,
    putAllStarted,
    put: (bytes) => {
      const hash = sha256Hex(bytes)
      if (!has(hash)) {
        const file = pathOf(hash)
        for (const created of makeDirs(fs, Path.dirname(file))) fsyncDir(fs, created)
        writeFileAtomic(fs, file, bytes, 0o444)
      }
      return hash
    },
    get: (hash) => {
      const bytes = fs.readFileSync(pathOf(hash))
      // a blob whose bytes do not hash to its name was tampered with; never hand it out
      if (sha256Hex(bytes) !== hash) throw new Error(`blob ${hash} is corrupt`)
      return bytes
    }
  }
}
