/**
 * The node file system keeping account of its descriptors: every fd its `openSync` returned and not yet closed
 * (with the path it was opened at), every close of an fd it does not hold (a double close: the number may be another
 * file's by then), and, for each fsync, which file it reached (device and inode, read from the fd when it is issued).
 */
import type { TreeFs } from "../../src/adapters/TreeFs.ts"
import { nodeTreeFs } from "../../src/adapters/TreeFs.ts"

export interface TrackedFds {
  readonly fs: TreeFs
  /** fd -> the path it was opened at, for every fd opened here and still open */
  readonly open: Map<number, string>
  /** closes of fds that were not open here */
  readonly strayCloses: Array<number>
  /** every open, in order: `<flags> <path>` (`nofollow`/`nonblocking` for the read-only opens of `TreeFs`) */
  readonly opens: Array<string>
  /** every fsync (and fdatasync) issued: the fd and the file it reached, `<dev>:<ino>` */
  readonly fsyncs: Array<{ readonly fd: number; readonly file: string }>
}

export const fileId = (stat: { readonly dev: number; readonly ino: number }): string => `${stat.dev}:${stat.ino}`

export const trackFds = (base: TreeFs = nodeTreeFs): TrackedFds => {
  const open = new Map<number, string>()
  const strayCloses: Array<number> = []
  const opens: Array<string> = []
  const fsyncs: Array<{ readonly fd: number; readonly file: string }> = []
  const noteSync = (fd: number): void => {
    fsyncs.push({ fd, file: fileId(base.fstatSync(fd)) })
  }
  const fs: TreeFs = {
    ...base,
    openSync: (path, flags, mode) => {
      const fd = base.openSync(path, flags, mode)
      open.set(fd, path)
      opens.push(`${flags} ${path}`)
      return fd
    },
    openNoFollowSync: (path) => {
      const fd = base.openNoFollowSync(path)
      open.set(fd, path)
      opens.push(`nofollow ${path}`)
      return fd
    },
    openNonBlockingSync: (path) => {
      const fd = base.openNonBlockingSync(path)
      open.set(fd, path)
      opens.push(`nonblocking ${path}`)
      return fd
    },
    openDirSync: (path, follow) => {
      const fd = base.openDirSync(path, follow)
      open.set(fd, path)
      opens.push(`dir ${path}`)
      return fd
    },
    closeSync: (fd) => {
      if (!open.delete(fd)) strayCloses.push(fd)
      base.closeSync(fd)
    },
    fsyncAsync: (fd) => {
      noteSync(fd)
      return base.fsyncAsync(fd)
    },
    fdatasyncAsync: (fd) => {
      noteSync(fd)
      return base.fdatasyncAsync(fd)
    }
  }
  return { fs, open, strayCloses, opens, fsyncs }
}
