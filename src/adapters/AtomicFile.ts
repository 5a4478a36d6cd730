import { randomBytes } from "node:crypto"
import * as Path from "node:path"
import { errnoCode, type FsPort } from "./FsPort.ts"

/** Windows refuses fsync on a directory handle; tolerate that there only (fail closed elsewhere). */
const ignorableDirSyncError = (error: unknown): boolean => {
  const code = errnoCode(error)
  return process.platform === "win32" && (code === "EPERM" || code === "EISDIR" || code === "EINVAL")
}

/** fsync a directory, so a create/rename/unlink inside it is durable. Throws the fs error. */
export const fsyncDir = (fs: FsPort, dir: string): void => {
  let fd: number
  try {
    fd = fs.openSync(dir, "r")
  } catch (error) {
    if (ignorableDirSyncError(error)) return
    throw error
  }
  try {
    fs.fsyncSync(fd)
  } catch (error) {
    if (!ignorableDirSyncError(error)) {
      closeQuietly(fs, fd)
      throw error
    }
  }
  fs.closeSync(fd)
}

/** Close `fd`, ignoring errors (used on paths that already fail). */
export const closeQuietly = (fs: FsPort, fd: number): void => {
  try {
    fs.closeSync(fd)
  } catch {
    // the original error is the one worth reporting
  }
}

/** Write all of `bytes` at `position` (or the current offset when null), looping on short writes. */
export const writeAll = (fs: FsPort, fd: number, bytes: Uint8Array, position: number | null): void => {
  let done = 0
  while (done < bytes.length) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done)
    if (n <= 0) throw new Error(`write made no progress (${done}/${bytes.length} bytes written)`)
    done += n
  }
}

/** The temp-file name used for `path`: same directory, so the rename stays on one file system. */
export const tempPathFor = (path: string): string =>
  Path.join(Path.dirname(path), `.${Path.basename(path)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)

/**
 * Replace `path` atomically: temp file in the same directory, write all, fsync, close,
 * rename over the target, fsync the directory. After a crash the target holds either the
 * old or the new bytes, never a mix. Throws the underlying fs error (temp file removed).
 */
export const writeFileAtomic = (fs: FsPort, path: string, bytes: Uint8Array, mode?: number): void => {
  const tmp = tempPathFor(path)
  const fd = fs.openSync(tmp, "wx", mode ?? 0o666)
  let renamed = false
  try {
    try {
      writeAll(fs, fd, bytes, 0)
      fs.fsyncSync(fd)
    } catch (error) {
      closeQuietly(fs, fd)
      throw error
    }
    fs.closeSync(fd)
    fs.renameSync(tmp, path)
    renamed = true
    fsyncDir(fs, Path.dirname(path))
  } catch (error) {
    if (!renamed) {
      try {
        fs.unlinkSync(tmp)
      } catch {
        // best effort: an orphaned temp file is harmless and is named as such
      }
    }
    throw error
  }
}
