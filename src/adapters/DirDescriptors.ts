/**
 * Reading below a directory without going through a symlink, even one swapped in meanwhile: a directory is opened
 * once, and what is below it is opened through that descriptor, by a path that reaches the open directory itself
 * rather than looking its name up again (Linux's `/proc/self/fd/<fd>`, a link the kernel resolves to the open file).
 * Each name below is then opened without following a symlink at it, so no step of the way can lead out.
 *
 * Elsewhere (no such paths) the same calls go by the names from the root: a directory swapped for a symlink between
 * its opening and a use of its path would then be gone through, a window of a few system calls.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { closeQuietly } from "./AtomicFile.ts"
import { errnoCode } from "./FsPort.ts"
import { type OnceRead, readFileOnce } from "./ReadFileOnce.ts"
import type { TreeFs } from "./TreeFs.ts"

const descriptorPaths = process.platform === "linux" && NodeFs.existsSync("/proc/self/fd")

/** The path reaching the directory open as `fd` itself, or undefined where the platform has none. */
export const pathOfOpenDir = (fd: number): string | undefined => descriptorPaths ? `/proc/self/fd/${fd}` : undefined

/**
 * `error`, thrown by a call given a path below `opened` (a `pathOfOpenDir` path), made to name `named` (the dir's
 * own path) there instead, so that its message says which file failed as the user knows it.
 */
export const namedAs = (error: unknown, opened: string, named: string): unknown => {
  if (!(error instanceof Error) || opened === named) return error
  error.message = error.message.replaceAll(`${opened}/`, `${named}/`)
  if ("path" in error && typeof error.path === "string" && error.path.startsWith(`${opened}/`)) {
    error.path = named + error.path.slice(opened.length)
  }
  return error
}

/** A directory opened to read below it is no longer the one that was checked (its path now leads elsewhere). */
export const dirMoved = (path: string, checked: string, found: string): Error =>
  new Error(`plugin source directory \`${path}\` changed while it was read: it was ${checked}, it is now ${found}`)

/**
 * Opens the directory at `path` (following symlinks to it: the caller checked where it leads), and with `realPath`
 * makes sure it is the directory that was checked: its real path, as the open directory has it now, must be
 * `realPath`. Throws the fs error, or `dirMoved`.
 */
export const openCheckedDir = (fs: TreeFs, path: string, realPath: string | undefined): number => {
  const fd = fs.openDirSync(path, true)
  if (realPath === undefined) return fd
  try {
    // the kernel's path of the open dir (one call; `realpath` of it would look up every component again)
    const opened = pathOfOpenDir(fd)
    const now = opened === undefined ? fs.realpathSync(path) : fs.readlinkSync(opened)
    if (now !== realPath) throw dirMoved(path, realPath, now)
  } catch (error) {
    closeQuietly(fs, fd)
    throw error
  }
  return fd
}

/**
 * The directory at `path` opened without following a symlink there, or undefined when a symlink or something else
 * than a directory is there now.
 */
export const openDirBelow = (fs: TreeFs, path: string): number | undefined => {
  try {
    return fs.openDirSync(path, false)
  } catch (error) {
    const code = errnoCode(error)
    if (code === "ELOOP" || code === "ENOTDIR") return undefined
    throw error
  }
}

/**
 * `relative` below the directory at `root` (checked to be `realRoot`), read as `readFileOnce` reads with the
 * directories on the way opened as above: none of them, nor the file, is gone through as a symlink. A symlink at any
 * step fails (ELOOP, or ENOTDIR for a directory's: Linux's answer to a directory open that does not follow it).
 * Errors name the file by its path below `root`.
 */
export const readFileBelow = (
  fs: TreeFs,
  root: string,
  realRoot: string,
  relative: string,
  options: { readonly maxBytes?: number } = {}
): OnceRead => {
  const open: Array<number> = []
  let named = root
  let at = root
  const dirs = relative.split("/")
  const file = dirs.pop() ?? ""
  try {
    const rootFd = openCheckedDir(fs, root, realRoot)
    open.push(rootFd)
    at = pathOfOpenDir(rootFd) ?? root
    for (const name of dirs) {
      const fd = fs.openDirSync(`${at}/${name}`, false)
      open.push(fd)
      named = Path.join(named, name)
      at = pathOfOpenDir(fd) ?? named
    }
    return readFileOnce(fs, `${at}/${file}`, options)
  } catch (error) {
    throw namedAs(error, at, named)
  } finally {
    // read-only directories: closing them loses nothing, and each is closed whatever the others do
    for (const fd of open.reverse()) closeQuietly(fs, fd)
  }
}
