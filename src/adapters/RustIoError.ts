import { errnoCode } from "./FsPort.ts"

const texts: Readonly<Record<string, readonly [string, number]>> = {
  ENOENT: ["No such file or directory", 2],
  EACCES: ["Permission denied", 13],
  EPERM: ["Operation not permitted", 1],
  EISDIR: ["Is a directory", 21],
  ENOTDIR: ["Not a directory", 20],
  ENOSPC: ["No space left on device", 28],
  EROFS: ["Read-only file system", 30],
  EIO: ["Input/output error", 5],
  EMFILE: ["Too many open files", 24],
  EEXIST: ["File exists", 17],
  ENOTEMPTY: ["Directory not empty", 39],
  ELOOP: ["Too many levels of symbolic links", 40],
  ENAMETOOLONG: ["File name too long", 36]
}

/** Renders a Node file-system error the way Rust's `std::io::Error` displays it, as the reference prints. */
export const rustIoError = (error: unknown): string => {
  const code = errnoCode(error)
  const known = code === undefined ? undefined : texts[code]
  if (known !== undefined) return `${known[0]} (os error ${known[1]})`
  return error instanceof Error ? error.message : String(error)
}
