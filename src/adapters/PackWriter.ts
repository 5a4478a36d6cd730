/**
 * The pack one blob store appends to: created at its first blob (`O_APPEND | O_CREAT | O_EXCL`, named after this
 * process), then every batch is one write at its end and one `fdatasync`, issued at once on the thread pool. Only
 * this store writes to it, so writes never interleave; when a write or an fdatasync fails, the store stops using it
 * (what it held before stays readable) and the next batch starts a new pack.
 */
import * as Path from "node:path"
import { Deferred, Exit } from "effect"
import { closeQuietly, makeDirs, writeAll } from "./AtomicFile.ts"
import { type FsyncQueue, makeFsyncQueue } from "./FsyncQueue.ts"
import { encodeRecord, newPackName, PACK_MAGIC, type PackRecord } from "./BlobPack.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"
import type { Pack, PackIndex } from "./PackIndex.ts"

interface Writing {
  readonly pack: Pack
  /** its size: the next batch goes there */
  length: number
  /** how the last batch's fdatasync went: a batch counts as durable only if every one before it in the pack is */
  last: Deferred.Deferred<void, unknown> | undefined
}

/** One append: written, its fdatasync issued on `queue` (the caller settles the queue, then closes `fd`). */
export interface Appended {
  readonly writing: Writing
  readonly fd: number
  readonly queue: FsyncQueue
  readonly start: number
  /** completed by `settled`; the records of the batch are in the index with it */
  readonly sync: Deferred.Deferred<void, unknown>
  readonly before: Deferred.Deferred<void, unknown> | undefined
  /** a new pack: `packs/` and any dir made for it, whose fsyncs make the pack's name durable */
  readonly dirs: ReadonlyArray<string>
}

export interface PackWriter {
  /** writes the blobs (by hash) at the end of the pack in one write and issues its fdatasync; throws the fs error */
  readonly append: (fresh: ReadonlyMap<string, Uint8Array>) => Appended
  /** how the batch's durability went; after a failure the pack is no longer appended to */
  readonly settled: (appended: Appended, exit: Exit.Exit<void, unknown>) => Exit.Exit<void, unknown>
}

export const makePackWriter = (fs: FsPort, packsDir: string, index: PackIndex): PackWriter => {
  let writing: Writing | undefined

  /** Stops appending to the pack and forgets its records from `start` on: their durability is unknown. */
  const abandon = (target: Writing, start: number): void => {
    if (writing === target) writing = undefined
    index.cut(target.pack, start)
  }

  const open = (): { readonly target: Writing; readonly fd: number; readonly dirs: ReadonlyArray<string> } => {
    const target = writing
    if (target !== undefined) {
      try {
        // not O_APPEND | O_CREAT: a pack removed under this store is noticed here, not made again without its header
        return { target, fd: fs.openSync(target.pack.path, "r+"), dirs: [] }
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error
        // gone (removed by hand, say): its records with it, and the batch goes to a new pack
        writing = undefined
        index.forget(target.pack)
      }
    }
    const path = Path.join(packsDir, newPackName())
    const dirs = [packsDir]
    const create = (): number => fs.openSync(path, "ax", 0o644)
    let fd: number
    try {
      fd = create()
    } catch (error) {
      // `packs/` is there but for the first pack of a ledger: made only when the create finds it missing
      if (errnoCode(error) !== "ENOENT") throw error
      dirs.push(...makeDirs(fs, packsDir))
      fd = create()
    }
    writing = { pack: index.addOwn(path), length: 0, last: undefined }
    return { target: writing, fd, dirs }
  }

  const append = (fresh: ReadonlyMap<string, Uint8Array>): Appended => {
    const { target, fd, dirs } = open()
    const start = target.length
    const parts: Array<Uint8Array> = start === 0 ? [PACK_MAGIC] : []
    let at = start + (start === 0 ? PACK_MAGIC.length : 0)
    const records: Array<PackRecord> = []
    for (const [hash, bytes] of fresh) {
      const encoded = encodeRecord(hash, bytes)
      const header = encoded[0]?.length ?? 0
      records.push({ hash, at, offset: at + header, size: bytes.length })
      parts.push(...encoded)
      at += header + bytes.length + 1
    }
    try {
      writeAll(fs, fd, Buffer.concat(parts), start)
    } catch (error) {
      // best effort, so that what a failed write left (ENOSPC: part of it) is not there for others to read
      try {
        if (start === 0) fs.unlinkSync(target.pack.path)
        else fs.ftruncateSync(fd, start)
      } catch {
        // a torn last record it stays: readers stop before it, and nobody appends to this pack again
      }
      closeQuietly(fs, fd)
      abandon(target, start)
      throw error
    }
    target.length = at
    const queue = makeFsyncQueue(fs)
    queue.startData(fd)
    const sync = Deferred.makeUnsafe<void, unknown>()
    const before = target.last
    target.last = sync
    for (const record of records) index.add({ pack: target.pack, record, sync })
    return { writing: target, fd, queue, start, sync, before, dirs }
  }

  const settled = (appended: Appended, exit: Exit.Exit<void, unknown>): Exit.Exit<void, unknown> => {
    Deferred.doneUnsafe(appended.sync, exit)
    if (Exit.isFailure(exit)) abandon(appended.writing, appended.start)
    return exit
  }

  return { append, settled }
}
