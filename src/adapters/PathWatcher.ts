/**
 * Watches paths (files or directories, existing or not) with one non-recursive `fs.watch` per directory on the
 * way to them: every ancestor from `/` down to the path's parent (and the path itself in `children` mode). A
 * path is therefore reported whenever what it names may have changed: written in place, replaced by a rename,
 * deleted, created later inside directories that do not exist yet, or moved away together with an ancestor.
 * Directory watches are shared by all paths below them, events for names nobody asked about are dropped with
 * one map lookup, and nothing runs while nothing changes (no polling, no timers).
 *
 * A directory is only watched while its parent is, so "the parent's watch is open" means every change to
 * the path since that watch was opened is reported (`covers`); a directory replaced by a rename is watched
 * again from scratch and every path below it reported.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** `direct`: the event named the path itself (a write or rename of it), not one of its ancestors. */
export type PathListener = (path: string, direct: boolean) => void

interface Leaf {
  readonly path: string
  readonly children: boolean
  readonly listener: PathListener
}

interface DirNode {
  readonly path: string
  readonly parent: DirNode | undefined
  readonly name: string
  handle: NodeFs.FSWatcher | undefined
  /** child name -> the leaves whose path goes through (or ends at) that child */
  readonly interests: Map<string, Set<Leaf>>
  /** leaves in `children` mode that are this directory: any entry inside it counts */
  readonly childLeaves: Set<Leaf>
  readonly subdirs: Map<string, DirNode>
}

export interface WatchOptions {
  /** also report changes to the entries directly inside the path (a directory) */
  readonly children?: boolean
}

export interface PathWatcher {
  /** Starts watching `path`; the returned function stops it. `listener` runs inside the file-system event. */
  readonly watch: (path: string, listener: PathListener, options?: WatchOptions) => () => void
  /** Every later change to `path` will be reported to the listeners watching it (their parent's watch is open). */
  readonly covers: (path: string) => boolean
  /** directories currently watched (open `fs.watch` handles) */
  readonly watchedDirectories: () => number
  readonly close: () => void
}

/** `/a/b/c` -> [["/", "a"], ["/a", "b"], ["/a/b", "c"]] */
const steps = (path: string): ReadonlyArray<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  for (let current = path; ;) {
    const parent = NodePath.dirname(current)
    if (parent === current) break
    out.push([parent, NodePath.basename(current)])
    current = parent
  }
  return out.reverse()
}

export const makePathWatcher = (): PathWatcher => {
  const nodes = new Map<string, DirNode>()
  let closed = false

  const nodeFor = (path: string): DirNode => {
    const existing = nodes.get(path)
    if (existing !== undefined) return existing
    const parentPath = NodePath.dirname(path)
    const parent = parentPath === path ? undefined : nodeFor(parentPath)
    const node: DirNode = {
      path,
      parent,
      name: NodePath.basename(path),
      handle: undefined,
      interests: new Map(),
      childLeaves: new Set(),
      subdirs: new Map()
    }
    parent?.subdirs.set(node.name, node)
    nodes.set(path, node)
    return node
  }

  const closeSubtree = (node: DirNode): void => {
    node.handle?.close()
    node.handle = undefined
    for (const sub of node.subdirs.values()) closeSubtree(sub)
  }

  const leavesOf = (node: DirNode, name: string | undefined): Set<Leaf> => {
    const found = new Set<Leaf>(node.childLeaves)
    if (name === undefined) {
      for (const set of node.interests.values()) for (const leaf of set) found.add(leaf)
    } else {
      for (const leaf of node.interests.get(name) ?? []) found.add(leaf)
    }
    return found
  }

  const notify = (leaves: Iterable<Leaf>, directName: string | undefined, node: DirNode): void => {
    for (const leaf of leaves) {
      const direct = leaf.children ? leaf.path === node.path : directName !== undefined && leaf.path === NodePath.join(node.path, directName)
      leaf.listener(leaf.path, direct)
    }
  }

  /** Opens the watches of `node` and the directories below it, parents first; a missing directory stops there. */
  const ensure = (node: DirNode): void => {
    if (closed) return
    if (node.handle === undefined) {
      if (node.parent !== undefined && node.parent.handle === undefined) return
      // no stat first: should this be a file, fs.watch watches the file, nothing below it can exist (ENOTDIR),
      // and its replacement by a directory is reported by the parent's watch, which then watches it again
      try {
        const handle = NodeFs.watch(node.path, { persistent: false }, (event, filename) => onEvent(node, handle, event, filename))
        handle.on("error", () => onError(node, handle))
        node.handle = handle
      } catch {
        return // vanished meanwhile, or not readable: the paths below stay uncovered
      }
    }
    for (const sub of node.subdirs.values()) ensure(sub)
  }

  const onEvent = (node: DirNode, handle: NodeFs.FSWatcher, event: string, filename: string | Buffer | null): void => {
    if (closed || node.handle !== handle) return
    const name = filename === null ? undefined : String(filename)
    // the common case in busy directories (/tmp, $HOME): an entry nobody asked about
    if (name !== undefined && node.childLeaves.size === 0 && !node.interests.has(name)) return
    const leaves = leavesOf(node, name)
    if (event === "rename") {
      // a directory on the way may now be another one (or none): watch it again from scratch
      const subs = name === undefined ? [...node.subdirs.values()] : [node.subdirs.get(name)].filter((s) => s !== undefined)
      for (const sub of subs) {
        closeSubtree(sub)
        ensure(sub)
      }
    }
    notify(leaves, name, node)
  }

  const onError = (node: DirNode, handle: NodeFs.FSWatcher): void => {
    if (closed || node.handle !== handle) return
    closeSubtree(node)
    // nothing below is covered any more; let the listeners look again
    notify(leavesOf(node, undefined), undefined, node)
  }

  /** Drops nodes nobody needs any more, from `node` upwards. */
  const prune = (node: DirNode | undefined): void => {
    for (let current = node; current !== undefined; current = current.parent) {
      if (current.interests.size > 0 || current.childLeaves.size > 0 || current.subdirs.size > 0) return
      current.handle?.close()
      current.handle = undefined
      nodes.delete(current.path)
      current.parent?.subdirs.delete(current.name)
    }
  }

  const watch = (path: string, listener: PathListener, options: WatchOptions = {}): (() => void) => {
    const absolute = NodePath.resolve(path)
    const leaf: Leaf = { path: absolute, children: options.children === true, listener }
    const chain = steps(absolute)
    for (const [dir, name] of chain) {
      const node = nodeFor(dir)
      let set = node.interests.get(name)
      if (set === undefined) node.interests.set(name, set = new Set())
      set.add(leaf)
    }
    if (leaf.children) nodeFor(absolute).childLeaves.add(leaf)
    // open what is missing along this path only (a newly opened directory brings its subtree along)
    for (const [dir] of chain) {
      const node = nodes.get(dir)
      if (node === undefined) break
      if (node.handle === undefined) ensure(node)
      if (node.handle === undefined) break
    }
    const own = leaf.children ? nodes.get(absolute) : undefined
    if (own !== undefined && own.handle === undefined) ensure(own)
    let active = true
    return () => {
      if (!active) return
      active = false
      if (leaf.children) {
        const own = nodes.get(absolute)
        own?.childLeaves.delete(leaf)
        prune(own)
      }
      for (const [dir, name] of [...chain].reverse()) {
        const node = nodes.get(dir)
        const set = node?.interests.get(name)
        if (node === undefined || set === undefined) continue
        set.delete(leaf)
        if (set.size === 0) node.interests.delete(name)
        prune(node)
      }
    }
  }

  const covers = (path: string): boolean => {
    const absolute = NodePath.resolve(path)
    const parent = nodes.get(NodePath.dirname(absolute))
    return parent !== undefined && parent.handle !== undefined && parent.interests.has(NodePath.basename(absolute))
  }

  return {
    watch,
    covers,
    watchedDirectories: () => {
      let open = 0
      for (const node of nodes.values()) if (node.handle !== undefined) open++
      return open
    },
    close: () => {
      closed = true
      for (const node of nodes.values()) {
        node.handle?.close()
        node.handle = undefined
      }
      nodes.clear()
    }
  }
}
