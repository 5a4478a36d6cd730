import { isSettled, isUnchanged, type Observation } from "../adapters/StatSignature.ts"

/** A result computed from files, with the lookups it was decided from (undefined: never reuse it). */
export interface Computed<V> {
  readonly value: V
  readonly observations: ReadonlyArray<Observation> | undefined
}

export interface ListingCacheOptions {
  /** results depending on a timestamp this close to the time they were computed are not kept */
  readonly settleMs: number
  /** the oldest entries are dropped beyond this many */
  readonly maxEntries: number
}

const holds = (observations: ReadonlyArray<Observation>): boolean => {
  for (const observation of observations) if (!isUnchanged(observation)) return false
  return true
}

interface Entry<V> {
  readonly value: V
  readonly observations: ReadonlyArray<Observation>
}

/**
 * Results computed from files (a parsed marketplace, a plugin manifest), reused for as long as every file and
 * directory they were decided from looks exactly as it did. Revalidating costs one `stat`/`lstat` per observation.
 */
export class ListingCache<V> {
  private readonly entries = new Map<string, Entry<V>>()
  private readonly options: ListingCacheOptions

  constructor(options: ListingCacheOptions) {
    this.options = options
  }

  /** The value for `key`: the kept one while its observations still hold, else `compute(key)`'s (kept if settled). */
  get(key: string, nowMs: number, compute: (key: string) => Computed<V>): V {
    const kept = this.entries.get(key)
    if (kept !== undefined && holds(kept.observations)) return kept.value
    const computed = compute(key)
    const observations = computed.observations
    if (observations !== undefined && observations.every((o) => isSettled(o, nowMs, this.options.settleMs))) {
      this.entries.delete(key)
      this.entries.set(key, { value: computed.value, observations })
      if (this.entries.size > this.options.maxEntries) {
        const oldest = this.entries.keys().next()
        if (oldest.done !== true) this.entries.delete(oldest.value)
      }
    } else {
      this.entries.delete(key)
    }
    return computed.value
  }

  get size(): number {
    return this.entries.size
  }
}
