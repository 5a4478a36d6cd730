import type { FsPort } from "./FsPort.ts"

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
 */
export const readRegularFile = (fs: FsPort, path: string, maxBytes: number = maxInputFileBytes): Buffer => {
  const stat = fs.statSync(path)
  if (!stat.isFile()) throw notRegularFile(path, stat.isDirectory())
  if (stat.size > maxBytes) throw new Error(`file is larger than ${maxBytes} bytes: ${path}`)
  return fs.readFileSync(path)
}
