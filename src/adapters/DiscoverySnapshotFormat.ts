/**
 * The bytes of the discovery snapshot (see DiscoverySnapshotFile.ts): a header line, then the body: the listing
 * fragments' index, read at once, what the listing cache keeps, read when a cache first asks for it (`serve`'s first
 * listing, when the fragments serve it whole, never does), then the fragments' pieces, one per line
 * (ListingFragmentFormat.ts).
 *
 *   {"format":"plugin-ledger discovery snapshot","version":3,"code":"…","writtenAtMs":…,"bytes":…,"crc32":…}
 *   [[path, observations, entries], …]
 *   {"marketplaces":[[path, observations, marketplace], …],"manifests":[[pluginRoot, observations, interface | null], …]}
 *   {"name":"…","path":"…","interface":…,"plugins":[
 *   …
 *
 * Observations as SnapshotObservations.ts writes them. `code` names the program that decoded the values (a change to
 * the decoders changes it); `bytes` and `crc32` cover the body.
 * Decoding refuses the whole file for any doubt about it (other format, version or code, a body that is short,
 * damaged or of another shape, a write time in the future) and drops each entry whose files changed too close to the
 * write time for their timestamps to show a later change ("racily clean", as git says).
 */
import * as Zlib from "node:zlib"
import type { PluginManifestInterface } from "../domain/Manifest.ts"
import type { Marketplace } from "../domain/Marketplace.ts"
import { isManifestInterface, isMarketplaceAt } from "./SnapshotValues.ts"
import { decodeFragments, encodeFragments, type MarketplaceFragment } from "./ListingFragmentFormat.ts"
import { decodeObservations, encodeObservations, type Limits, settleLimits } from "./SnapshotObservations.ts"
import type { Observation, StoredObservation } from "./StatSignature.ts"

const FORMAT = "plugin-ledger discovery snapshot"
/** changed whenever the layout of the file or of the values in it changes */
const VERSION = 3

/** A result discovery kept, to be written. */
export interface SnapshotEntry<V> {
  readonly key: string
  readonly value: V
  readonly observations: ReadonlyArray<Observation>
}

/** A result as read back: its lookups still to be compared with fresh ones. */
export interface StoredSnapshotEntry<V> {
  readonly key: string
  readonly value: V
  readonly observations: ReadonlyArray<StoredObservation>
}

/**
 * What discovery kept: parsed marketplace files, and the interface of each plugin's manifest (null: none, or no valid
 * manifest; a negative entry).
 */
export interface SnapshotContent {
  readonly marketplaces: ReadonlyArray<SnapshotEntry<Marketplace>>
  readonly manifests: ReadonlyArray<SnapshotEntry<PluginManifestInterface | null>>
  readonly listings: ReadonlyArray<MarketplaceFragment<Observation>>
}

/** What the listing cache keeps, as read back. */
export interface StoredObjects {
  readonly marketplaces: ReadonlyArray<StoredSnapshotEntry<Marketplace>>
  readonly manifests: ReadonlyArray<StoredSnapshotEntry<PluginManifestInterface | null>>
}

export interface StoredContent {
  readonly listings: ReadonlyArray<MarketplaceFragment<StoredObservation>>
  /** decoded on first call (undefined: of the wrong shape) */
  readonly objects: () => StoredObjects | undefined
}

export interface SnapshotHeader {
  /** the program's stamp (`codeStamp`) */
  readonly code: string
  readonly writtenAtMs: number
}

const encodeEntries = <V>(entries: ReadonlyArray<SnapshotEntry<V>>): Array<unknown> =>
  entries.map((entry) => [
    entry.key,
    encodeObservations(entry.key, entry.observations),
    entry.value
  ])

export const encodeSnapshot = (content: SnapshotContent, header: SnapshotHeader): Buffer => {
  const objects = { marketplaces: encodeEntries(content.marketplaces), manifests: encodeEntries(content.manifests) }
  const { index, pieces } = encodeFragments(content.listings)
  const body = Buffer.from([JSON.stringify(index), JSON.stringify(objects), ...pieces].join("\n"))
  const head = { format: FORMAT, version: VERSION, ...header, bytes: body.length, crc32: Zlib.crc32(body) }
  return Buffer.concat([Buffer.from(`${JSON.stringify(head)}\n`), body])
}

/** what `fromJson` returns for a value of the wrong shape */
const INVALID: unique symbol = Symbol("invalid")

const decodeEntries = <V>(
  value: unknown,
  limits: Limits,
  fromJson: (key: string, value: unknown) => V | typeof INVALID
): Array<StoredSnapshotEntry<V>> | undefined => {
  if (!Array.isArray(value)) return undefined
  const entries: Array<StoredSnapshotEntry<V>> = []
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i]
    if (!Array.isArray(item) || item.length !== 3) return undefined
    const key: unknown = item[0]
    const rawObservations: unknown = item[1]
    const rawValue: unknown = item[2]
    if (typeof key !== "string" || !key.startsWith("/")) return undefined
    const decoded = fromJson(key, rawValue)
    if (decoded === INVALID) return undefined
    const observations = decodeObservations(key, rawObservations, limits)
    if (observations === "malformed") return undefined
    // an entry too young to be trusted is dropped, the rest of the file still serves
    if (observations !== "unsettled") entries.push({ key, value: decoded, observations })
  }
  return entries
}

const marketplaceFromJson = (key: string, value: unknown): Marketplace | typeof INVALID => (isMarketplaceAt(key, value) ? value : INVALID)

const manifestFromJson = (_key: string, value: unknown): PluginManifestInterface | null | typeof INVALID =>
  value === null || isManifestInterface(value) ? value : INVALID

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const isFields = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The snapshot in `bytes` when it is whole, of this format and version, and written by the program `code` no later
 * than `nowMs`; only entries whose timestamps are older than the settle margin (`settleMarginMs` of `settleMs`) before
 * its write time.
 */
export const decodeSnapshot = (
  bytes: Buffer,
  expected: { readonly code: string; readonly nowMs: number; readonly settleMs: number }
): StoredContent | undefined => {
  const newline = bytes.indexOf(0x0a)
  if (newline < 0) return undefined
  const head = parseJson(bytes.subarray(0, newline).toString("utf8"))
  if (!isFields(head) || head["format"] !== FORMAT || head["version"] !== VERSION || head["code"] !== expected.code) return undefined
  const { writtenAtMs, bytes: length, crc32 } = head
  // written "later than now": the clock went back, and timestamps can no longer be compared with it
  if (typeof writtenAtMs !== "number" || !Number.isSafeInteger(writtenAtMs) || writtenAtMs > expected.nowMs) return undefined
  const body = bytes.subarray(newline + 1)
  if (body.length !== length || Zlib.crc32(body) !== crc32) return undefined
  // the objects line stays bytes until a cache asks for it
  const first = body.indexOf(0x0a)
  if (first < 0) return undefined
  const second = body.indexOf(0x0a, first + 1)
  const objectsBytes = body.subarray(first + 1, second < 0 ? body.length : second)
  const pieces = second < 0 ? [] : body.subarray(second + 1).toString("utf8").split("\n")
  const limits = settleLimits(writtenAtMs, expected.settleMs)
  const listings = decodeFragments(parseJson(body.subarray(0, first).toString("utf8")), pieces, limits)
  if (listings === undefined) return undefined
  let objects: StoredObjects | undefined | null = null
  return {
    listings,
    objects: () => {
      if (objects !== null) return objects
      const parsed = parseJson(objectsBytes.toString("utf8"))
      const marketplaces = isFields(parsed) ? decodeEntries(parsed["marketplaces"], limits, marketplaceFromJson) : undefined
      const manifests = isFields(parsed) ? decodeEntries(parsed["manifests"], limits, manifestFromJson) : undefined
      objects = marketplaces === undefined || manifests === undefined ? undefined : { marketplaces, manifests }
      return objects
    }
  }
}
