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

/** A text file that may not exist yet (config.toml): missing reads as "", other failures are thrown. */
export const readTextOrEmpty = (fs: FsPort, path: string): string => {
  try {
    return fs.readFileSync(path).toString("utf8")
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return ""
    throw error
  }
}
