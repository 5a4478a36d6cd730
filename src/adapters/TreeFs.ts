import * as NodeFs from "node:fs"
import { type FsPort, nodeFs } from "./FsPort.ts"

/** The file-system port plus the calls that tree copies and path-containment checks need. */
export interface TreeFs extends FsPort {
  readonly lstatSync: (path: string) => { readonly mode: number; readonly isFile: () => boolean; readonly isDirectory: () => boolean; readonly isSymbolicLink: () => boolean }
  readonly chmodSync: (path: string, mode: number) => void
  readonly realpathSync: (path: string) => string
}

export const nodeTreeFs: TreeFs = {
  ...nodeFs,
  lstatSync: (path) => NodeFs.lstatSync(path),
  chmodSync: (path, mode) => NodeFs.chmodSync(path, mode),
  // realpath(3), one system call: `realpathSync` in JavaScript lstats every component of the path
  realpathSync: (path) => NodeFs.realpathSync.native(path)
}
