/**
 * What one `stat`/`lstat` of a path saw, so that a result computed from files can be reused while every file and
 * directory it depends on still looks exactly the same: same device, inode, type, size, mtime and ctime (in
 * nanoseconds), or still the same error (`ENOENT`, `ENOTDIR`, ...).
 */
import * as NodeFs from "node:fs"
import { errnoCode } from "./FsPort.ts"

export type EntryKind = "file" | "directory" | "symlink" | "other"

export type Signature =
  | {
    readonly _tag: "Entry"
    readonly kind: EntryKind
    readonly dev: bigint
    readonly ino: bigint
    readonly size: bigint
    readonly mtimeNs: bigint
    readonly ctimeNs: bigint
  }
  | { readonly _tag: "Missing"; readonly code: string }

/** One look at `path`: `stat` when `follow`, else `lstat` (a symlink is then seen as itself). */
export interface Observation {
  readonly path: string
  readonly follow: boolean
  readonly signature: Signature
}

const kindOf = (stats: NodeFs.BigIntStats): EntryKind =>
  stats.isFile() ? "file" : stats.isDirectory() ? "directory" : stats.isSymbolicLink() ? "symlink" : "other"

const STAT_OPTIONS = { bigint: true, throwIfNoEntry: false } as const

/** `stat`/`lstat` of `path`, or the error code; never throws. */
const look = (path: string, follow: boolean): NodeFs.BigIntStats | string => {
  try {
    return (follow ? NodeFs.statSync(path, STAT_OPTIONS) : NodeFs.lstatSync(path, STAT_OPTIONS)) ?? "ENOENT"
  } catch (error) {
    return errnoCode(error) ?? "EUNKNOWN"
  }
}

/** `stat`/`lstat` of `path` as a signature; never throws. */
export const signatureOf = (path: string, follow: boolean): Signature => {
  const stats = look(path, follow)
  if (typeof stats === "string") return { _tag: "Missing", code: stats }
  return {
    _tag: "Entry",
    kind: kindOf(stats),
    dev: stats.dev,
    ino: stats.ino,
    size: stats.size,
    mtimeNs: stats.mtimeNs,
    ctimeNs: stats.ctimeNs
  }
}

export const observe = (path: string, follow: boolean): Observation => ({ path, follow, signature: signatureOf(path, follow) })

export const sameSignature = (a: Signature, b: Signature): boolean => {
  if (a._tag === "Missing") return b._tag === "Missing" && a.code === b.code
  if (b._tag === "Missing") return false
  return a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.size === b.size && a.dev === b.dev &&
    a.kind === b.kind
}

/** The path still looks exactly as it did when `observation` was made (it runs for every kept file on every list). */
export const isUnchanged = (observation: Observation): boolean => {
  const stats = look(observation.path, observation.follow)
  const was = observation.signature
  if (typeof stats === "string") return was._tag === "Missing" && was.code === stats
  return was._tag === "Entry" && was.ino === stats.ino && was.mtimeNs === stats.mtimeNs && was.ctimeNs === stats.ctimeNs &&
    was.size === stats.size && was.dev === stats.dev && was.kind === kindOf(stats)
}

/**
 * How long before a look a file must have last changed for that look to be trusted while the file still looks the
 * same, with timestamps that have a sub-second part: those come from a file system that keeps them to 10 ms or finer
 * (ext4, xfs, btrfs, tmpfs, APFS, NTFS: 1 to 100 ns; exFAT: 10 ms), set from a clock with ticks of 10 ms at most.
 * Whole-second timestamps may come from one that keeps whole or even two seconds (ext3, HFS+, FAT): `settleMs` then.
 */
export const FINE_SETTLE_MS = 250

const NS_PER_SECOND = 1_000_000_000n

/** The margin for `signature`'s timestamps: `FINE_SETTLE_MS` unless both are whole seconds (then `settleMs`). */
export const settleMarginMs = (mtimeNs: bigint, ctimeNs: bigint, settleMs: number): number =>
  mtimeNs % NS_PER_SECOND === 0n && ctimeNs % NS_PER_SECOND === 0n ? settleMs : Math.min(settleMs, FINE_SETTLE_MS)

/**
 * The observation's timestamps are older than the settle margin (`settleMarginMs`) before `nowMs`. Only then does a
 * later change show as a different timestamp, whatever the resolution of the file system's timestamps, so only then
 * may a result computed from the file be kept.
 */
export const isSettled = (observation: Observation, nowMs: number, settleMs: number): boolean => {
  const signature = observation.signature
  if (signature._tag === "Missing") return true
  const margin = settleMarginMs(signature.mtimeNs, signature.ctimeNs, settleMs)
  const limit = BigInt(Math.floor(nowMs - margin)) * 1_000_000n
  return signature.mtimeNs < limit && signature.ctimeNs < limit
}

/** A lookup as a snapshot keeps it: the signature as text (`signatureText`), compared as text when looked at again. */
export interface StoredObservation {
  readonly path: string
  readonly follow: boolean
  readonly signature: string
}

const entryText = (kind: EntryKind, dev: bigint, ino: bigint, size: bigint, mtimeNs: bigint, ctimeNs: bigint): string =>
  `${kind} ${dev} ${ino} ${size} ${mtimeNs} ${ctimeNs}`

/** `kind dev ino size mtimeNs ctimeNs`, or `!` and the error code. */
export const signatureText = (signature: Signature): string =>
  signature._tag === "Missing"
    ? `!${signature.code}`
    : entryText(signature.kind, signature.dev, signature.ino, signature.size, signature.mtimeNs, signature.ctimeNs)

/**
 * One look at a stored lookup's path: the observation it makes now, if that shows exactly the stored signature (the
 * stored text is never parsed: whatever it holds, only a match counts).
 */
export const observeMatching = (stored: StoredObservation): Observation | undefined => {
  const stats = look(stored.path, stored.follow)
  if (typeof stats === "string") {
    return stored.signature === `!${stats}` ? { path: stored.path, follow: stored.follow, signature: { _tag: "Missing", code: stats } } : undefined
  }
  const kind = kindOf(stats)
  if (stored.signature !== entryText(kind, stats.dev, stats.ino, stats.size, stats.mtimeNs, stats.ctimeNs)) return undefined
  const signature: Signature = { _tag: "Entry", kind, dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs }
  return { path: stored.path, follow: stored.follow, signature }
}
