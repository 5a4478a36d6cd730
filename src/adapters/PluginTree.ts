/**
 * Plugin trees in place: `materialize` puts a stored tree (see `TreeBlob.ts`) into the cache by building it in a
 * staging dir and renaming that over the target, so no reader ever sees a half copy; with a tree built ahead of its
 * event (`prepareTree`, `TreeStaging.ts`) only the swap is left to do. `removeTree` takes a tree out the same way, and
 * `sweepLeftovers` removes what processes that are gone left half done.
 *
 * Nothing here fsyncs: the cache is derived data (rebuilt from the log and the blobs), so its durability is not
 * awaited before an answer. `materialize` and `removeTree` return a `TreeDurability`, the files and directories
 * whose fsync makes the change durable; the Projector fsyncs them after the answer and only then records the
 * projection as done (its checkpoint), so a power loss before that re-projects the event from the blobs. A file
 * made from a spare keeps the descriptor it was written through until then (`SparePool.takeHeld`): the tree owns it
 * from the take on, and whoever ends the tree's life closes it (`discardPrepared`, a failed swap, the settle).
 */
import * as Path from "node:path"
import { Effect } from "effect"
import { attempt, ownerAlive, pidSuffix } from "./AtomicFile.ts"
import type { BlobStore } from "./BlobStore.ts"
import type { HeldFile } from "./SparePool.ts"
import { errnoCode } from "./FsPort.ts"
import { loadTree } from "./TreeBlob.ts"
import type { TreeFs } from "./TreeFs.ts"
import { type BuildOptions, closeHeld, type PreparedTree, prepareTree, removeIfPresent } from "./TreeStaging.ts"

/** What makes a tree's swap into `target` (or its removal) durable, for the caller to fsync after the fact. */
export interface TreeDurability {
  readonly target: string
  /** every file of the tree, at its place below `target` */
  readonly files: ReadonlyArray<string>
  /**
   * those of `files` whose descriptor is still open (spares, written through it): fsynced through it, then closed
   * with `close`, instead of being opened again by path
   */
  readonly held: ReadonlyMap<string, HeldFile>
  /** closes the `held` descriptors (once the settle fsynced them, or when the tree is dropped); a second call does nothing */
  readonly close: () => void
  /** the tree's directories, `target` itself and its parent (whose entry the swap changed) */
  readonly dirs: ReadonlyArray<string>
  /** the parents of directories created above the staging dir (e.g. a new marketplace dir): their entries too */
  readonly created: ReadonlyArray<string>
}

/**
 * The files and directories of `prepared` once it sits at `target`. Listed when first asked for: the settle that
 * fsyncs them runs after the answer, and the list (a path per entry) was made before it.
 */
const durabilityOf = (target: string, prepared: PreparedTree): TreeDurability => {
  // only the entries are kept for it, not the tree's content
  const { entries } = prepared.tree.manifest
  const { spareDirs, under } = prepared
  let listed: {
    readonly files: ReadonlyArray<string>
    readonly dirs: ReadonlyArray<string>
    readonly held: ReadonlyMap<string, HeldFile>
  } | undefined
  const list = () => {
    if (listed !== undefined) return listed
    const root = under === undefined ? target : Path.join(target, under)
    const files: Array<string> = []
    const held = new Map<string, HeldFile>()
    const dirs = new Set([Path.dirname(target), target, root])
    for (const entry of entries) {
      const path = Path.join(root, entry.path)
      const file = prepared.held.get(entry.path)
      if (file !== undefined) held.set(path, file)
      if (entry.type === "dir") dirs.add(path)
      else files.push(path)
      // a parent the manifest does not list exists all the same (`buildStaging` created it)
      for (let dir = Path.dirname(path); dir !== root; dir = Path.dirname(dir)) dirs.add(dir)
    }
    for (const dir of spareDirs) dirs.add(dir)
    listed = { files, dirs: [...dirs], held }
    return listed
  }
  return {
    target,
    get files() {
      return list().files
    },
    get held() {
      return list().held
    },
    close: () => closeHeld(prepared.held),
    get dirs() {
      return list().dirs
    },
    created: prepared.parents
  }
}

/**
 * Writes the tree at `target` (or at `target/<under>`, with nothing else in `target`): built completely in a
 * staging dir beside it, then swapped in by rename, and the old tree removed. A process crash leaves either the old
 * tree, the new tree, or no tree plus a `.staging-*` / `.trash-*` leftover that `sweepLeftovers` removes; the log
 * re-projects it. With `prepared` (the same tree, built by `prepareTree`, still there) only the swap is left to do.
 *
 * Returns what must be fsynced to make the new tree durable. Until the caller has done so (and recorded the
 * projection as done), a power loss may leave anything from the old tree (even half removed: its removal is not
 * ordered after the renames) to a torn new one; the caller then projects the event again, which rebuilds it.
 */
export const materialize = Effect.fnUntraced(function*(
  fs: TreeFs,
  blobs: BlobStore,
  treeHash: string,
  target: string,
  options: BuildOptions & { readonly prepared?: PreparedTree } = {}
): Effect.fn.Return<TreeDurability, unknown> {
  const prepared = options.prepared
  const swapped = prepared === undefined ? undefined : yield* attempt(() => swapInPrepared(fs, prepared, target))
  if (swapped !== undefined) return swapped
  const built = yield* attempt(() => prepareTree(fs, loadTree(blobs, treeHash), target, options))
  yield* attempt(() => swapIn(fs, built, target))
  return durabilityOf(target, built)
})

/**
 * `materialize` of a tree prepared beside `target`, synchronously (a projection's usual case, without the runtime's
 * steps). Undefined when the prepared tree is not there any more (or not beside the target): it is only closed
 * then, and the caller builds the tree anew.
 */
export const swapInPrepared = (fs: TreeFs, prepared: PreparedTree, target: string): TreeDurability | undefined => {
  const ready = Path.dirname(prepared.staging) === Path.dirname(target) && isDirectory(fs, prepared.staging)
  if (!ready) {
    closeHeld(prepared.held)
    return undefined
  }
  swapIn(fs, prepared, target)
  return durabilityOf(target, prepared)
}

/** Renames a built staging dir over `target` (the old tree renamed aside, then removed); a failure removes it. */
const swapIn = (fs: TreeFs, built: PreparedTree, target: string): void => {
  const parent = Path.dirname(target)
  try {
    // a first install finds nothing there: asked without an exception (a failed rename's error object cost more
    // than the lstat)
    let trash = fs.lstatIfExists(target) === undefined
      ? undefined
      : Path.join(parent, `.trash-${Path.basename(target)}-${pidSuffix()}`)
    if (trash !== undefined) {
      try {
        fs.renameSync(target, trash)
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error
        trash = undefined
      }
    }
    fs.renameSync(built.staging, target)
    if (trash !== undefined) removeIfPresent(fs, trash)
  } catch (error) {
    closeHeld(built.held)
    removeIfPresent(fs, built.staging)
    throw error
  }
}

const isDirectory = (fs: TreeFs, path: string): boolean => {
  try {
    return fs.lstatSync(path).isDirectory()
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false
    throw error
  }
}

const NONE_HELD: ReadonlyMap<string, HeldFile> = new Map()

/**
 * Removes `target` (a whole plugin dir) by renaming it aside first, so it vanishes at once, then emptying it.
 * Returns what must be fsynced to make the removal durable: the parent (also when `target` was already gone: a
 * crashed process may have renamed it without making that durable). Until then a power loss may bring the name
 * back over a half-removed tree, which projecting the removal again removes.
 */
export const removeTree = (fs: TreeFs, target: string): TreeDurability => {
  const parent = Path.dirname(target)
  const trash = Path.join(parent, `.trash-${Path.basename(target)}-${pidSuffix()}`)
  try {
    fs.renameSync(target, trash)
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error
    return { target, files: [], held: NONE_HELD, close: () => {}, dirs: isDirectory(fs, parent) ? [parent] : [], created: [] }
  }
  removeIfPresent(fs, trash)
  return { target, files: [], held: NONE_HELD, close: () => {}, dirs: [parent], created: [] }
}

/**
 * Removes staging and trash dirs a crash left behind below `dir` (the cache root, marketplace and plugin dirs),
 * except those of a process that is still running: it may be preparing a tree outside the lock.
 */
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
    if (name.startsWith(".staging-") || name.startsWith(".trash-")) {
      if (!ownerAlive(name)) removeIfPresent(fs, path)
    } else if (depth > 1 && fs.lstatSync(path).isDirectory()) sweepLeftovers(fs, path, depth - 1)
  }
}
