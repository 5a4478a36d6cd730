/**
 * The lookups (`Observation`s) of the discovery snapshot's entries as written and read back: `[path, follow,
 * signature]`, the path `+` and the rest of it when it is below the entry's key (written once, not three times: less
 * to parse), the signature as `signatureText` writes it, compared as text with a fresh look and never parsed, except
 * for its timestamps' settle check ("racily clean", as git says: see `settleMarginMs`).
 */
import { FINE_SETTLE_MS, type Observation, signatureText, type StoredObservation } from "./StatSignature.ts"

/** `+` for the key itself or `+/rest` below it; other (absolute) paths as they are. */
const pathBelow = (key: string, path: string): string =>
  path === key ? "+" : path.startsWith(key) && path.charCodeAt(key.length) === 0x2f ? `+${path.slice(key.length)}` : path

export const encodeObservations = (key: string, observations: ReadonlyArray<Observation>): Array<unknown> =>
  observations.map((o) => [pathBelow(key, o.path), o.follow, signatureText(o.signature)])

/** `a < b` for decimal texts without leading zeros (what `signatureText` writes; anything else never matches anyway). */
const decimalBelow = (a: string, b: string): boolean => a.length < b.length || (a.length === b.length && a < b)

/** the write time less the settle margins, in ns as decimal texts: for whole-second timestamps and for finer ones */
export interface Limits {
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
export const decodeObservations = (key: string, value: unknown, limits: Limits): ReadonlyArray<StoredObservation> | "malformed" | "unsettled" => {
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

/** The limits for a snapshot written at `writtenAtMs`, with `settleMs` for whole-second timestamps. */
export const settleLimits = (writtenAtMs: number, settleMs: number): Limits => {
  const limit = (marginMs: number) => (BigInt(Math.max(0, writtenAtMs - marginMs)) * 1_000_000n).toString()
  return { coarse: limit(settleMs), fine: limit(Math.min(settleMs, FINE_SETTLE_MS)) }
}
