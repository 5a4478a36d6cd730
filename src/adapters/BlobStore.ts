import { hash } from "node:crypto"
import * as Path from "node:path"
import { Context, Deferred, Effect, Exit, Fiber, Result, Scope } from "effect"
import { closeQuietly, makeDurableDirs } from "./AtomicFile.ts"
import { makeFsyncQueue } from "./FsyncQueue.ts"
import { readRecord } from "./BlobPack.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"
import { makePackIndex, type Pack } from "./PackIndex.ts"
import { type Appended, makePackWriter } from "./PackWriter.ts"

/**
 * One-shot (`crypto.hash`): no Hash object made and fed through its JavaScript layers, which cost more than the
 * hashing itself for the small files of a plugin (an install hashes each of them, and its tree blob).
 */
export const sha256Hex = (bytes: Uint8Array): string => hash("sha256", bytes, "hex")

const HASH = /^[0-9a-f]{64}$/

/**
 * Content-addressed blobs, in pack files under `<blobsDir>/packs/` (see BlobPack.ts): each store appends to a pack
 * of its own, a whole batch in one write made durable by one `fdatasync`, before any event refers to it. Blobs
 * stored loose by earlier versions (`<blobsDir>/sha256/<ab>/<rest>`) are still read. A blob is never rewritten, and
 * every blob handed out is checked against its hash.
 */
export interface BlobStore {
  /**
   * Stores several blobs at once, durably: when it succeeds, every one of them (new or already present) is on
   * disk for good, and the names are returned in order; so are the blobs named in `stored` (already present,
   * maybe written by another process that has not made them durable: they are made durable too). Fails with the
   * fs error.
   */
  readonly putAll: (blobs: ReadonlyArray<Uint8Array>, stored?: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, unknown>
  /**
   * `putAll` in two halves: it returns as soon as the new blobs are appended to this store's pack and its
   * `fdatasync` issued; `durable` waits for the rest (it may be awaited more than once): that fdatasync, the
   * fsyncs of the directories of a new pack, those that make `stored` blobs durable. The caller awaits `durable`
   * before anything that refers to them is written; meanwhile it does other work (an install builds its cache
   * tree, takes the ledger lock and decides). The rest runs in an uninterruptible fiber of the scope.
   */
  readonly putAllStarted: (
    blobs: ReadonlyArray<Uint8Array>,
    stored?: ReadonlyArray<string>
  ) => Effect.Effect<{ readonly hashes: ReadonlyArray<string>; readonly durable: Effect.Effect<void, unknown> }, unknown, Scope.Scope>
  /**
   * `putAllStarted` as a plain function, for a step the caller runs anyway (an install's, in `Effect.withFiber`):
   * throws what the plan or the append throws; the rest runs in an uninterruptible fiber made with `context` and
   * held by `scope` (closing it waits for that fiber).
   */
  readonly startPutAll: (
    blobs: ReadonlyArray<Uint8Array>,
    stored: ReadonlyArray<string>,
    scope: Scope.Scope,
    context: Context.Context<never>
  ) => { readonly hashes: ReadonlyArray<string>; readonly durable: Effect.Effect<void, unknown> }
  /** the blob's bytes, checked; throws when it is not there (code ENOENT) or no copy of it is intact */
  readonly get: (hash: string) => Buffer
  readonly has: (hash: string) => boolean
}

/** What a batch must make durable besides its own append. */
interface Plan {
  readonly fresh: Map<string, Uint8Array>
  /** fdatasyncs of this store still running for records the batch refers to */
  readonly pending: Set<Deferred.Deferred<void, unknown>>
  /** packs of other writers, to fsync up to the end of the records referred to */
  readonly foreign: Map<Pack, number>
  /** shard dirs of loose blobs (and their parents), `packs/` once */
  readonly dirs: Set<string>
}

const missing = (hash: string, corrupt: boolean): Error =>
  corrupt ? new Error(`blob ${hash} is corrupt`) : Object.assign(new Error(`blob ${hash} is not in the blob store`), { code: "ENOENT" })

export const makeBlobStore = (fs: FsPort, blobsDir: string): BlobStore => {
  const packsDir = Path.join(blobsDir, "packs")
  const index = makePackIndex(fs, packsDir)
  /** `packs/`, `blobs/` and their entries up to the ledger dir: fsynced once per store */
  const durableDirs = makeDurableDirs(Path.dirname(blobsDir))
  let packsDirSynced = false
  /** shard dirs of loose blobs this store fsynced: a loose blob's entry may not be durable if its writer crashed */
  const durableShards = new Set<string>()
  const writer = makePackWriter(fs, packsDir, index)

  const loosePath = (hash: string): string => {
    if (!HASH.test(hash)) throw new Error(`not a sha256 blob reference: ${hash}`)
    return Path.join(blobsDir, "sha256", hash.slice(0, 2), hash.slice(2))
  }
  const looseHas = (hash: string): boolean => {
    try {
      return fs.statSync(loosePath(hash)).isFile()
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return false
      throw error
    }
  }
  const has = (hash: string): boolean => {
    loosePath(hash)
    return index.locate(hash) !== undefined || looseHas(hash)
  }

  const get = (hash: string): Buffer => {
    const loose = loosePath(hash)
    let corrupt = false
    // each failed copy is forgotten (a pack gone) or cut off with all after it (not whole, or not the bytes named)
    for (let tries = 0, found = index.locate(hash); found !== undefined && tries < 16; tries++, found = index.locate(hash)) {
      let body: Buffer | undefined
      try {
        body = readRecord(fs, found.pack.path, found.record.offset, found.record.size)
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error
        index.forget(found.pack)
        continue
      }
      if (body !== undefined && sha256Hex(body) === hash) return body
      corrupt = true
      index.cut(found.pack, found.record.at)
    }
    let bytes: Buffer
    try {
      bytes = fs.readFileSync(loose)
    } catch (error) {
      if (errnoCode(error) === "ENOENT") throw missing(hash, corrupt)
      throw error
    }
    if (sha256Hex(bytes) !== hash) throw missing(hash, true)
    return bytes
  }

  const plan = (blobs: ReadonlyArray<Uint8Array>, hashes: ReadonlyArray<string>, stored: ReadonlyArray<string>): Plan => {
    const out: Plan = { fresh: new Map(), pending: new Set(), foreign: new Map(), dirs: new Set() }
    for (const [i, hash] of hashes.entries()) {
      const mine = index.known(hash)
      // only this store's copy is taken as it is: a copy elsewhere would need an fsync of another file, and
      // appending it again costs nothing but its bytes in the write this batch makes anyway
      if (mine?.pack.own === true) {
        if (mine.sync !== undefined) out.pending.add(mine.sync)
      } else if (blobs[i] !== undefined) out.fresh.set(hash, blobs[i])
    }
    for (const hash of stored) {
      if (out.fresh.has(hash)) continue
      const known = index.known(hash)
      const found = known?.pack.own === true ? known : index.locate(hash)
      if (found?.sync !== undefined) out.pending.add(found.sync)
      else if (found !== undefined && !found.pack.own) {
        const end = found.record.offset + found.record.size + 1
        if (end > found.pack.synced) out.foreign.set(found.pack, Math.max(end, out.foreign.get(found.pack) ?? 0))
        if (!packsDirSynced) out.dirs.add(packsDir)
      } else if (found === undefined) {
        if (!looseHas(hash)) throw missing(hash, false)
        const shard = Path.dirname(loosePath(hash))
        if (!durableShards.has(shard)) out.dirs.add(shard).add(Path.dirname(shard))
      }
    }
    return out
  }

  /** What the batch made durable, remembered once its durability is known (whatever the outcome: the pack's is kept). */
  const settled = (planned: Plan, appended: Appended | undefined, dirs: ReadonlyArray<string>, synced: Exit.Exit<void, unknown>) => {
    if (appended !== undefined) writer.settled(appended, synced)
    if (Exit.isSuccess(synced)) {
      durableDirs.confirm(dirs)
      if (planned.dirs.has(packsDir) || (appended?.dirs.length ?? 0) > 0) packsDirSynced = true
      for (const dir of planned.dirs) if (dir !== packsDir) durableShards.add(dir)
      for (const [pack, end] of planned.foreign) pack.synced = Math.max(pack.synced, end)
    }
    return synced
  }

  /**
   * Issues the fdatasyncs of the other writers' packs the batch refers to (now), and returns what waits for
   * everything the batch's durability needs; then what it made durable is remembered. Few runtime steps: the fsyncs
   * are waited for in one (`FsyncQueue.settle`), the fdatasyncs of this store's earlier batches it refers to
   * (usually done) in one more.
   */
  const settle = (planned: Plan, appended: Appended | undefined): Effect.Effect<void, unknown> => {
    const queue = appended?.queue ?? makeFsyncQueue(fs)
    const dirs = durableDirs.withAncestors([...planned.dirs, ...(appended?.dirs ?? [])])
    const fds: Array<number> = appended === undefined ? [] : [appended.fd]
    const opened = Result.try(() => {
      for (const pack of planned.foreign.keys()) {
        const fd = fs.openSync(pack.path, "r")
        fds.push(fd)
        queue.startData(fd)
      }
    })
    // an fd is closed only once no fdatasync on it is running
    const synced = Result.isFailure(opened) ? Effect.andThen(queue.drain, Effect.fail(opened.failure)) : queue.settle(dirs)
    const [first, ...rest] = [...(appended?.before === undefined ? [] : [appended.before]), ...planned.pending]
    // the usual case, one earlier batch of this pack, awaited without `forEach`'s steps
    const earlier = first === undefined
      ? undefined
      : rest.length === 0
      ? Deferred.await(first)
      : Effect.forEach([first, ...rest], (sync) => Deferred.await(sync), { discard: true })
    // an Exit's outcome handled in one step each (`Effect.exit` and a flatMap were two)
    const afterEarlier = (exit: Exit.Exit<void, unknown>): Effect.Effect<void, unknown> =>
      Effect.matchCauseEffect(earlier ?? Effect.void, {
        onSuccess: () => settled(planned, appended, dirs, exit),
        onFailure: (cause) => settled(planned, appended, dirs, Exit.failCause(cause))
      })
    const afterSync = (exit: Exit.Exit<void, unknown>): Effect.Effect<void, unknown> => {
      for (const fd of fds) closeQuietly(fs, fd)
      if (Exit.isFailure(exit) || earlier === undefined) return settled(planned, appended, dirs, exit)
      return afterEarlier(exit)
    }
    return Effect.matchCauseEffect(synced, {
      onSuccess: () => afterSync(Exit.void),
      onFailure: (cause) => afterSync(Exit.failCause(cause))
    })
  }

  /**
   * The plan and the pack append, synchronous (either's failure is thrown), then the settle started: forked at once,
   * uninterruptible, in the scope (`Fiber.runIn`), so closing the scope waits for it (and every fd is closed). All in
   * the caller's step: nothing can interrupt it between the append and the fork (once appended, the batch is settled
   * whatever happens: an fd left open, a `sync` never completed would hold every later batch of the pack).
   */
  const startPutAll = (
    blobs: ReadonlyArray<Uint8Array>,
    stored: ReadonlyArray<string>,
    scope: Scope.Scope,
    context: Context.Context<never>
  ): { readonly hashes: ReadonlyArray<string>; readonly durable: Effect.Effect<void, unknown> } => {
    const hashes = blobs.map(sha256Hex)
    const planned = plan(blobs, hashes, stored)
    const appended = planned.fresh.size > 0 ? writer.append(planned.fresh) : undefined
    // started now: the fdatasync is issued already, the dir fsyncs are when the fiber first runs (at once)
    const fiber = Fiber.runIn(Effect.runForkWith(context)(settle(planned, appended), { uninterruptible: true }), scope)
    return { hashes, durable: Fiber.join(fiber) }
  }

  const putAllStarted = (
    blobs: ReadonlyArray<Uint8Array>,
    stored: ReadonlyArray<string> = []
  ): Effect.Effect<{ readonly hashes: ReadonlyArray<string>; readonly durable: Effect.Effect<void, unknown> }, unknown, Scope.Scope> =>
    Effect.flatMap(Scope.Scope, (scope) =>
      Effect.withFiber((fiber) => {
        try {
          return Effect.succeed(startPutAll(blobs, stored, scope, fiber.context))
        } catch (error) {
          return Effect.fail(error)
        }
      }))

  const putAll = (blobs: ReadonlyArray<Uint8Array>, stored: ReadonlyArray<string> = []) =>
    Effect.scoped(Effect.flatMap(putAllStarted(blobs, stored), ({ durable, hashes }) => Effect.as(durable, hashes)))

  return { has, get, putAll, putAllStarted, startPutAll }
}
