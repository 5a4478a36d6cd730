/**
 * Compares a plugin's cache dir with the tree its install recorded: every path missing, modified, of the wrong
 * type or mode, and every path that should not be there. Symlinks are never followed (a symlink where a file
 * should be is a `type` problem).
 */
import * as Path from "node:path"
import type { TreeProblem } from "../domain/Events.ts"
import { type BlobStore, sha256Hex } from "./BlobStore.ts"
import { errnoCode } from "./FsPort.ts"
import { loadManifest } from "./TreeBlob.ts"
import type { TreeFs } from "./TreeFs.ts"

const lstatOrUndefined = (fs: TreeFs, path: string) => {
  try {
    return fs.lstatSync(path)
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined
    throw error
  }
}

/**
 * The problems of `pluginDir` (holding only `<version>/`, as the projection writes it) against the tree blob
 * `treeHash`; empty when it matches. Throws when the blob itself cannot be read (nothing to compare with).
 */
export const checkTree = (fs: TreeFs, blobs: BlobStore, treeHash: string, pluginDir: string, version: string): ReadonlyArray<TreeProblem> => {
  const manifest = loadManifest(blobs, treeHash)
  const top = lstatOrUndefined(fs, pluginDir)
  if (top === undefined) return [{ path: ".", kind: "missing" }]
  if (!top.isDirectory()) return [{ path: ".", kind: "type" }]
  const problems: Array<TreeProblem> = []
  for (const name of [...fs.readdirSync(pluginDir)].sort()) {
    if (name !== version) problems.push({ path: name, kind: "extra" })
  }
  const root = Path.join(pluginDir, version)
  const rootStat = lstatOrUndefined(fs, root)
  if (rootStat === undefined || !rootStat.isDirectory()) {
    problems.push({ path: version, kind: rootStat === undefined ? "missing" : "type" })
    return problems
  }
  const expected = new Set<string>()
  for (const entry of manifest.entries) {
    expected.add(entry.path)
    const relative = Path.posix.join(version, entry.path)
    const stat = lstatOrUndefined(fs, Path.join(root, entry.path))
    if (stat === undefined) problems.push({ path: relative, kind: "missing" })
    else if (entry.type === "dir" ? !stat.isDirectory() : !stat.isFile()) problems.push({ path: relative, kind: "type" })
    else if (entry.type === "file" && sha256Hex(fs.readFileSync(Path.join(root, entry.path))) !== entry.sha256) {
      problems.push({ path: relative, kind: "modified" })
    } else if ((stat.mode & 0o777) !== (entry.mode & 0o777)) problems.push({ path: relative, kind: "mode" })
  }
  // what is on disk but not in the tree (extra dirs are reported once, not walked)
  const walk = (relative: string): void => {
    for (const name of [...fs.readdirSync(Path.join(root, relative))].sort()) {
      const path = relative === "" ? name : `${relative}/${name}`
      if (!expected.has(path)) {
        problems.push({ path: Path.posix.join(version, path), kind: "extra" })
        continue
      }
      const stat = lstatOrUndefined(fs, Path.join(root, path))
      if (stat?.isDirectory() === true) walk(path)
    }
  }
  walk("")
  return problems
}
