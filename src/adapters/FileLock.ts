/**
 * The ledger's single-writer lock: a file `lock` linked into place from a temp file that names its owner
 * (LockOwner.ts), so it appears whole or not at all; taken again from a holder that is provably gone, never by age.
 */
import { randomUUID } from "node:crypto"
import * as Path from "node:path"
import { Result } from "effect"
import { closeQuietly, writeAll } from "./AtomicFile.ts"
import { errnoCode, type FsPort, type FsStats } from "./FsPort.ts"
import { decodeLockOwner, isStale, type LockHost, type LockOwner, ownerFor } from "./LockOwner.ts"

/**
 * Which file a lock is: device and inode, and the size and mtime its content was written with. Compared with a `stat`
 * of `lock`, instead of reading the file back (`stillHeld`).
 */
export interface LockIdentity {
  readonly dev: number
  readonly ino: number
  readonly size: number
  readonly mtimeMs: number
}

const identityOf = (stats: FsStats): LockIdentity => ({ dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs })

/** A lock this process holds. */
export interface HeldLock {
  readonly path: string
  readonly owner: LockOwner
  /** the lock file's exact content (the owner's JSON, nonce included) */
  readonly content: string
  /** the file this holder linked to `lock` (see `stillHeld`) */
  readonly identity: LockIdentity
  /**
   * A descriptor of that file, open until the lock is released (or given up, `forgetLock`, which sets it undefined so
   * it is closed once): while it is open the inode cannot be freed, so no other file can get its device and inode.
   * Undefined from the start when the file is a kept one (`KeptLockFile`): its keeper holds it open, longer still.
   */
  readonly descriptor: { fd: number | undefined }
}

export type LockAttempt =
  | { readonly _tag: "Acquired"; readonly lock: HeldLock }
  | { readonly _tag: "Busy"; readonly owner: LockOwner | undefined; readonly detail: string }

type LockContent =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Owner"; readonly raw: string; readonly owner: LockOwner }
  | { readonly _tag: "Unreadable"; readonly raw: string; readonly mtimeMs: number; readonly detail: string }

const readLockContent = (fs: FsPort, path: string): LockContent => {
  let raw: string
  let mtimeMs: number
  try {
    raw = fs.readFileSync(path).toString("utf8")
    mtimeMs = fs.statSync(path).mtimeMs
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return { _tag: "Missing" }
    throw error
  }
  const decoded = decodeLockOwner(raw)
  if (Result.isSuccess(decoded)) return { _tag: "Owner", raw, owner: decoded.success }
  return { _tag: "Unreadable", raw, mtimeMs, detail: raw.length === 0 ? "empty lock file" : decoded.failure.message }
}

const ignoreMissing = (f: () => void): void => {
  try {
    f()
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error
  }
}

/**
 * A lock file that cannot be parsed can only come from a power loss between link() and
 * write-back (its content is complete before it is linked), or from tampering. It is stale
 * only if it predates the current boot. (A fixed margin here, e.g. a minute, would lock the
 * ledger for good after a machine that lost power booted again within that minute.)
 */
const unreadableIsStale = (content: { readonly mtimeMs: number }, host: LockHost): boolean =>
  content.mtimeMs < host.bootTimeMs()

const isStaleContent = (content: LockContent, host: LockHost): boolean =>
  content._tag === "Owner" ? isStale(content.owner, host) : content._tag === "Unreadable" && unreadableIsStale(content, host)

const TMP_PREFIX = "lock.tmp."
const STALE_PREFIX = "lock.stale."

/**
 * Remove `lock.tmp.<pid>.<nonce>` files left by dead processes of this host, and
 * `lock.stale.<nonce>` files whose content names a dead holder (a takeover that crashed).
 */
export const removeOrphans = (fs: FsPort, dir: string, host: LockHost): number => {
  let removed = 0
  for (const name of fs.readdirSync(dir)) {
    const isTmp = name.startsWith(TMP_PREFIX)
    if (!isTmp && !name.startsWith(STALE_PREFIX)) continue
    const path = Path.join(dir, name)
    const content = readLockContent(fs, path)
    if (content._tag === "Missing") continue
    let orphan: boolean
    if (content._tag === "Owner") {
      orphan = content.owner.pid !== host.pid && isStale(content.owner, host)
    } else if (isTmp) {
      // killed between open and write; judged by the pid in its name. Removing a temp file that
      // someone is still writing is harmless anyway: its link() fails ENOENT and it writes a new one.
      const pid = Number(name.slice(TMP_PREFIX.length).split(".")[0])
      orphan = Number.isInteger(pid) && pid > 0 && pid !== host.pid && !host.isAlive(pid)
    } else {
      orphan = unreadableIsStale(content, host)
    }
    if (orphan) {
      ignoreMissing(() => fs.unlinkSync(path))
      removed++
    }
  }
  return removed
}

/** The temp file written whole, and still open (its descriptor, and what `fstat` says of it once written). */
interface WrittenTemp {
  readonly path: string
  readonly fd: number
  readonly identity: LockIdentity
  /** what it holds */
  readonly owner: LockOwner
  readonly content: string
}

const writeTemp = (fs: FsPort, path: string, owner: LockOwner, tempFile: TempFile | undefined): WrittenTemp => {
  const content = JSON.stringify(owner)
  const fd = tempFile?.(path) ?? fs.openSync(path, "wx", 0o644)
  try {
    writeAll(fs, fd, Buffer.from(content, "utf8"), 0)
    return { path, fd, identity: identityOf(fs.fstatSync(fd)), owner, content }
  } catch (error) {
    closeQuietly(fs, fd)
    throw error
  }
}

/**
 * A temp file one holder keeps between its acquisitions (an EventLog takes the lock for every command): written once,
 * kept open and under its temp name, and link()ed to `lock` again for each acquisition, so taking the lock is that one
 * link instead of making, writing, checking, unlinking (the temp name) and closing a new file each time; the release
 * is unchanged (it unlinks `lock`, the temp name stays).
 *
 * Why that is as safe: the lock still only ever appears with complete content, written (once) before the file was
 * first linked and never written again. That content, nonce included, names this holder rather than one acquisition:
 * nothing needs to tell two acquisitions of one live holder apart. The release checks the file's identity (`stillHeld`),
 * not its content, and a takeover, which compares the content it judged stale with what it moved, happens only once
 * the holder is dead, after which the holder acquires nothing more. The file stays open all along, so `stillHeld`
 * keeps its guarantee. Its name carries this process's pid: while we live nobody else removes it (`removeOrphans`
 * takes only dead pids' files), once we are gone (a crash) the next process's sweep does; a clean stop removes it
 * (`disposeKept`). If it was removed under us anyway, the link fails ENOENT and a new one is made.
 */
export interface KeptLockFile {
  current: WrittenTemp | undefined
}

export const makeKeptLockFile = (): KeptLockFile => ({ current: undefined })

/** Remove the kept temp file and close it (at a clean stop, and after any failure while using it). */
export const disposeKept = (fs: FsPort, kept: KeptLockFile): void => {
  const current = kept.current
  kept.current = undefined
  if (current === undefined) return
  closeQuietly(fs, current.fd)
  try {
    fs.unlinkSync(current.path)
  } catch {
    // gone already, or not removable now: the next process's sweep takes it once we are gone
  }
}

/** Opens a ready-made empty file (0644 as `open` gives it) moved to `path`, for writing; undefined: create it. */
export type TempFile = (path: string) => number | undefined

/**
 * One attempt to take `<dir>/lock`: the full content goes to `lock.tmp.<pid>.<nonce>` (or the
 * holder's kept one is used, `KeptLockFile`), which is then link()ed to `lock` (atomic, never
 * overwrites, so the lock always has complete content). A stale lock is renamed to
 * `lock.stale.<nonce>`, re-read to check it is the same dead holder (restored with link() if
 * not), and the link retried. Throws fs errors.
 */
export const tryAcquireLock = (fs: FsPort, dir: string, host: LockHost, tempFile?: TempFile, kept?: KeptLockFile): LockAttempt => {
  const nonce = randomUUID()
  const owner = ownerFor(host, nonce)
  const lockPath = Path.join(dir, "lock")
  const tmpPath = Path.join(dir, `${TMP_PREFIX}${host.pid}.${nonce}`)
  const stalePath = Path.join(dir, `${STALE_PREFIX}${nonce}`)
  /** the temp file, written once and kept open: it becomes the lock, whose descriptor stays open while it is held */
  let temp: WrittenTemp | undefined
  let acquired = false
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      if (temp === undefined) {
        temp = kept?.current ?? writeTemp(fs, tmpPath, owner, tempFile)
        if (kept !== undefined) kept.current = temp
      }
      try {
        fs.linkSync(temp.path, lockPath)
        acquired = true
        // a kept file's descriptor is the keeper's: it stays open past the release, for the next acquisition
        const descriptor = { fd: kept === undefined ? temp.fd : undefined }
        return {
          _tag: "Acquired",
          lock: { path: lockPath, owner: temp.owner, content: temp.content, identity: temp.identity, descriptor }
        }
      } catch (error) {
        const code = errnoCode(error)
        if (code === "ENOENT") {
          // our temp file was removed under us: write a new one
          closeQuietly(fs, temp.fd)
          if (kept !== undefined) kept.current = undefined
          temp = undefined
          continue
        }
        if (code !== "EEXIST") throw error
      }
      const current = readLockContent(fs, lockPath)
      if (current._tag === "Missing") continue
      if (kept !== undefined && current._tag === "Owner" && current.raw === temp.content) {
        // the lock is our own kept file (its record names this file's nonce): a release whose unlink failed left it
        // linked. Nobody else can hold it, and nobody in this process does (acquisitions are serialized in-process),
        // so it is ours to hold again, instead of waiting for ourselves until the timeout
        acquired = true
        return {
          _tag: "Acquired",
          lock: { path: lockPath, owner: temp.owner, content: temp.content, identity: temp.identity, descriptor: { fd: undefined } }
        }
      }
      if (!isStaleContent(current, host)) {
        return current._tag === "Owner"
          ? { _tag: "Busy", owner: current.owner, detail: `locked by pid ${current.owner.pid} on host ${current.owner.host}` }
          : { _tag: "Busy", owner: undefined, detail: `lock file ${lockPath} is unreadable (${current.detail})` }
      }
      try {
        fs.renameSync(lockPath, stalePath)
      } catch (error) {
        if (errnoCode(error) === "ENOENT") continue
        throw error
      }
      const moved = readLockContent(fs, stalePath)
      if (moved._tag !== "Missing" && moved.raw !== current.raw) {
        // someone else took the lock between our read and the rename: put theirs back
        try {
          fs.linkSync(stalePath, lockPath)
        } catch (error) {
          if (errnoCode(error) !== "EEXIST") throw error
        }
      }
      ignoreMissing(() => fs.unlinkSync(stalePath))
    }
    return { _tag: "Busy", owner: undefined, detail: `lock ${lockPath} is contended` }
  } catch (error) {
    // a kept file is kept for the next acquisition, unless something failed: then nothing of it is trusted again
    if (kept !== undefined) disposeKept(fs, kept)
    throw error
  } finally {
    if (kept === undefined) {
      if (!acquired && temp !== undefined) closeQuietly(fs, temp.fd)
      try {
        fs.unlinkSync(tmpPath)
      } catch {
        // gone, or not removable now: a leftover temp file is harmless (removeOrphans takes it once we are gone), and
        // failing here would lose a lock just taken, which nobody would then release
      }
    }
  }
}

/**
 * Whether the lock at `lock.path` is still the file this holder linked there (a lock whose release failed is still
 * ours): one `stat` (this runs at every release), where reading the content back took four calls.
 *
 * As safe as comparing the content (nonce included): every lock file is a temp file written whole and then link()ed,
 * so two holders' locks are always two inodes, and the same device and inode means the very file this holder linked,
 * whatever path it came back by (a takeover that renamed it away and linked it back restores our own lock). The
 * inode cannot be another file's since ours was freed: the holder keeps a descriptor of it open until the release (a
 * kept file's keeper, for good), and an inode with an open descriptor is never freed, so its number is never reused
 * meanwhile. No step of the protocol writes a lock file once it is linked (a kept one is written once, before its
 * first link); the size and mtime the content was written with are compared as well, so a rewrite by hand that
 * changes either is not ours either (one that changes neither, inside the same clock tick and to the same length, is:
 * only a tool outside the protocol could make it).
 */
export const stillHeld = (fs: FsPort, lock: HeldLock): boolean => {
  let stats: FsStats
  try {
    stats = fs.statSync(lock.path)
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false
    throw error
  }
  const held = lock.identity
  return stats.dev === held.dev && stats.ino === held.ino && stats.size === held.size && stats.mtimeMs === held.mtimeMs
}

/** Give up a lock without releasing it (it was lost, or is released some other way): closes its descriptor. */
export const forgetLock = (fs: FsPort, lock: HeldLock): void => {
  const fd = lock.descriptor.fd
  lock.descriptor.fd = undefined
  if (fd !== undefined) closeQuietly(fs, fd)
}

/**
 * Remove the lock if (and only if) it is still ours (`stillHeld`). Returns false if it was no longer ours. Its
 * descriptor is closed once the lock is gone (after the unlink, so the check holds until then); if the unlink fails,
 * the lock is still held, descriptor included.
 */
export const releaseLock = (fs: FsPort, lock: HeldLock): boolean => {
  if (!stillHeld(fs, lock)) {
    forgetLock(fs, lock)
    return false
  }
  ignoreMissing(() => fs.unlinkSync(lock.path))
  forgetLock(fs, lock)
  return true
}
