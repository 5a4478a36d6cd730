/**
 * The listing fragments of the discovery snapshot (its second line; see DiscoverySnapshotFormat.ts and, for what they
 * are, ListingFragments.ts in services): for each marketplace file, its `plugin/list` JSON up to its plugins, and for
 * each of its entries the plugin id and, when listed, the summary's JSON split where the plugin's state goes in (or
 * null when the manifest was not read: an entry another file's entry of the same id hid).
 *
 *   [[path, observations, head, [[id] | [id, null] | [id, pluginRoot, observations, summaryHead, summaryTail], …]], …]
 *
 * Decoding checks every type; a fragment with a lookup too young to be trusted is dropped alone.
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

export const encodeFragments = (fragments: ReadonlyArray<MarketplaceFragment<Observation>>): Array<unknown> =>
  fragments.map((fragment) => [
    fragment.key,
    encodeObservations(fragment.key, fragment.observations),
    fragment.head,
    fragment.entries.map(({ id, listed, summary }) =>
      !listed ? [id] : summary === undefined ? [id, null] : [id, summary.root, encodeObservations(summary.root, summary.observations), summary.head, summary.tail]
    )
  ])

const isAbsolute = (value: unknown): value is string => typeof value === "string" && value.startsWith("/")

const decodeEntry = (value: unknown, limits: Limits): EntryFragment<StoredObservation> | "malformed" | "unsettled" => {
  if (!Array.isArray(value)) return "malformed"
  const id: unknown = value[0]
  if (typeof id !== "string") return "malformed"
  if (value.length === 1) return { id, listed: false, summary: undefined }
  if (value.length === 2) return value[1] === null ? { id, listed: true, summary: undefined } : "malformed"
  if (value.length !== 5) return "malformed"
  const root: unknown = value[1]
  const head: unknown = value[3]
  const tail: unknown = value[4]
  if (!isAbsolute(root) || typeof head !== "string" || typeof tail !== "string") return "malformed"
  const observations = decodeObservations(root, value[2], limits)
  if (typeof observations === "string") return observations
  return { id, listed: true, summary: { root, observations, head, tail } }
}

const decodeFragment = (value: unknown, limits: Limits): MarketplaceFragment<StoredObservation> | "malformed" | "unsettled" => {
  if (!Array.isArray(value) || value.length !== 4) return "malformed"
  const key: unknown = value[0]
  const head: unknown = value[2]
  const rawEntries: unknown = value[3]
  if (!isAbsolute(key) || typeof head !== "string" || !Array.isArray(rawEntries)) return "malformed"
  const observations = decodeObservations(key, value[1], limits)
  if (observations === "malformed") return "malformed"
  let settled = observations !== "unsettled"
  const entries: Array<EntryFragment<StoredObservation>> = []
  // an indexed loop: once per plugin, in code not yet optimised (see SnapshotValues.ts)
  for (let i = 0; i < rawEntries.length; i++) {
    const entry = decodeEntry(rawEntries[i], limits)
    if (entry === "malformed") return "malformed"
    if (entry === "unsettled") settled = false
    else entries.push(entry)
  }
  return settled && observations !== "unsettled" ? { key, observations, head, entries } : "unsettled"
}

/** The fragments in `value` (settled ones), or undefined when anything in it is malformed. */
export const decodeFragments = (value: unknown, limits: Limits): ReadonlyArray<MarketplaceFragment<StoredObservation>> | undefined => {
  if (!Array.isArray(value)) return undefined
  const fragments: Array<MarketplaceFragment<StoredObservation>> = []
  for (let i = 0; i < value.length; i++) {
    const fragment = decodeFragment(value[i], limits)
    if (fragment === "malformed") return undefined
    if (fragment !== "unsettled") fragments.push(fragment)
  }
  return fragments
}
