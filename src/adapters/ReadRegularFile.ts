import { readFileOnce, tooLarge } from "./ReadFileOnce.ts"
import type { TreeFs } from "./TreeFs.ts"

/** Marketplace and manifest files are small; anything bigger is refused rather than read into memory. */
export const maxInputFileBytes = 16 * 1024 * 1024

const fsError = (code: string, message: string): Error => Object.assign(new Error(message), { code })

/** What reading `path`, not a regular file, fails with: EISDIR for a directory (as `read` gives it), else a refusal. */
export const notRegularFile = (path: string, isDirectory: boolean): Error =>
  isDirectory ? fsError("EISDIR", `EISDIR: illegal operation on a directory, read '${path}'`) : new Error(`not a regular file: ${path}`)

/**
 * Reads a file named by a request or a marketplace, refusing what is not a regular file (a directory,
 * `/dev/zero`, a FIFO) or is too large, so no input can make the process block or exhaust memory.
 * Throws Node-style errors (`code` ENOENT, EISDIR, ...), which `rustIoError` renders as the reference does.
 *
 * Symlinks are followed (a marketplace file may be one). What the `stat` shows not to be a regular file is never
 * opened (opening a device can do things); the rest is read through one descriptor opened without blocking and
 * checked again (`readFileOnce`), so a FIFO swapped in after the `stat` cannot block the process (the read is
 * synchronous) and a file grown past the limit meanwhile is not read whole.
 */
export const readRegularFile = (fs: TreeFs, path: string, maxBytes: number = maxInputFileBytes): Buffer => {
  const stat = fs.statSync(path)
  if (!stat.isFile()) throw notRegularFile(path, stat.isDirectory())
  if (stat.size > maxBytes) throw tooLarge(path, maxBytes)
  const read = readFileOnce(fs, path, { follow: true, maxBytes })
  if (read._tag === "NotRegular") throw notRegularFile(path, read.isDirectory)
  return read.file.bytes
}
