/**
 * Plugin trees as content-addressed snapshots: `snapshot` stores every regular file of a source dir as a
 * blob plus a canonical manifest (its hash is the tree hash recorded in `PluginInstalled`); `materialize`
 * writes a tree into place through a staging dir and renames, so no reader ever sees a half copy.
 * Symlinks are never followed or copied: nothing may point out of a plugin root.
 */
import { randomBytes } from "node:crypto"
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { fsyncDir, writeAll, closeQuietly } from "./AtomicFile.ts"
import { type BlobStore, sha256Hex } from "./BlobStore.ts"
import { errnoCode, type FsPort, nodeFs } from "./FsPort.ts"

export interface TreeFs extends FsPort {
  readonly lstatSync: (path: string) => { readonly mode: number; readonly isFile: () => boolean; readonly isDirectory: () => boolean; readonly isSymbolicLink: () => boolean }
  readonly chmodSync: (path: string, mode: number) => void
  readonly realpathSync: (path: string) => string
}

export const nodeTreeFs: TreeFs = {
  ...nodeFs,
  lstatSync: (path) => NodeFs.lstatSync(path),
  chmodSync: (path, mode) => NodeFs.chmodSync(path, mode),
  realpathSync: (path) => NodeFs.realpathSync(path)
}

export interface TreeEntry {
  readonly path: string
  readonly type: "dir" | "file"
  readonly mode: number
  readonly sha256?: string
  readonly size?: number
}

export interface TreeManifest {
  readonly format: 1
  readonly entries: ReadonlyArray<TreeEntry>
}

export interface Snapshot {
  readonly treeHash: string
  readonly manifest: TreeManifest
  /** symlinks and special files that were left out, relative to the root */
  readonly skipped: ReadonlyArray<string>
}

const compareEntries = (a: TreeEntry, b: TreeEntry): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

export const encodeManifest = (manifest: TreeManifest): Uint8Array =>
  Buffer.from(JSON.stringify({ format: manifest.format, entries: manifest.entries }), "utf8")

/** Stores the regular files and directories below `root` (not following symlinks) as blobs. */
export const snapshot = (fs: TreeFs, blobs: BlobStore, root: string): Snapshot => {
  const entries: Array<TreeEntry> = []
  const skipped: Array<string> = []
  const walk = (relative: string): void => {
    const dir = relative === "" ? root : Path.join(root, relative)
    for (const name of [...fs.readdirSync(dir)].sort()) {
      const rel = relative === "" ? name : `${relative}/${name}`
      const stat = fs.lstatSync(Path.join(root, rel))
      if (stat.isDirectory()) {
        entries.push({ path: rel, type: "dir", mode: stat.mode & 0o777 })
        walk(rel)
      } else if (stat.isFile()) {
        const bytes = fs.readFileSync(Path.join(root, rel))
        entries.push({ path: rel, type: "file", mode: stat.mode & 0o777, sha256: blobs.put(bytes), size: bytes.length })
      } else {
        skipped.push(rel)
      }
    }
  }
  walk("")
  entries.sort(compareEntries)
  const manifest: TreeManifest = { format: 1, entries }
  return { treeHash: blobs.put(encodeManifest(manifest)), manifest, skipped }
}

const isTreeEntry = (value: unknown): value is TreeEntry => {
  if (typeof value !== "object" || value === null) return false
  const path: unknown = Reflect.get(value, "path")
  const type: unknown = Reflect.get(value, "type")
  const mode: unknown = Reflect.get(value, "mode")
  return typeof path === "string" && (type === "dir" || type === "file") && typeof mode === "number"
}

/** Reads a tree manifest back from its blob, refusing entries that would leave the tree. */
export const loadManifest = (blobs: BlobStore, treeHash: string): TreeManifest => {
  const parsed: unknown = JSON.parse(blobs.get(treeHash).toString("utf8"))
  const raw: unknown = typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "entries") : undefined
  if (!Array.isArray(raw)) throw new Error(`tree ${treeHash} has no entries`)
  const entries: Array<TreeEntry> = []
  for (const entry of raw) {
    if (!isTreeEntry(entry)) throw new Error(`tree ${treeHash} has a malformed entry`)
    const parts = entry.path.split("/")
    if (entry.path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
      throw new Error(`tree ${treeHash} has an entry outside its root: ${entry.path}`)
    }
    entries.push(entry)
  }
  return { format: 1, entries }
}

const writeFileDurably = (fs: TreeFs, path: string, bytes: Uint8Array, mode: number): void => {
  const fd = fs.openSync(path, "wx", mode)
  try {
    writeAll(fs, fd, bytes, 0)
    fs.fsyncSync(fd)
  } catch (error) {
    closeQuietly(fs, fd)
    throw error
  }
  fs.closeSync(fd)
  fs.chmodSync(path, mode)
}

const removeIfPresent = (fs: TreeFs, path: string): void => {
  fs.rmSync(path, { recursive: true, force: true })
}

const randomSuffix = (): string => `${process.pid}-${randomBytes(6).toString("hex")}`

/**
 * Writes the tree at `target` (or at `target/<under>`, with nothing else in `target`): built completely
 * (files and dirs fsynced) in a staging dir beside it, then swapped in by rename. A crash leaves either
 * the old tree, the new tree, or no tree plus a `.staging-*` / `.trash-*` leftover that `sweepLeftovers`
 * removes; the log re-projects it.
 */
export const materialize = (
  fs: TreeFs,
  blobs: BlobStore,
  treeHash: string,
  target: string,
  options: { readonly under?: string } = {}
): void => {
  const manifest = loadManifest(blobs, treeHash)
  const under = options.under
  if (under !== undefined && (under === "" || under === "." || under === ".." || under.includes("/") || under.includes("\\"))) {
    throw new Error(`version dir ${JSON.stringify(under)} is not a single path segment`)
  }
  const parent = Path.dirname(target)
  fs.mkdirSync(parent, { recursive: true })
  const staging = Path.join(parent, `.staging-${Path.basename(target)}-${randomSuffix()}`)
  fs.mkdirSync(staging, { recursive: false })
  try {
    const root = under === undefined ? staging : Path.join(staging, under)
    if (root !== staging) fs.mkdirSync(root, { recursive: false })
    const dirs = root === staging ? [staging] : [staging, root]
    for (const entry of manifest.entries) {
      const path = Path.join(root, entry.path)
      if (entry.type === "dir") {
        fs.mkdirSync(path, { recursive: true })
        dirs.push(path)
      } else {
        fs.mkdirSync(Path.dirname(path), { recursive: true })
        writeFileDurably(fs, path, blobs.get(entry.sha256 ?? ""), entry.mode)
      }
    }
    for (const entry of manifest.entries) if (entry.type === "dir") fs.chmodSync(Path.join(root, entry.path), entry.mode)
    for (const dir of dirs.reverse()) fsyncDir(fs, dir)
    let trash: string | undefined
    try {
      trash = Path.join(parent, `.trash-${Path.basename(target)}-${randomSuffix()}`)
      fs.renameSync(target, trash)
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error
      trash = undefined
    }
    fs.renameSync(staging, target)
    fsyncDir(fs, parent)
    if (trash !== undefined) removeIfPresent(fs, trash)
  } catch (error) {
    removeIfPresent(fs, staging)
    throw error
  }
}

/** Removes `target` (a whole plugin dir) by renaming it aside first, so it vanishes at once. */
export const removeTree = (fs: TreeFs, target: string): void => {
  const parent = Path.dirname(target)
  const trash = Path.join(parent, `.trash-${Path.basename(target)}-${randomSuffix()}`)
  try {
    fs.renameSync(target, trash)
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return
    throw error
  }
  fsyncDir(fs, parent)
  removeIfPresent(fs, trash)
}

/** Removes staging and trash dirs a crash left behind below `dir` (two levels: marketplace/plugin). */
export const sweepLeftovers = (fs: TreeFs, dir: string, depth = 3): void => {
  let names: ReadonlyArray<string>
  try {
    names = fs.readdirSync(dir)
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return
    throw error
  }
  for (const name of names) {
    const path = Path.join(dir, name)
    if (name.startsWith(".staging-") || name.startsWith(".trash-")) removeIfPresent(fs, path)
    else if (depth > 1 && fs.lstatSync(path).isDirectory()) sweepLeftovers(fs, path, depth - 1)
  }
}

/** Compares a materialized tree with its manifest; returns the relative paths that differ. */
export const diffTree = (fs: TreeFs, blobs: BlobStore, treeHash: string, target: string): ReadonlyArray<string> => {
  const manifest = loadManifest(blobs, treeHash)
  const problems: Array<string> = []
  for (const entry of manifest.entries) {
    const path = Path.join(target, entry.path)
    try {
      const stat = fs.lstatSync(path)
      if (entry.type === "dir" ? !stat.isDirectory() : !stat.isFile()) problems.push(entry.path)
      else if (entry.type === "file" && sha256Hex(fs.readFileSync(path)) !== entry.sha256) problems.push(entry.path)
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error
      problems.push(entry.path)
    }
  }
  return problems
}
