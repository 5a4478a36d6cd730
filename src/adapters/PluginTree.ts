/**
 * Plugin trees on disk: `materialize` writes a stored tree (see `TreeBlob.ts`) into the cache through a staging
 * dir and renames, so no reader ever sees a half copy; `prepareTree` builds that staging dir ahead of the
 * event, so `materialize` only has to swap it in. Symlinks are never created: nothing may point out of a
 * plugin root.
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
import { attempt, closeQuietly, makeDirs, ownerAlive, pidSuffix, writeAll } from "./AtomicFile.ts"
import type { BlobStore } from "./BlobStore.ts"
import type { HeldFile, SparePool } from "./SparePool.ts"
import { errnoCode } from "./FsPort.ts"
import { type LoadedTree, loadTree } from "./TreeBlob.ts"
import type { TreeFs } from "./TreeFs.ts"

const removeIfPresent = (fs: TreeFs, path: string): void => {
  fs.rmSync(path, { recursive: true, force: true })
}

const checkVersionSegment = (under: string | undefined): void => {
  if (under !== undefined && (under === "" || under === "." || under === ".." || under.includes("/") || under.includes("\\"))) {
    throw new Error(`version dir ${JSON.stringify(under)} is not a single path segment`)
  }
}

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
 * Builds the tree in `staging` (which exists, made by `mkdir` with the default mode): directories and files created,
 * files written, each closed at once (nothing is fsynced here, see the header), and chmodded where their mode is not
 * already the one recorded. Directories are chmodded once their contents exist. A file from a spare is written
 * through the spare's descriptor, chmodded through it too, and stays open: it goes into `held` (by its entry's path)
 * before anything is written, so a failure leaves it for `discardPrepared` to close.
 *
 * Most modes come out right at creation (0644 files, 0755 dirs under the usual umask), and a chmod each (14 for a
 * small plugin) was a measurable part of an install: a file's mode is the one `open` gave it (the umask, or a default
 * ACL, may have narrowed it: read back from the first file created with that mode, or the spare's, known to the
 * pool) and a directory's is the one `mkdir` gave it (or the spare it was made from).
 *
 * With `pool`, directories and files are spares moved in by rename where there are any (see `SparePool.ts`), and
 * created where there are none.
 */
const buildStaging = (
  fs: TreeFs,
  tree: LoadedTree,
  staging: string,
  under: string | undefined,
  pool: SparePool | undefined,
  held: Map<string, HeldFile>
): boolean => {
  let spared = false
  const root = under === undefined ? staging : Path.join(staging, under)
  /** the directories below the staging dir made so far, with the mode they got */
  const known = new Map<string, number>([[staging, fs.lstatSync(staging).mode & 0o7777]])
  /** the mode mkdir gives here: read back from the first directory it makes (a spare's may differ, e.g. a default ACL) */
  let mkdirMode: number | undefined
  /** creates `dir` and any missing parent below the staging dir, once each; returns its mode */
  const ensureDir = (dir: string): number => {
    const seen = known.get(dir)
    if (seen !== undefined) return seen
    ensureDir(Path.dirname(dir))
    let mode = pool?.takeDir(dir)
    spared ||= mode !== undefined
    if (mode === undefined) {
      fs.mkdirSync(dir, { recursive: false })
      mode = mkdirMode ??= fs.lstatSync(dir).mode & 0o7777
    }
    known.set(dir, mode)
    return mode
  }
  /**
   * The mode `open` gave a file created here, by the mode asked for: read back from the first such file, as
   * `mkdirMode` (same process, same umask, the same staging tree and so the same default ACL); a spare's is the pool's
   */
  const openModes = new Map<number, number>()
  const chmods: Array<{ readonly path: string; readonly mode: number }> = []
  ensureDir(root)
  for (const entry of tree.manifest.entries) {
    const path = Path.join(root, entry.path)
    if (entry.type === "dir") {
      if (entry.mode !== ensureDir(path)) chmods.push({ path, mode: entry.mode })
      continue
    }
    ensureDir(Path.dirname(path))
    const bytes = tree.contentOf(entry)
    const spare = pool?.takeHeld(path)
    if (spare !== undefined) {
      spared = true
      held.set(entry.path, spare)
      writeAll(fs, spare.fd, bytes, 0)
      if (spare.mode !== entry.mode) fs.fchmodSync(spare.fd, entry.mode)
      continue
    }
    const fd = fs.openSync(path, "wx", entry.mode)
    let created: number
    try {
      writeAll(fs, fd, bytes, 0)
      created = openModes.get(entry.mode) ?? fs.fstatSync(fd).mode & 0o7777
    } catch (error) {
      closeQuietly(fs, fd)
      throw error
    }
    fs.closeSync(fd)
    openModes.set(entry.mode, created)
    // the umask may have narrowed the mode at open
    if (created !== entry.mode) fs.chmodSync(path, entry.mode)
  }
  for (const { path, mode } of chmods) fs.chmodSync(path, mode)
  return spared
}

/** A tree built ahead of its event (`prepareTree`), waiting to be swapped in by `materialize`. */
export interface PreparedTree {
  readonly staging: string
  /** directories created for it (deepest first): removed again, if still empty, when it is discarded */
  readonly created: ReadonlyArray<string>
  /** the parents of the directories created for it, whose entries must be made durable with the tree */
  readonly parents: ReadonlyArray<string>
  /** the spare directory its inodes were taken from, if any (`SparePool.ts`): made durable with the tree too */
  readonly spareDirs: ReadonlyArray<string>
  /** the descriptors of its files made from spares, by entry path: open until the tree's life ends (see the header) */
  readonly held: ReadonlyMap<string, HeldFile>
  readonly tree: LoadedTree
  readonly under: string | undefined
}

/**
 * Builds `tree` in a new staging dir beside `target`, creating the parent if needed. On failure nothing of it is left.
 * Synchronous, as every call it makes: its callers wrap it once (`attempt`), not each step.
 */
const buildBeside = (
  fs: TreeFs,
  tree: LoadedTree,
  target: string,
  under: string | undefined,
  pool: SparePool | undefined,
  knownParents: Set<string> | undefined
): PreparedTree => {
  checkVersionSegment(under)
  const parent = Path.dirname(target)
  const staging = Path.join(parent, `.staging-${Path.basename(target)}-${pidSuffix()}`)
  // the parent (the marketplace's cache dir) usually exists. At a marketplace's first install it does not: unless
  // known, it is looked at first (one `lstat`, no error built), else the staging dir's take and its mkdir would both
  // fail there before it is made (two thrown errors, ~0.15 ms). One removed since it became known costs those two.
  const parentMissing = knownParents?.has(parent) !== true && fs.lstatIfExists(parent) === undefined
  let stagingSpared = !parentMissing && pool?.takeDir(staging) !== undefined
  const made = stagingSpared || (!parentMissing && mkdirUnlessParentMissing(fs, staging))
  // a missing parent is a spare too when its own parent exists (a marketplace's first install)
  const parentSpared = !made && pool?.takeDir(parent) !== undefined
  const parents = made ? [] : parentSpared ? [Path.dirname(parent)] : makeDirs(fs, parent)
  const created: Array<string> = []
  const top = parents[0]
  for (let dir = parent; top !== undefined && dir !== top && dir !== Path.dirname(dir); dir = Path.dirname(dir)) created.push(dir)
  const held = new Map<string, HeldFile>()
  const prepared: PreparedTree = { staging, created, parents, spareDirs: [], held, tree, under }
  let spared: boolean
  try {
    if (!made) {
      stagingSpared = pool?.takeDir(staging) !== undefined
      if (!stagingSpared) fs.mkdirSync(staging, { recursive: false })
    }
    spared = buildStaging(fs, tree, staging, under, pool, held)
  } catch (error) {
    discardPrepared(fs, prepared)
    throw error
  }
  knownParents?.add(parent)
  return pool !== undefined && (parentSpared || stagingSpared || spared) ? { ...prepared, spareDirs: [pool.dir] } : prepared
}

/** `mkdir dir`: false when its parent is missing (for the caller to create), any other error thrown */
const mkdirUnlessParentMissing = (fs: TreeFs, dir: string): boolean => {
  try {
    fs.mkdirSync(dir, { recursive: false })
    return true
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error
    return false
  }
}

export interface BuildOptions {
  /** the tree goes to `target/<under>`, with nothing else in `target` */
  readonly under?: string
  /** where directories and files are taken from instead of being made (`SparePool.ts`) */
  readonly pool?: SparePool
  /** the parents of targets built before (marketplace cache dirs), kept by the caller: not looked at again */
  readonly knownParents?: Set<string>
}

/**
 * Builds the tree for `target` (at `target/<under>`) ahead of its event, in a staging dir beside the target. The
 * event's projection then only swaps it in (`materialize` with `prepared`); `discardPrepared` removes it if the
 * event is never appended. Named with this process's pid, so `sweepLeftovers` of another process leaves it alone
 * while this one lives. Synchronous (throws the fs error, leaving nothing behind): the caller holds it in its own
 * step, with whatever else it prepares.
 */
export const prepareTree = (
  fs: TreeFs,
  tree: LoadedTree,
  target: string,
  options: BuildOptions = {}
): PreparedTree =>
  buildBeside(fs, tree, target, options.under, options.pool, options.knownParents)

/** Closes the descriptors a prepared tree holds (a second call does nothing). */
const closeHeld = (held: ReadonlyMap<string, HeldFile>): void => {
  for (const file of held.values()) file.close()
}

/**
 * Removes a prepared tree that was not swapped in (its descriptors closed), and the directories created for it if
 * nothing else uses them.
 */
export const discardPrepared = (fs: TreeFs, prepared: PreparedTree): void => {
  closeHeld(prepared.held)
  removeIfPresent(fs, prepared.staging)
  for (const dir of prepared.created) {
    try {
      fs.rmdirSync(dir)
    } catch {
      // not empty (another install put something there meanwhile) or gone: leave it
      return
    }
  }
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
  const built = yield* attempt(() => buildBeside(fs, loadTree(blobs, treeHash), target, options.under, options.pool, options.knownParents))
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
