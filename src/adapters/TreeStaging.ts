/**
 * A plugin tree built ahead of its event, in a staging dir beside its target: `prepareTree` creates the dirs and
 * writes the files of a stored tree (see `TreeBlob.ts`) there, from spare inodes where there are any
 * (`SparePool.ts`), so that the projection only has to swap it in (`PluginTree.ts`); `discardPrepared` removes it
 * when its event is never appended. Symlinks are never created: nothing may point out of a plugin root. Nothing here
 * fsyncs (see `PluginTree.ts` for when and by whom that is done); a file made from a spare keeps the descriptor it was
 * written through (`held`) until the tree's life ends.
 */
import * as Path from "node:path"
import { closeQuietly, makeDirs, pidSuffix, writeAll } from "./AtomicFile.ts"
import type { HeldFile, SparePool } from "./SparePool.ts"
import { errnoCode } from "./FsPort.ts"
import type { LoadedTree } from "./TreeBlob.ts"
import type { TreeFs } from "./TreeFs.ts"

/** `rm -rf path` */
export const removeIfPresent = (fs: TreeFs, path: string): void => {
  fs.rmSync(path, { recursive: true, force: true })
}

const checkVersionSegment = (under: string | undefined): void => {
  if (under !== undefined && (under === "" || under === "." || under === ".." || under.includes("/") || under.includes("\\"))) {
    throw new Error(`version dir ${JSON.stringify(under)} is not a single path segment`)
  }
}

/**
 * Builds the tree in `staging` (which exists, made by `mkdir` with the default mode): directories and files created,
 * files written, each closed at once (nothing is fsynced here), and chmodded where their mode is not already the
 * one recorded. Directories are chmodded once their contents exist. A file from a spare is written
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
export const closeHeld = (held: ReadonlyMap<string, HeldFile>): void => {
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
