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

/**
 * A text file that may not exist yet (config.toml): missing reads as "", other failures are thrown. Strict UTF-8
 * (as Rust's `read_to_string`, so Codex refuses the file too): a lenient decode would let an edit rewrite the
 * user's invalid bytes as U+FFFD.
 */
export const readTextOrEmpty = (fs: FsPort, path: string): string => {
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(path)
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return ""
    throw error
  }
  try {
    return STRICT_UTF8.decode(bytes)
  } catch {
    throw new Error("stream did not contain valid UTF-8")
  }
}
