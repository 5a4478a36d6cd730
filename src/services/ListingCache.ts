import { isSettled, isUnchanged, type Observation, observeMatching, type StoredObservation } from "../adapters/StatSignature.ts"

/** A result computed from files, with the lookups it was decided from (undefined: never reuse it). */
export interface Computed<V> {
  readonly value: V
  readonly observations: ReadonlyArray<Observation> | undefined
}

/**
 * A file watcher standing in for the `stat`s: once every observed path is covered (each later change to it is
 * reported through `ListingCache.invalidate`), an entry that still holds is trusted and reused without looking.
 */
export interface CacheWatch {
  /** every later change to the observed path will be reported */
  readonly covers: (observation: Pick<Observation, "path" | "follow">) => boolean
  /** the paths of a kept entry, to be watched from now on */
  readonly track: (paths: ReadonlyArray<string>) => void
  /** paths no kept entry observes any more */
  readonly untrack: (paths: ReadonlyArray<string>) => void
}

/**
 * A `CacheWatch` for caches filled before the watch exists (`serve`'s first listing, answered before the engine is
 * loaded): it covers nothing and keeps what it is asked to track until `connect` hands that to the real watch, to
 * which it forwards everything from then on.
 */
export interface CacheWatchRelay extends CacheWatch {
  readonly connect: (target: CacheWatch) => void
}

export const makeCacheWatchRelay = (): CacheWatchRelay => {
  let target: CacheWatch | undefined
  const pending = new Set<string>()
  return {
    covers: (observation) => target?.covers(observation) ?? false,
    track: (paths) => {
      if (target !== undefined) return target.track(paths)
      for (const path of paths) pending.add(path)
    },
    untrack: (paths) => {
      if (target !== undefined) return target.untrack(paths)
      for (const path of paths) pending.delete(path)
    },
    connect: (watch) => {
      target = watch
      if (pending.size > 0) watch.track([...pending])
      pending.clear()
    }
  }
}

/** A result kept by an earlier process (the discovery snapshot), with the lookups it was decided from. */
export interface StoredEntry<V> {
  readonly value: V
  readonly observations: ReadonlyArray<StoredObservation>
}

/** A kept entry as it stands: what a snapshot of the cache records. */
export interface KeptEntry<V> {
  readonly key: string
  readonly value: V
  readonly observations: ReadonlyArray<Observation>
}

export interface ListingCacheOptions<V> {
  /** results depending on a timestamp this close to the time they were computed are not kept */
  readonly settleMs: number
  /** the oldest entries are dropped beyond this many */
  readonly maxEntries: number
  readonly watch?: CacheWatch
  /** asked on a miss: a result an earlier process kept, taken over (without computing) while its lookups hold */
  readonly stored?: (key: string) => StoredEntry<V> | undefined
}

const holds = (observations: ReadonlyArray<Observation>): boolean => {
  for (const observation of observations) if (!isUnchanged(observation)) return false
  return true
}

interface Entry<V> {
  readonly value: V
  readonly observations: ReadonlyArray<Observation>
  /** covered by the watch and seen unchanged since: reused without a `stat` until invalidated */
  trusted: boolean
}

/**
 * Results computed from files (a parsed marketplace, a plugin manifest), reused for as long as every file and
 * directory they were decided from looks exactly as it did. Revalidating costs one `stat`/`lstat` per observation,
 * unless a watch covers them (see `CacheWatch`).
 */
export class ListingCache<V> {
  private readonly entries = new Map<string, Entry<V>>()
  /** observed path -> keys of the entries that observed it (only with a watch) */
  private readonly byPath = new Map<string, Set<string>>()
  private readonly options: ListingCacheOptions<V>
  private changeCount = 0

  constructor(options: ListingCacheOptions<V>) {
    this.options = options
  }

  /** The value for `key`: the kept one while its observations still hold, else `compute(key)`'s (kept if settled). */
  get(key: string, nowMs: number, compute: (key: string) => Computed<V>): V {
    const kept = this.entries.get(key)
    if (kept !== undefined) {
      if (kept.trusted) return kept.value
      const check = this.revalidate(kept.observations)
      if (check !== "changed") {
        kept.trusted = check === "trusted"
        return kept.value
      }
    } else {
      const stored = this.options.stored?.(key)
      const adopted = stored === undefined ? undefined : this.adopt(stored)
      if (adopted !== undefined) {
        // taken over as it was kept, not a change: a snapshot of the cache would record it again as it is
        this.keep(key, adopted, false)
        return adopted.value
      }
    }
    const computed = compute(key)
    const observations = computed.observations
    if (observations !== undefined && observations.every((o) => isSettled(o, nowMs, this.options.settleMs))) {
      this.keep(key, { value: computed.value, observations, trusted: false }, true)
    } else {
      this.replace(key, undefined)
    }
    return computed.value
  }

  /**
   * The kept value for `key` while its observations still hold, without computing or taking over anything: undefined
   * otherwise. Always a `stat` per observation, even when the watch covers them: its event for a change made just
   * before may not have arrived yet, and a caller that must see every change (an install) cannot wait for it.
   */
  peek(key: string): V | undefined {
    const kept = this.entries.get(key)
    return kept !== undefined && holds(kept.observations) ? kept.value : undefined
  }

  /**
   * One `stat` per observation: `changed` when one no longer holds, else `trusted` when the watch covers them all
   * (reused without a `stat` from then on) or `holds`.
   */
  private revalidate(observations: ReadonlyArray<Observation>): "changed" | "holds" | "trusted" {
    // coverage first: a change after this point is reported, one before it shows in the stat that follows
    const watch = this.options.watch
    const covered = watch !== undefined && observations.every((o) => watch.covers(o))
    if (!holds(observations)) return "changed"
    return covered ? "trusted" : "holds"
  }

  /** A stored entry as a kept one, if every lookup still shows what it showed (one `stat` each). */
  private adopt(stored: StoredEntry<V>): Entry<V> | undefined {
    const watch = this.options.watch
    // coverage first, as in `revalidate`
    const covered = watch !== undefined && stored.observations.every((o) => watch.covers(o))
    const observations: Array<Observation> = []
    // an indexed loop: once per plugin of a first listing, in code not yet optimised (see `replace`)
    for (let i = 0; i < stored.observations.length; i++) {
      const storedObservation = stored.observations[i]
      const observation = storedObservation === undefined ? undefined : observeMatching(storedObservation)
      if (observation === undefined) return undefined
      observations.push(observation)
    }
    return { value: stored.value, observations, trusted: covered }
  }

  private keep(key: string, entry: Entry<V>, changed: boolean): void {
    this.replace(key, entry)
    if (changed) this.changeCount++
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.replace(oldest.value, undefined)
    }
  }

  /** Forgets every entry that observed `path` (a watch reported a change there). */
  invalidate(path: string): void {
    const keys = this.byPath.get(path)
    if (keys === undefined) return
    for (const key of [...keys]) this.replace(key, undefined)
  }

  /** Forgets everything (a watch can no longer vouch for what it covered). */
  clear(): void {
    for (const key of [...this.entries.keys()]) this.replace(key, undefined)
  }

  get size(): number {
    return this.entries.size
  }

  /** results computed and kept, or kept ones dropped, since the cache was made (taking over stored results is neither) */
  get changes(): number {
    return this.changeCount
  }

  /** The kept entries, oldest first. */
  keptEntries(): ReadonlyArray<KeptEntry<V>> {
    const kept: Array<KeptEntry<V>> = []
    for (const [key, entry] of this.entries) kept.push({ key, value: entry.value, observations: entry.observations })
    return kept
  }

  /** entries reused without a `stat` */
  get trustedSize(): number {
    let n = 0
    for (const entry of this.entries.values()) if (entry.trusted) n++
    return n
  }

  /** Sets (or removes) `key`'s entry, moving it last; paths still observed by the new entry stay tracked. */
  private replace(key: string, entry: Entry<V> | undefined): void {
    const old = this.entries.get(key)
    this.entries.delete(key)
    if (entry !== undefined) this.entries.set(key, entry)
    else if (old !== undefined) this.changeCount++
    const watch = this.options.watch
    if (watch === undefined) return
    // `forEach` and `some` over the (two or three) observations: this runs for every plugin of a first listing, in code
    // not yet optimised, where `for...of` and a set of the kept paths would be allocated for each
    const fresh: Array<string> = []
    entry?.observations.forEach(({ path }) => {
      let keys = this.byPath.get(path)
      if (keys === undefined) {
        this.byPath.set(path, keys = new Set())
        fresh.push(path)
      }
      keys.add(key)
    })
    const gone: Array<string> = []
    old?.observations.forEach(({ path }) => {
      if (entry?.observations.some((o) => o.path === path) === true) return
      const keys = this.byPath.get(path)
      if (keys === undefined) return
      keys.delete(key)
      if (keys.size === 0) {
        this.byPath.delete(path)
        gone.push(path)
      }
    })
    if (fresh.length > 0) watch.track(fresh)
    if (gone.length > 0) watch.untrack(gone)
  }
}
