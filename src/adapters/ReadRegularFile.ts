import type { FsPort } from "./FsPort.ts"

/** Marketplace and manifest files are small; anything bigger is refused rather than read into memory. */
export const maxInputFileBytes = 16 * 1024 * 1024

const fsError = (code: string, message: string): Error => Object.assign(new Error(message), { code })

/**
 * Reads a file named by a request or a marketplace, refusing what is not a regular file (a directory,
 * `/dev/zero`, a FIFO) or is too large, so no input can make the process block or exhaust memory.
 * Throws Node-style errors (`code` ENOENT, EISDIR, ...), which `rustIoError` renders as the reference does.
 */
export const readRegularFile = (fs: FsPort, path: string, maxBytes: number = maxInputFileBytes): Buffer => {
  const stat = fs.statSync(path)
  if (stat.isDirectory()) throw fsError("EISDIR", `EISDIR: illegal operation on a directory, read '${path}'`)
  if (!stat.isFile()) throw new Error(`not a regular file: ${path}`)
  if (stat.size > maxBytes) throw new Error(`file is larger than ${maxBytes} bytes: ${path}`)
  return fs.readFileSync(path)
}
