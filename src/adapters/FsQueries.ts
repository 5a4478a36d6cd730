import { errnoCode, type FsPort } from "./FsPort.ts"

/** Like Rust's `Path::is_dir` (what the reference asks): symlinks followed; any failure (ENOENT, ELOOP, EACCES) is "no". */
export const isDirectory = (fs: FsPort, path: string): boolean => {
  try {
    return fs.statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** Like Rust's `Path::is_file`: symlinks followed; any failure is "no". */
export const isFile = (fs: FsPort, path: string): boolean => {
  try {
    return fs.statSync(path).isFile()
  } catch {
    return false
  }
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** A file that may not exist yet (config.toml): missing reads as no bytes, other failures are thrown. */
export const readBytesOrEmpty = (fs: FsPort, path: string): Buffer => {
  try {
    return fs.readFileSync(path)
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return Buffer.alloc(0)
    throw error
  }
}

/**
 * Strict UTF-8 (as Rust's `read_to_string`, so Codex refuses the file too): a lenient decode would let an edit
 * rewrite the user's invalid bytes as U+FFFD.
 */
export const decodeUtf8Strict = (bytes: Uint8Array): string => {
  try {
    return STRICT_UTF8.decode(bytes)
  } catch {
    throw new Error("stream did not contain valid UTF-8")
  }
}

/** A text file that may not exist yet (config.toml): missing reads as "", other failures are thrown; strict UTF-8. */
export const readTextOrEmpty = (fs: FsPort, path: string): string => {
  // its own read (not `readBytesOrEmpty`): the errno-injection suite tells call sites apart by their caller
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(path)
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return ""
    throw error
  }
  return decodeUtf8Strict(bytes)
}
