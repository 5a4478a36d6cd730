import * as NodeFs from "node:fs"
import { type FsPort, nodeFs } from "./FsPort.ts"

/**
 * What a directory entry is, as `readdir` reports it (the dirent's type), without a `stat`: "other" is a FIFO,
 * socket or device; "unknown" where the file system does not say (the caller then asks `lstatSync`).
 */
export type EntryKind = "file" | "dir" | "symlink" | "other" | "unknown"

export interface DirEntry {
  readonly name: string
  readonly kind: EntryKind
}

/** The file-system port plus the calls that tree copies and path-containment checks need. */
export interface TreeFs extends FsPort {
  readonly lstatSync: (path: string) => { readonly mode: number; readonly isFile: () => boolean; readonly isDirectory: () => boolean; readonly isSymbolicLink: () => boolean }
  /** `lstatSync`, but undefined when nothing is at `path` (ENOENT), without building an error for that expected answer */
  readonly lstatIfExists: (path: string) => ReturnType<TreeFs["lstatSync"]> | undefined
  readonly chmodSync: (path: string, mode: number) => void
  /** `chmodSync` through an open descriptor: no path lookup, and it is surely the file written through that fd */
  readonly fchmodSync: (fd: number, mode: number) => void
  readonly realpathSync: (path: string) => string
  /** the target a symlink holds (for `/proc/self/fd/<fd>`: the path of the open file, as the kernel has it now) */
  readonly readlinkSync: (path: string) => string
  /** the entries of a directory (unsorted), each with its type as the listing gives it */
  readonly readdirEntriesSync: (path: string) => ReadonlyArray<DirEntry>
  /**
   * Opens `path` read-only without following a symlink at its last component (fails with ELOOP) and without
   * blocking (a FIFO opens at once instead of waiting for a writer); the caller `fstat`s the fd to learn what it
   * opened.
   */
  readonly openNoFollowSync: (path: string) => number
  /** `openNoFollowSync`, following symlinks (for files that may be one: a marketplace file, the curated sha) */
  readonly openNonBlockingSync: (path: string) => number
  /**
   * Opens the directory at `path` read-only (fails with ENOTDIR if it is none), not following a symlink at its last
   * component unless `follow` (ENOTDIR or ELOOP): a descriptor to list and open what is below it by
   * (`DirDescriptors.ts`).
   */
  readonly openDirSync: (path: string, follow: boolean) => number
}

const { O_DIRECTORY, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = NodeFs.constants

const NO_FOLLOW_READ = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
const NON_BLOCKING_READ = O_RDONLY | O_NONBLOCK | O_NOCTTY
const DIRECTORY_READ = O_RDONLY | O_DIRECTORY | O_NONBLOCK

const kindOf = (entry: NodeFs.Dirent): EntryKind =>
  entry.isFile() ? "file" : entry.isDirectory() ? "dir" : entry.isSymbolicLink() ? "symlink" : "other"

export const nodeTreeFs: TreeFs = {
  ...nodeFs,
  lstatSync: (path) => NodeFs.lstatSync(path),
  lstatIfExists: (path) => NodeFs.lstatSync(path, { throwIfNoEntry: false }),
  chmodSync: (path, mode) => NodeFs.chmodSync(path, mode),
  fchmodSync: (fd, mode) => NodeFs.fchmodSync(fd, mode),
  // realpath(3), one system call: `realpathSync` in JavaScript lstats every component of the path
  realpathSync: (path) => NodeFs.realpathSync.native(path),
  readlinkSync: (path) => NodeFs.readlinkSync(path),
  // never "unknown" here: Node lstats an entry whose type the file system does not report before it answers
  readdirEntriesSync: (path) => NodeFs.readdirSync(path, { withFileTypes: true }).map((entry) => ({ name: entry.name, kind: kindOf(entry) })),
  openNoFollowSync: (path) => NodeFs.openSync(path, NO_FOLLOW_READ),
  openNonBlockingSync: (path) => NodeFs.openSync(path, NON_BLOCKING_READ),
  openDirSync: (path, follow) => NodeFs.openSync(path, follow ? DIRECTORY_READ : DIRECTORY_READ | O_NOFOLLOW)
}
