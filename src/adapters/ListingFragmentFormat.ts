/**
 * The listing fragments of the discovery snapshot (see DiscoverySnapshotFormat.ts and, for what they are,
 * ListingFragments.ts in services): for each marketplace file, its `plugin/list` JSON up to its plugins, and for each
 * of its entries the plugin id and, when listed, the summary's JSON split where the plugin's state goes in (or null
 * when the manifest was not read: an entry another file's entry of the same id hid). An index, in JSON:
 *
 *   [[path, observations, [[id] | [id, null] | [id, pluginRoot, observations], …]], …]
 *
 * and the JSON texts themselves as pieces, in the same order (each marketplace's head, then each of its summaries'
 * head and tail), kept out of the index so that they are not escaped and unescaped: they hold no newline (JSON text
 * does not), so the file keeps them one per line. Decoding checks every type and that the pieces are as many as the
 * index names; a fragment with a lookup too young to be trusted is dropped alone.
 */
import { decodeObservations, encodeObservations, type Limits } from "./SnapshotObservations.ts"
import type { Observation, StoredObservation } from "./StatSignature.ts"

/** A listed entry's summary, `O` its lookups (`Observation` when written, `StoredObservation` when read back). */
export interface SummaryFragment<O> {
  /** the plugin root whose manifest's interface is in the summary */
  readonly root: string
  /** what that manifest's interface was decided from */
  readonly observations: ReadonlyArray<O>
  /** the summary's JSON before `"installed":` */
  readonly head: string
  /** the summary's JSON after `"enabled":<bool>,` */
  readonly tail: string
}

export interface EntryFragment<O> {
  readonly id: string
  /** false: `policy.products` hides it */
  readonly listed: boolean
  /** undefined for a listed entry: its manifest is not known (its listing must be loaded) */
  readonly summary: SummaryFragment<O> | undefined
}

export interface MarketplaceFragment<O> {
  /** the marketplace file */
  readonly key: string
  readonly observations: ReadonlyArray<O>
  /** the marketplace's JSON up to its plugins' `[` */
  readonly head: string
  readonly entries: ReadonlyArray<EntryFragment<O>>
}

/** The index (JSON) and the pieces of `fragments`. */
export const encodeFragments = (
  fragments: ReadonlyArray<MarketplaceFragment<Observation>>
): { readonly index: Array<unknown>; readonly pieces: Array<string> } => {
  const pieces: Array<string> = []
  const index = fragments.map((fragment) => {
    pieces.push(fragment.head)
    return [
      fragment.key,
      encodeObservations(fragment.key, fragment.observations),
      fragment.entries.map(({ id, listed, summary }) => {
        if (!listed) return [id]
        if (summary === undefined) return [id, null]
        pieces.push(summary.head, summary.tail)
        return [id, summary.root, encodeObservations(summary.root, summary.observations)]
      })
    ]
  })
  return { index, pieces }
}

const isAbsolute = (value: unknown): value is string => typeof value === "string" && value.startsWith("/")

/** the pieces not taken yet */
interface Pieces {
  readonly all: ReadonlyArray<string>
  next: number
}

const take = (pieces: Pieces): string | undefined => pieces.all[pieces.next++]

const decodeEntry = (value: unknown, limits: Limits, pieces: Pieces): EntryFragment<StoredObservation> | "malformed" | "unsettled" => {
  if (!Array.isArray(value)) return "malformed"
  const id: unknown = value[0]
  if (typeof id !== "string") return "malformed"
  if (value.length === 1) return { id, listed: false, summary: undefined }
  if (value.length === 2) return value[1] === null ? { id, listed: true, summary: undefined } : "malformed"
  if (value.length !== 3) return "malformed"
  const root: unknown = value[1]
  const head = take(pieces)
  const tail = take(pieces)
  if (!isAbsolute(root) || head === undefined || tail === undefined) return "malformed"
  const observations = decodeObservations(root, value[2], limits)
  if (typeof observations === "string") return observations
  return { id, listed: true, summary: { root, observations, head, tail } }
}

const decodeFragment = (value: unknown, limits: Limits, pieces: Pieces): MarketplaceFragment<StoredObservation> | "malformed" | "unsettled" => {
  if (!Array.isArray(value) || value.length !== 3) return "malformed"
  const key: unknown = value[0]
  const rawEntries: unknown = value[2]
  const head = take(pieces)
  if (!isAbsolute(key) || head === undefined || !Array.isArray(rawEntries)) return "malformed"
  const observations = decodeObservations(key, value[1], limits)
  if (observations === "malformed") return "malformed"
  let settled = observations !== "unsettled"
  const entries: Array<EntryFragment<StoredObservation>> = []
  // an indexed loop: once per plugin, in code not yet optimised (see SnapshotValues.ts)
  for (let i = 0; i < rawEntries.length; i++) {
    const entry = decodeEntry(rawEntries[i], limits, pieces)
    if (entry === "malformed") return "malformed"
    if (entry === "unsettled") settled = false
    else entries.push(entry)
  }
  return settled && observations !== "unsettled" ? { key, observations, head, entries } : "unsettled"
}

/** The fragments of `index` and `pieces` (settled ones), or undefined when anything is malformed or left over. */
export const decodeFragments = (
  index: unknown,
  pieces: ReadonlyArray<string>,
  limits: Limits
): ReadonlyArray<MarketplaceFragment<StoredObservation>> | undefined => {
  if (!Array.isArray(index)) return undefined
  const cursor: Pieces = { all: pieces, next: 0 }
  const fragments: Array<MarketplaceFragment<StoredObservation>> = []
  for (let i = 0; i < index.length; i++) {
    const fragment = decodeFragment(index[i], limits, cursor)
    if (fragment === "malformed") return undefined
    if (fragment !== "unsettled") fragments.push(fragment)
  }
  return cursor.next === pieces.length ? fragments : undefined
}
