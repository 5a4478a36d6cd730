/**
 * Who holds a lock file, and whether they are provably gone: the owner record a process writes into it (pid, host,
 * boot id, the process's start time) and the probes of this host that judge it (FileLock.ts takes and releases).
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import { Schema } from "effect"
import { errnoCode } from "./FsPort.ts"

/** The content of a lock file: who holds it, and enough to tell a dead holder from a live one. */
export interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly bootId: string | null
  readonly startTime: string | null
  readonly nonce: string
}

const LockOwnerJson = Schema.fromJsonString(Schema.Struct({
  pid: Schema.Int.check(Schema.isGreaterThan(0)),
  host: Schema.String,
  bootId: Schema.NullOr(Schema.String),
  startTime: Schema.NullOr(Schema.String),
  nonce: Schema.String
}))
/** A lock file's text as its owner record (a failure: not one this format writes). */
export const decodeLockOwner = Schema.decodeUnknownResult(LockOwnerJson)

/** Process and host probes used to judge staleness; injectable so tests can fake pid reuse or reboots. */
export interface LockHost {
  readonly pid: number
  readonly hostname: string
  /** Linux `/proc/sys/kernel/random/boot_id`; undefined elsewhere */
  readonly bootId: string | undefined
  /** the start time of `pid` (field 22 of `/proc/<pid>/stat`), when available */
  readonly startTimeOf: (pid: number) => string | undefined
  /** `process.kill(pid, 0)`: false only on ESRCH */
  readonly isAlive: (pid: number) => boolean
  /** wall-clock time (ms) at which this machine booted, at the earliest (a lock file older than this predates the boot) */
  readonly bootTimeMs: () => number
}

const readProcText = (path: string): string | undefined => {
  try {
    return NodeFs.readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

/** Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat; the comm field may contain spaces. */
export const parseProcStatStartTime = (stat: string): string | undefined => {
  const close = stat.lastIndexOf(")")
  if (close < 0) return undefined
  const fields = stat.slice(close + 2).split(" ")
  // fields[0] is field 3 (state), so field 22 is fields[19]
  const value = fields[19]
  return value !== undefined && /^\d+$/.test(value) ? value : undefined
}

const procStartTime = (pid: number): string | undefined => {
  const stat = readProcText(`/proc/${pid}/stat`)
  return stat === undefined ? undefined : parseProcStatStartTime(stat)
}

/** `now - uptime` drifts with clock adjustments since boot; this much earlier still counts as this boot. */
const BOOT_TIME_SLACK_MS = 2_000

export const makeNodeLockHost = (): LockHost => {
  const ownStartTime = procStartTime(process.pid) // read once; it cannot change
  return {
    pid: process.pid,
    hostname: Os.hostname(),
    bootId: readProcText("/proc/sys/kernel/random/boot_id")?.trim() || undefined,
    startTimeOf: (pid) => (pid === process.pid ? ownStartTime : procStartTime(pid)),
    isAlive: (pid) => {
      try {
        process.kill(pid, 0)
        return true
      } catch (error) {
        return errnoCode(error) !== "ESRCH"
      }
    },
    bootTimeMs: () => Date.now() - Os.uptime() * 1000 - BOOT_TIME_SLACK_MS
  }
}

/** The owner record this process writes into a lock file. */
export const ownerFor = (host: LockHost, nonce: string): LockOwner => ({
  pid: host.pid,
  host: host.hostname,
  bootId: host.bootId ?? null,
  startTime: host.startTimeOf(host.pid) ?? null,
  nonce
})

/**
 * Stale only when the holder is on this host and provably gone: another boot, a dead pid
 * (ESRCH), or the pid now belongs to a process with another start time. Never by age, never
 * across hosts.
 */
export const isStale = (owner: LockOwner, host: LockHost): boolean => {
  if (owner.host !== host.hostname) return false
  if (owner.bootId !== null && host.bootId !== undefined && owner.bootId !== host.bootId) return true
  if (!host.isAlive(owner.pid)) return true
  if (owner.startTime !== null) {
    const now = host.startTimeOf(owner.pid)
    if (now !== undefined && now !== owner.startTime) return true
  }
  return false
}
