/**
 * Plugin trees on disk: `materialize` writes a stored tree (see `TreeBlob.ts`) into the cache through a staging
 * dir and renames, so no reader ever sees a half copy; `prepareTree` builds that staging dir ahead of the
 * event, so `materialize` only has to swap it in. Symlinks are never created: nothing may point out of a
 * plugin root.
 *
 * fsyncs are batched (`FsyncQueue`): each file's fsync is issued as soon as it is written and all are awaited
 * (directories with them) before anything is renamed into place or recorded. Each fsync still has to succeed,
 * so the guarantees are those of fsyncing one by one; only the waiting overlaps.
 */
import * as Path from "node:path"
import { Effect, Exit } from "effect"
import {
  attempt,
  closeQuietly,
  fsyncDir,
  type FsyncQueue,
  makeDirs,
  makeFsyncQueue,
  MAX_BATCH_FDS,
  ownerAlive,
  pidSuffix,
  writeAll
} from "./AtomicFile.ts"
import type { BlobStore } from "./BlobStore.ts"
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

/**
 * Builds the tree in `staging` (which exists): directories and files created, files written and chmodded.
 * Each file's fsync is issued right after its write, so the waits overlap the creation of the next files;
 * every `MAX_BATCH_FDS` files they are awaited and closed. The last wait also fsyncs every directory (chmodded
 * once their contents exist). `fds` holds the files not yet closed, `queue` their fsyncs, for the caller's
 * clean-up on failure (drain, then close).
 */
const buildStaging = Effect.fnUntraced(function*(
  fs: TreeFs,
  tree: LoadedTree,
  staging: string,
  under: string | undefined,
  fds: Array<number>,
  queue: FsyncQueue,
  /** more directories to fsync with the tree's own (the parents of dirs created for the staging dir) */
  alsoSync: ReadonlyArray<string>
): Effect.fn.Return<void, unknown> {
  const root = under === undefined ? staging : Path.join(staging, under)
  const dirs: Array<string> = [staging]
  const known = new Set<string>([staging])
  const chmods: Array<{ readonly path: string; readonly mode: number }> = []
  /** creates `dir` and any missing parent below the staging dir once; each is fsynced with the last batch */
  const ensureDir = (dir: string): void => {
    if (known.has(dir)) return
    ensureDir(Path.dirname(dir))
    fs.mkdirSync(dir, { recursive: false })
    known.add(dir)
    dirs.push(dir)
  }
  const closeAll = (): void => {
    for (let fd = fds.pop(); fd !== undefined; fd = fds.pop()) fs.closeSync(fd)
  }
  const entries = tree.manifest.entries
  let next = 0
  /** creates entries from `next` on, until all are done or `MAX_BATCH_FDS` files wait for their fsync */
  const createEntries = (): void => {
    ensureDir(root)
    for (; next < entries.length && fds.length < MAX_BATCH_FDS; next++) {
      const entry = entries[next]
      if (entry === undefined) continue
      const path = Path.join(root, entry.path)
      if (entry.type === "dir") {
        ensureDir(path)
        chmods.push({ path, mode: entry.mode })
        continue
      }
      ensureDir(Path.dirname(path))
      const bytes = tree.contentOf(entry)
      const fd = fs.openSync(path, "wx", entry.mode)
      fds.push(fd)
      writeAll(fs, fd, bytes, 0)
      // before the fsync, so the mode is as durable as the bytes (the umask may have narrowed it at open)
      fs.chmodSync(path, entry.mode)
      queue.start(fd)
    }
  }
  yield* attempt(createEntries)
  while (next < entries.length) {
    yield* queue.settle()
    yield* attempt(closeAll)
    yield* attempt(createEntries)
  }
  yield* attempt(() => {
    for (const { path, mode } of chmods) fs.chmodSync(path, mode)
  })
  yield* queue.settle([...dirs, ...alsoSync])
  yield* attempt(closeAll)
})

/** A tree built and fsynced ahead of its event (`prepareTree`), waiting to be swapped in by `materialize`. */
export interface PreparedTree {
  readonly staging: string
  /** directories created for it (deepest first): removed again, if still empty, when it is discarded */
  readonly created: ReadonlyArray<string>
}

/**
 * Builds `tree` in a new staging dir beside `target`, creating the parent if needed, everything fsynced:
 * files, directories, and the parents of the directories created (so the swap needs only the parent's fsync).
 * On failure nothing of it is left (see `discardPrepared`).
 */
const buildBeside = Effect.fnUntraced(function*(
  fs: TreeFs,
  tree: LoadedTree,
  target: string,
  under: string | undefined
): Effect.fn.Return<PreparedTree, unknown> {
  yield* attempt(() => checkVersionSegment(under))
  const parent = Path.dirname(target)
  const parents = yield* attempt(() => makeDirs(fs, parent))
  const created: Array<string> = []
  const top = parents[0]
  for (let dir = parent; top !== undefined && dir !== top && dir !== Path.dirname(dir); dir = Path.dirname(dir)) created.push(dir)
  const staging = Path.join(parent, `.staging-${Path.basename(target)}-${pidSuffix()}`)
  yield* attempt(() => fs.mkdirSync(staging, { recursive: false }))
  const fds: Array<number> = []
  const queue = makeFsyncQueue(fs)
  yield* buildStaging(fs, tree, staging, under, fds, queue, parents).pipe(
    Effect.onExit((exit) =>
      Exit.isSuccess(exit) ? Effect.void : queue.drain.pipe(Effect.andThen(Effect.sync(() => {
        for (const fd of fds) closeQuietly(fs, fd)
        discardPrepared(fs, { staging, created })
      })))
    )
  )
  return { staging, created }
})

/**
 * Builds the tree for `target` (at `target/<under>`) ahead of its event, files and dirs fsynced, in a staging
 * dir beside the target. The event's projection then only swaps it in (`materialize` with `prepared`);
 * `discardPrepared` removes it if the event is never appended. Named with this process's pid, so
 * `sweepLeftovers` of another process leaves it alone while this one lives.
 */
export const prepareTree = (
  fs: TreeFs,
  tree: LoadedTree,
  target: string,
  options: { readonly under?: string } = {}
): Effect.Effect<PreparedTree, unknown> => buildBeside(fs, tree, target, options.under)

/** Removes a prepared tree that was not swapped in, and the directories created for it if nothing else uses them. */
export const discardPrepared = (fs: TreeFs, prepared: PreparedTree): void => {
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
 * Writes the tree at `target` (or at `target/<under>`, with nothing else in `target`): built completely
 * (files and dirs fsynced, in batches) in a staging dir beside it, then swapped in by rename. A crash leaves
 * either the old tree, the new tree, or no tree plus a `.staging-*` / `.trash-*` leftover that
 * `sweepLeftovers` removes; the log re-projects it. With `prepared` (the same tree, built by `prepareTree`,
 * still there) only the swap is left to do.
 *
 * Returns the directories whose fsync makes the swap itself durable (the parent). The caller fsyncs them, e.g.
 * together with other outputs' dirs in one `fsyncBatch`, before it records the projection as done (the
 * checkpoint); until then a crash only means projecting it again.
 */
export const materialize = Effect.fn("PluginTree.materialize")(function*(
  fs: TreeFs,
  blobs: BlobStore,
  treeHash: string,
  target: string,
  options: { readonly under?: string; readonly prepared?: PreparedTree } = {}
): Effect.fn.Return<ReadonlyArray<string>, unknown> {
  const parent = Path.dirname(target)
  const prepared = options.prepared
  const ready = prepared !== undefined && Path.dirname(prepared.staging) === parent &&
    (yield* attempt(() => isDirectory(fs, prepared.staging)))
  const built = ready ? prepared : yield* buildBeside(fs, yield* attempt(() => loadTree(blobs, treeHash)), target, options.under)
  yield* attempt(() => {
    let trash: string | undefined = Path.join(parent, `.trash-${Path.basename(target)}-${pidSuffix()}`)
    try {
      fs.renameSync(target, trash)
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error
      trash = undefined
    }
    fs.renameSync(built.staging, target)
    if (trash !== undefined) {
      // the old tree is emptied only once both renames are durable: were its removals to reach the disk before a
      // rename, a power loss could bring the old name back over a half-deleted tree
      fsyncDir(fs, parent)
      removeIfPresent(fs, trash)
    }
  }).pipe(Effect.onError(() => Effect.sync(() => removeIfPresent(fs, built.staging))))
  return [parent]
})

const isDirectory = (fs: TreeFs, path: string): boolean => {
  try {
    return fs.lstatSync(path).isDirectory()
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false
    throw error
  }
}

/**
 * Removes `target` (a whole plugin dir) by renaming it aside first, so it vanishes at once; the rename is made
 * durable before the old tree is emptied. Returns the directories the caller must fsync before relying on the
 * removal: none after a rename here, the parent when `target` was already gone (a crashed process may have renamed
 * it without making that durable).
 */
export const removeTree = (fs: TreeFs, target: string): ReadonlyArray<string> => {
  const parent = Path.dirname(target)
  const trash = Path.join(parent, `.trash-${Path.basename(target)}-${pidSuffix()}`)
  try {
    fs.renameSync(target, trash)
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error
    return isDirectory(fs, parent) ? [parent] : []
  }
  fsyncDir(fs, parent)
  removeIfPresent(fs, trash)
  return []
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
