/**
 * Which blob is where in the packs of one `blobs/packs/` dir, in memory: built on first use by scanning every pack's
 * records, told of this store's own appends as they are made, and brought up to date (`refresh`) when a lookup
 * misses, since other processes (and other stores of this one) append to their packs meanwhile.
 */
import * as Path from "node:path"
import type { Deferred } from "effect"
import { processAlive } from "./AtomicFile.ts"
import { type PackRecord, type PackScan, packWriter, scanPack } from "./BlobPack.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"

/** One pack file as this store knows it. */
export interface Pack {
  readonly path: string
  /** written by this store: never scanned (its records are added as they are appended) */
  readonly own: boolean
  /** the next scan starts here; `seen` is the size the last one found (a pack that has not grown is not read again) */
  scannedTo: number
  seen: number
  /** nothing at or after this byte is handed out: a record that is not valid, and all after it */
  limit: number
  /** its writer was gone before the last scan: it never grows again, so it is not looked at again */
  final: boolean
  /** bytes up to here were fsynced by this store (a pack another process wrote may hold records not yet durable) */
  synced: number
}

/** Where a blob is. `sync`: for a record this store appended, the outcome of the fdatasync that makes it durable. */
export interface Located {
  readonly pack: Pack
  readonly record: PackRecord
  readonly sync?: Deferred.Deferred<void, unknown>
}

export interface PackIndex {
  /** the blob's record: from memory, then after a refresh (the first lookup builds the index) */
  readonly locate: (hash: string) => Located | undefined
  /** from memory only, no I/O: records this store appended, and whatever the last scan found */
  readonly known: (hash: string) => Located | undefined
  readonly addOwn: (path: string) => Pack
  readonly add: (located: Located) => void
  /** forgets the records of `pack` from byte `at` on, and will not scan them again */
  readonly cut: (pack: Pack, at: number) => void
  /** forgets a pack that is gone (its file removed or replaced): found again by the next refresh if it is back */
  readonly forget: (pack: Pack) => void
}

export const makePackIndex = (fs: FsPort, packsDir: string): PackIndex => {
  const packs = new Map<string, Pack>()
  const blobs = new Map<string, Located>()
  /** where reads found a record that is not valid: kept when the index is built again */
  const limits = new Map<string, number>()
  let built = false

  /** false when the pack is gone */
  const scan = (pack: Pack): boolean => {
    let scanned: PackScan
    try {
      scanned = scanPack(fs, pack.path, pack.scannedTo, pack.limit)
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return false
      throw error
    }
    // this store's own copy is preferred: whether it is durable is known without an fsync
    for (const record of scanned.records) if (!blobs.has(record.hash)) blobs.set(record.hash, { pack, record })
    pack.scannedTo = scanned.next
    pack.seen = scanned.size
    if (scanned.stop === "bad") pack.limit = scanned.next
    return true
  }

  /** undefined when the pack is gone */
  const sizeOf = (path: string): number | undefined => {
    try {
      return fs.statSync(path).size
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return undefined
      throw error
    }
  }

  /** new packs are scanned whole; known ones only if their writer may still append and they grew */
  const refresh = (again = true): void => {
    let names: ReadonlyArray<string>
    try {
      names = fs.readdirSync(packsDir)
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error
      names = []
    }
    built = true
    let vanished = false
    for (const name of names) {
      const writer = packWriter(name)
      if (writer === undefined) continue
      const path = Path.join(packsDir, name)
      const known = packs.get(path)
      if (known !== undefined && (known.own || known.final || known.scannedTo >= known.limit)) continue
      // asked before the scan: a writer gone by then has appended everything it ever will
      const gone = !processAlive(writer)
      if (known !== undefined) {
        const size = sizeOf(path)
        if (size === known.seen) {
          known.final = gone
          continue
        }
        if (size === undefined) {
          vanished = true
          continue
        }
      }
      const pack = known ?? { path, own: false, scannedTo: 0, seen: 0, limit: limits.get(path) ?? Number.MAX_SAFE_INTEGER, final: false, synced: 0 }
      packs.set(path, pack)
      if (scan(pack)) pack.final = gone
      else vanished = true
    }
    // removed between the listing and the read (as a compaction would): what it held may be in another pack
    if (vanished && again) {
      rebuild()
      refresh(false)
    }
  }

  /**
   * Forgets what scans found (this store's own records stay), to be built again at the next lookup: after a record
   * turned out invalid or a pack went away, another pack may hold a copy the scans passed over.
   */
  const rebuild = (): void => {
    for (const [path, pack] of packs) if (!pack.own) packs.delete(path)
    for (const [hash, located] of blobs) if (!located.pack.own) blobs.delete(hash)
    built = false
  }

  return {
    locate: (hash) => {
      const fresh = !built
      if (fresh) refresh()
      const found = blobs.get(hash)
      if (found !== undefined || fresh) return found
      refresh()
      return blobs.get(hash)
    },
    known: (hash) => blobs.get(hash),
    addOwn: (path) => {
      const pack: Pack = { path, own: true, scannedTo: 0, seen: 0, limit: Number.MAX_SAFE_INTEGER, final: false, synced: 0 }
      packs.set(path, pack)
      return pack
    },
    add: (located) => {
      blobs.set(located.record.hash, located)
    },
    cut: (pack, at) => {
      pack.limit = Math.min(pack.limit, at)
      limits.set(pack.path, pack.limit)
      for (const [hash, located] of blobs) if (located.pack === pack && located.record.at >= at) blobs.delete(hash)
      rebuild()
    },
    forget: (pack) => {
      packs.delete(pack.path)
      for (const [hash, located] of blobs) if (located.pack === pack) blobs.delete(hash)
      rebuild()
    }
  }
}
