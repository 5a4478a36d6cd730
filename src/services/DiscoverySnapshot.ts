/**
 * The discovery snapshot, the way git's index spares it re-reading unchanged files: after a listing that changed
 * what discovery keeps (parsed marketplace files, plugin manifests, each with the `stat`s it was decided from), that
 * is written to `$CODEX_HOME/ledger/discovery.snapshot` in the background; the next process's discovery takes each
 * entry over while its `stat`s still match, one `stat` per file instead of an open, a read and a parse, and `serve`'s
 * first listing is answered from its listing fragments (ListingFragments.ts) while they do. Anything else (no file,
 * another build's, damaged, an entry whose files changed) is read from the files as before. No Effect dependency:
 * `serve`'s first listing, answered before the engine is loaded, uses it.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { codeStamp, DISCOVERY_SNAPSHOT_FILE, MAX_SNAPSHOT_BYTES, readSnapshotFile, writeSnapshotFile } from "../adapters/DiscoverySnapshotFile.ts"
import { encodeSnapshot, type SnapshotContent, type StoredContent, type StoredSnapshotEntry } from "../adapters/DiscoverySnapshotFormat.ts"
import type { MarketplaceFragment } from "../adapters/ListingFragmentFormat.ts"
import type { StoredObservation } from "../adapters/StatSignature.ts"
import type { PluginManifestInterface } from "../domain/Manifest.ts"
import type { Marketplace } from "../domain/Marketplace.ts"

/** At most this many manifests are written (the most recently read): about 24 MB with their listing fragments. */
export const MAX_SNAPSHOT_MANIFESTS = 10_000
export const MAX_SNAPSHOT_MARKETPLACES = 1_000

/** What a discovery keeps, as it stands now. */
export interface SnapshotSource {
  /** grows with every result kept or dropped (see `ListingCache.changes`) */
  readonly changes: () => number
  readonly content: () => SnapshotContent
}

export interface DiscoverySnapshot {
  /**
   * the listing fragment the snapshot has for a marketplace file (see ListingFragments.ts; read on first use), until a
   * cache takes from the snapshot (the first listing is over then, and the file's text is let go)
   */
  readonly storedListing: (path: string) => MarketplaceFragment<StoredObservation> | undefined
  /** the entry the snapshot has for a marketplace file, handed out once (decoded on first use) */
  readonly storedMarketplace: (path: string) => StoredSnapshotEntry<Marketplace> | undefined
  /** the same for the interface of a plugin root's manifest */
  readonly storedManifest: (root: string) => StoredSnapshotEntry<PluginManifestInterface | null> | undefined
  /** after a listing: `source` is written in the background if it changed since it was read or last written */
  readonly saveSoon: (source: SnapshotSource) => void
  /** resolves once no write is under way */
  readonly idle: () => Promise<void>
}

const isDirectory = (path: string): boolean => {
  try {
    return NodeFs.statSync(path, { throwIfNoEntry: false })?.isDirectory() === true
  } catch {
    return false
  }
}

const byKey = <V>(entries: ReadonlyArray<StoredSnapshotEntry<V>>): Map<string, StoredSnapshotEntry<V>> => {
  const map = new Map<string, StoredSnapshotEntry<V>>()
  for (const entry of entries) map.set(entry.key, entry)
  return map
}

/**
 * The snapshot of the ledger in `ledgerDir`: only entries whose files were older than `settleMs` when the snapshot
 * was written are taken over (younger ones could change again within their timestamps' resolution unseen).
 * The ledger directory is never created for it.
 */
export const makeDiscoverySnapshot = (ledgerDir: string, settleMs: number, now: () => number = Date.now): DiscoverySnapshot => {
  const file = NodePath.join(ledgerDir, DISCOVERY_SNAPSHOT_FILE)
  let content: StoredContent | undefined | null = null
  // once the caches take from it, the first listing is over: the file's text and its fragments are let go
  let released = false
  const read = (): StoredContent | undefined => {
    if (released) return undefined
    if (content === null) content = readSnapshotFile(file, now(), settleMs)
    return content
  }
  let listings: Map<string, MarketplaceFragment<StoredObservation>> | undefined
  let objects: {
    readonly marketplaces: Map<string, StoredSnapshotEntry<Marketplace>>
    readonly manifests: Map<string, StoredSnapshotEntry<PluginManifestInterface | null>>
  } | undefined
  const stored = () => {
    if (objects === undefined) {
      const decoded = read()?.objects()
      objects = { marketplaces: byKey(decoded?.marketplaces ?? []), manifests: byKey(decoded?.manifests ?? []) }
      released = true
      content = undefined
      listings = undefined
    }
    return objects
  }
  const take = <V>(map: Map<string, StoredSnapshotEntry<V>>, key: string): StoredSnapshotEntry<V> | undefined => {
    const entry = map.get(key)
    if (entry !== undefined) map.delete(key)
    return entry
  }

  // the change count the file on disk reflects: what was read is what the file holds
  let saved = 0
  let writing: Promise<void> | undefined
  let latest: SnapshotSource | undefined
  const writeOnce = async (source: SnapshotSource): Promise<void> => {
    saved = source.changes()
    if (!isDirectory(ledgerDir)) return
    const { marketplaces, manifests, listings: fragments } = source.content()
    const bytes = encodeSnapshot(
      {
        marketplaces: marketplaces.slice(-MAX_SNAPSHOT_MARKETPLACES),
        manifests: manifests.slice(-MAX_SNAPSHOT_MANIFESTS),
        listings: fragments.slice(-MAX_SNAPSHOT_MARKETPLACES)
      },
      { code: codeStamp(), writtenAtMs: now() }
    )
    if (bytes.length <= MAX_SNAPSHOT_BYTES) await writeSnapshotFile(file, bytes)
  }
  const saveSoon = (source: SnapshotSource): void => {
    latest = source
    if (writing !== undefined || source.changes() === saved) return
    // a moment later: the listing's answer goes out first
    writing = new Promise((resolve) => setTimeout(resolve, 0)).then(() => writeOnce(source)).then(
      () => {},
      // a cache, never fatal: the next listing that changes something tries again
      () => {}
    ).finally(() => {
      writing = undefined
      if (latest !== undefined && latest.changes() !== saved) saveSoon(latest)
    })
  }
  return {
    storedListing: (path) => {
      if (released) return undefined
      listings ??= new Map((read()?.listings ?? []).map((fragment) => [fragment.key, fragment]))
      return listings.get(path)
    },
    storedMarketplace: (path) => take(stored().marketplaces, path),
    storedManifest: (root) => take(stored().manifests, root),
    saveSoon,
    idle: async () => {
      while (writing !== undefined) await writing
    }
  }
}
