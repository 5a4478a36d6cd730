/**
 * Which directories of the active plugins' bundles the capability feed does not watch yet. Walking every active
 * plugin's skill tree after every recompute cost ~6.7 ms of main-thread CPU per command at ~150 plugins, so the
 * directories found are remembered per plugin and a plugin's tree is walked again only when
 * - it is new in the view, or what the view says about it changed (root, skill roots, skill files),
 * - a watch reported a change inside its directories (`touched`: a skill directory made by hand is found so), or
 * - its last walk found directories that were not watched yet: an entry made after that walk and before their
 *   watch opened would be missed, so the next answer walks it once more, now under watch (it finds no new ones).
 * Plugins that left the view are forgotten; the directories already watched stay watched (as they always did).
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { CapabilitiesView } from "./Capabilities.ts"

/** how deep below a skill root new skill directories are looked for (the reader's nesting is rarely deeper) */
const SKILL_DIR_DEPTH = 4

export type ReadDirectory = (dir: string) => ReadonlyArray<{ readonly name: string; isDirectory(): boolean }>

const readDirectory: ReadDirectory = (dir) => NodeFs.readdirSync(dir, { withFileTypes: true })

const subdirectories = (read: ReadDirectory, dir: string, depth: number, out: Array<string>): void => {
  out.push(dir)
  if (depth === 0) return
  let entries: ReturnType<ReadDirectory>
  try {
    entries = read(dir)
  } catch {
    return
  }
  for (const entry of entries) if (entry.isDirectory()) subdirectories(read, NodePath.join(dir, entry.name), depth - 1, out)
}

const within = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`)

interface Walked {
  readonly key: string
  readonly root: string
  readonly skillRoots: ReadonlyArray<string>
  readonly dirs: ReadonlySet<string>
  stale: boolean
}

export interface BundleDirectories {
  /**
   * The directories whose entries make an active plugin's bundle (its root: manifest dir, `.mcp.json`, `.app.json`,
   * `skills/` appearing; `.codex-plugin/`; every directory under its skill roots: a SKILL.md edited, a skill added
   * or removed) that were not returned before; from now on they count as watched.
   */
  readonly fresh: (view: CapabilitiesView) => ReadonlyArray<string>
  /** a watch reported a change at `path`: the plugin whose directories hold it is walked again next time */
  readonly touched: (path: string) => void
}

export const makeBundleDirectories = (read: ReadDirectory = readDirectory): BundleDirectories => {
  const watched = new Set<string>()
  const known = new Map<string, Walked>()

  const fresh = (view: CapabilitiesView): ReadonlyArray<string> => {
    const skillRoots = new Map<string, Array<string>>()
    for (const { pluginId, path } of view.skillRoots) {
      const roots = skillRoots.get(pluginId)
      if (roots === undefined) skillRoots.set(pluginId, [path])
      else roots.push(path)
    }
    const skills = new Map<string, Array<string>>()
    for (const { pluginId, path } of view.skills) {
      const paths = skills.get(pluginId)
      if (paths === undefined) skills.set(pluginId, [path])
      else paths.push(path)
    }
    const out: Array<string> = []
    const present = new Set<string>()
    for (const plugin of view.plugins) {
      present.add(plugin.pluginId)
      const roots = skillRoots.get(plugin.pluginId) ?? []
      const key = [plugin.root, ...roots, "", ...(skills.get(plugin.pluginId) ?? [])].join("\u0000")
      const before = known.get(plugin.pluginId)
      if (before !== undefined && before.key === key && !before.stale) continue
      const dirs = [plugin.root, NodePath.join(plugin.root, ".codex-plugin")]
      for (const root of roots) subdirectories(read, root, SKILL_DIR_DEPTH, dirs)
      const unwatched = dirs.filter((dir) => !watched.has(dir))
      for (const dir of unwatched) {
        watched.add(dir)
        out.push(dir)
      }
      known.set(plugin.pluginId, { key, root: plugin.root, skillRoots: roots, dirs: new Set(dirs), stale: unwatched.length > 0 })
    }
    for (const pluginId of known.keys()) if (!present.has(pluginId)) known.delete(pluginId)
    return out
  }

  const touched = (path: string): void => {
    for (const walked of known.values()) {
      // under its root or skill roots too: a directory deleted since the last walk (watched still) may come back
      if (walked.dirs.has(path) || within(path, walked.root) || walked.skillRoots.some((root) => within(path, root))) walked.stale = true
    }
  }

  return { fresh, touched }
}
