/**
 * The bytes of the discovery snapshot (see DiscoverySnapshotFile.ts): a header line, then the body, both JSON.
 *
 *   {"format":"plugin-ledger discovery snapshot","version":1,"code":"…","writtenAtMs":…,"bytes":…,"crc32":…}
 *   {"marketplaces":[[path, observations, marketplace], …],"manifests":[[pluginRoot, observations, interface | null], …]}
 *
 * An observation is `[path, follow, signature]`, the path `+` and the rest of it when it is below the entry's key
 * (written once, not three times: less to parse), the signature as `signatureText` writes it (`"<kind> <dev> <ino>
 * <size> <mtimeNs> <ctimeNs>"` or `"!<error code>"`): it is compared as text with a fresh look, never parsed. `code`
 * names the program that decoded the values (a change to the decoders changes it); `bytes` and `crc32` cover the body.
 * Decoding refuses the whole file for any doubt about it (other format, version or code, a body that is short,
 * damaged or of another shape, a write time in the future) and drops each entry whose files changed too close to the
 * write time for their timestamps to show a later change ("racily clean", as git says).
 */
import * as Zlib from "node:zlib"
import type { PluginManifestInterface } from "../domain/Manifest.ts"
import type { Marketplace } from "../domain/Marketplace.ts"
import { isManifestInterface, isMarketplaceAt } from "./SnapshotValues.ts"
import { FINE_SETTLE_MS, type Observation, signatureText, type StoredObservation } from "./StatSignature.ts"

const FORMAT = "plugin-ledger discovery snapshot"
/** changed whenever the layout of the file or of the values in it changes */
const VERSION = 1

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
}

export interface StoredContent {
  readonly marketplaces: ReadonlyArray<StoredSnapshotEntry<Marketplace>>
  readonly manifests: ReadonlyArray<StoredSnapshotEntry<PluginManifestInterface | null>>
}

export interface SnapshotHeader {
  /** the program's stamp (`codeStamp`) */
  readonly code: string
  readonly writtenAtMs: number
}

/** `+` for the key itself or `+/rest` below it; other (absolute) paths as they are. */
const pathBelow = (key: string, path: string): string =>
  path === key ? "+" : path.startsWith(key) && path.charCodeAt(key.length) === 0x2f ? `+${path.slice(key.length)}` : path

const encodeEntries = <V>(entries: ReadonlyArray<SnapshotEntry<V>>): Array<unknown> =>
  entries.map((entry) => [
    entry.key,
    entry.observations.map((o) => [pathBelow(entry.key, o.path), o.follow, signatureText(o.signature)]),
    entry.value
  ])

export const encodeSnapshot = (content: SnapshotContent, header: SnapshotHeader): Buffer => {
  const body = Buffer.from(JSON.stringify({ marketplaces: encodeEntries(content.marketplaces), manifests: encodeEntries(content.manifests) }))
  const head = { format: FORMAT, version: VERSION, ...header, bytes: body.length, crc32: Zlib.crc32(body) }
  return Buffer.concat([Buffer.from(`${JSON.stringify(head)}\n`), body])
}

/** `a < b` for decimal texts without leading zeros (what `signatureText` writes; anything else never matches anyway). */
const decimalBelow = (a: string, b: string): boolean => a.length < b.length || (a.length === b.length && a < b)

/** the write time less the settle margins, in ns as decimal texts: for whole-second timestamps and for finer ones */
interface Limits {
  readonly coarse: string
  readonly fine: string
}

const WHOLE_SECOND = "000000000"

/**
 * The signature's timestamps (its last two fields) are both before the limit for their resolution (`settleMarginMs`:
 * whole seconds both, or not).
 */
const settledBefore = (signature: string, limits: Limits): boolean => {
  if (signature.startsWith("!")) return true
  const last = signature.lastIndexOf(" ")
  const before = signature.lastIndexOf(" ", last - 1)
  if (before <= 0) return false
  const mtime = signature.slice(before + 1, last)
  const ctime = signature.slice(last + 1)
  const whole = (mtime === "0" || mtime.endsWith(WHOLE_SECOND)) && (ctime === "0" || ctime.endsWith(WHOLE_SECOND))
  const limit = whole ? limits.coarse : limits.fine
  return decimalBelow(mtime, limit) && decimalBelow(ctime, limit)
}

/** The observations of an entry; `unsettled` when a timestamp is not before its limit. */
const decodeObservations = (key: string, value: unknown, limits: Limits): ReadonlyArray<StoredObservation> | "malformed" | "unsettled" => {
  if (!Array.isArray(value) || value.length === 0) return "malformed"
  const observations: Array<StoredObservation> = []
  let settled = true
  // indexed loops, no destructuring: once per plugin, in code not yet optimised (see SnapshotValues.ts)
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i]
    if (!Array.isArray(item) || item.length !== 3) return "malformed"
    const written: unknown = item[0]
    const follow: unknown = item[1]
    const signature: unknown = item[2]
    if (typeof written !== "string" || typeof follow !== "boolean" || typeof signature !== "string") return "malformed"
    const path = written.startsWith("+") ? `${key}${written.slice(1)}` : written
    if (!path.startsWith("/")) return "malformed"
    if (!settledBefore(signature, limits)) settled = false
    observations.push({ path, follow, signature })
  }
  return settled ? observations : "unsettled"
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
  const parsed = parseJson(body.toString("utf8"))
  if (!isFields(parsed)) return undefined
  const limit = (marginMs: number) => (BigInt(Math.max(0, writtenAtMs - marginMs)) * 1_000_000n).toString()
  const limits = { coarse: limit(expected.settleMs), fine: limit(Math.min(expected.settleMs, FINE_SETTLE_MS)) }
  const marketplaces = decodeEntries(parsed["marketplaces"], limits, marketplaceFromJson)
  const manifests = decodeEntries(parsed["manifests"], limits, manifestFromJson)
  return marketplaces === undefined || manifests === undefined ? undefined : { marketplaces, manifests }
}
