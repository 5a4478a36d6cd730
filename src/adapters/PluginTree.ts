/**
 * Plugin trees as content-addressed snapshots: `readSource` + `storeSource` (or `snapshot`) store a source dir
 * as one tree blob, a canonical manifest with the bytes of its small files inline (its hash is the tree hash
 * recorded in `PluginInstalled`), plus a blob per big file; `materialize` writes a tree into place through a
 * staging dir and renames, so no reader ever sees a half copy. `prepareTree` builds that staging dir ahead of
 * the event, so `materialize` only has to swap it in. Symlinks are never followed or copied: nothing may point
 * out of a plugin root.
 *
 * fsyncs are batched (`FsyncQueue`): each file's fsync is issued as soon as it is written and all are awaited
 * (directories with them) before anything is renamed into place or recorded. Each fsync still has to succeed,
 * so the guarantees are those of fsyncing one by one; only the waiting overlaps.
 */
import * as NodeFs from "node:fs"
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
  /** format 2, inline files only: where the file's bytes start in the body of the tree blob */
  readonly offset?: number
}

/**
 * Format 1: the JSON manifest alone; every file is a blob of its own. Format 2 (written since): a JSON header
 * line, then a body holding the bytes of every file up to `INLINE_MAX_BYTES` (entries carry their `offset`);
 * bigger files stay separate blobs. Both are read back.
 */
export interface TreeManifest {
  readonly format: 1 | 2
  readonly entries: ReadonlyArray<TreeEntry>
}

/**
 * Files up to this size are stored inside the tree blob itself, so a typical plugin costs one new blob file
 * (one create, one fsync, one shard dir) instead of one per file; bigger files stay separate, deduplicated
 * blobs. The tree blob is content-addressed like any other: the same tree always gives the same bytes.
 */
export const INLINE_MAX_BYTES = 64 * 1024

export interface Snapshot {
  readonly treeHash: string
  readonly manifest: TreeManifest
  /** symlinks and special files that were left out, relative to the root */
  readonly skipped: ReadonlyArray<string>
}

/** A tree read back from its blob: the manifest, and the bytes of each file entry (verified). */
export interface LoadedTree {
  readonly manifest: TreeManifest
  readonly contentOf: (entry: TreeEntry) => Uint8Array
}

const compareEntries = (a: TreeEntry, b: TreeEntry): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

/** The manifest's JSON (format 1: the whole blob; format 2: the header line). Keys in a fixed order. */
export const encodeManifest = (manifest: TreeManifest): Uint8Array =>
  Buffer.from(JSON.stringify({ format: manifest.format, entries: manifest.entries }), "utf8")

/** A source dir read into memory: its tree blob (format 2), and the big files that are not stored yet. */
export interface SourceTree {
  readonly treeHash: string
  readonly manifest: TreeManifest
  readonly encoded: Uint8Array
  readonly separate: ReadonlyArray<Uint8Array>
  /** symlinks and special files that were left out, relative to the root */
  readonly skipped: ReadonlyArray<string>
  /** the tree read back from memory, so it can be built (`prepareTree`) before its blobs are stored */
  readonly tree: LoadedTree
}

/** Reads `root` (not following symlinks) into a format-2 tree blob, plus the big files not yet stored. */
export const readSource = (fs: TreeFs, blobs: BlobStore, root: string): SourceTree => {
  const found: Array<TreeEntry> = []
  const skipped: Array<string> = []
  const inline = new Map<string, Uint8Array>()
  const separate = new Map<string, Uint8Array>()
  const walk = (relative: string): void => {
    const dir = relative === "" ? root : Path.join(root, relative)
    for (const name of [...fs.readdirSync(dir)].sort()) {
      const rel = relative === "" ? name : `${relative}/${name}`
      const stat = fs.lstatSync(Path.join(root, rel))
      if (stat.isDirectory()) {
        found.push({ path: rel, type: "dir", mode: stat.mode & 0o777 })
        walk(rel)
      } else if (stat.isFile()) {
        const bytes = fs.readFileSync(Path.join(root, rel))
        const hash = sha256Hex(bytes)
        if (bytes.length <= INLINE_MAX_BYTES) inline.set(rel, bytes)
        // only new content is held for the batch; a blob already stored is never rewritten
        else if (!separate.has(hash) && !blobs.has(hash)) separate.set(hash, bytes)
        found.push({ path: rel, type: "file", mode: stat.mode & 0o777, sha256: hash, size: bytes.length })
      } else {
        skipped.push(rel)
      }
    }
  }
  walk("")
  found.sort(compareEntries)
  // offsets follow the sorted order, so the same tree always encodes to the same bytes (and tree hash)
  const body: Array<Uint8Array> = []
  let offset = 0
  const entries = found.map((entry): TreeEntry => {
    const bytes = inline.get(entry.path)
    if (bytes === undefined) return entry
    body.push(bytes)
    offset += bytes.length
    return { path: entry.path, type: entry.type, mode: entry.mode, sha256: entry.sha256 ?? "", size: bytes.length, offset: offset - bytes.length }
  })
  const manifest: TreeManifest = { format: 2, entries }
  const encoded = Buffer.concat([encodeManifest(manifest), Buffer.from("\n"), ...body])
  const treeHash = sha256Hex(encoded)
  const tree = decodeTree(treeHash, encoded, (hash) => separate.get(hash) ?? blobs.get(hash))
  return { treeHash, manifest, encoded, separate: [...separate.values()], skipped, tree }
}

/**
 * Stores a source tree durably: its tree blob and its new big files, in one batch (`BlobStore.putAll`). When
 * it succeeds, everything the tree hash refers to is on disk, so the event recording it may be appended.
 */
export const storeSource = (blobs: BlobStore, source: SourceTree): Effect.Effect<void, unknown> =>
  Effect.asVoid(blobs.putAll([...source.separate, source.encoded]))

/**
 * Stores the regular files and directories below `root` (not following symlinks) as one tree blob (small files
 * inline) plus a blob per big file not stored yet (see `storeSource`). Fails with the fs error.
 */
export const snapshot = Effect.fn("PluginTree.snapshot")(
  function*(fs: TreeFs, blobs: BlobStore, root: string): Effect.fn.Return<Snapshot, unknown> {
    const source = yield* attempt(() => readSource(fs, blobs, root))
    yield* storeSource(blobs, source)
    return { treeHash: source.treeHash, manifest: source.manifest, skipped: source.skipped }
  }
)

const isTreeEntry = (value: unknown): value is TreeEntry => {
  if (typeof value !== "object" || value === null) return false
  const path: unknown = Reflect.get(value, "path")
  const type: unknown = Reflect.get(value, "type")
  const mode: unknown = Reflect.get(value, "mode")
  return typeof path === "string" && (type === "dir" || type === "file") && typeof mode === "number"
}

const isOffset = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0

/**
 * Decodes a tree blob, refusing entries that would leave the tree or point outside the body; `fetch` gives the
 * bytes of a file stored as a blob of its own.
 */
const decodeTree = (treeHash: string, bytes: Uint8Array, fetch: (hash: string) => Uint8Array): LoadedTree => {
  const newline = bytes.indexOf(0x0a)
  // JSON.stringify never writes a raw newline: the first one ends the header (format 1 has none at all)
  const header = newline === -1 ? bytes : bytes.subarray(0, newline)
  const body = newline === -1 ? new Uint8Array(0) : bytes.subarray(newline + 1)
  const parsed: unknown = JSON.parse(Buffer.from(header).toString("utf8"))
  const format: unknown = typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "format") : undefined
  const raw: unknown = typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "entries") : undefined
  if (format !== 1 && format !== 2) throw new Error(`tree ${treeHash} has an unknown format`)
  if (!Array.isArray(raw)) throw new Error(`tree ${treeHash} has no entries`)
  const entries: Array<TreeEntry> = []
  for (const entry of raw) {
    if (!isTreeEntry(entry)) throw new Error(`tree ${treeHash} has a malformed entry`)
    const parts = entry.path.split("/")
    if (entry.path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
      throw new Error(`tree ${treeHash} has an entry outside its root: ${entry.path}`)
    }
    const offset: unknown = Reflect.get(entry, "offset")
    const size: unknown = Reflect.get(entry, "size")
    if (offset !== undefined && (format !== 2 || !isOffset(offset) || !isOffset(size) || offset + size > body.length)) {
      throw new Error(`tree ${treeHash} has a malformed entry: ${entry.path}`)
    }
    entries.push(entry)
  }
  const contentOf = (entry: TreeEntry): Uint8Array => {
    if (entry.offset === undefined) return fetch(entry.sha256 ?? "")
    const content = body.subarray(entry.offset, entry.offset + (entry.size ?? 0))
    // the tree blob's own hash already vouches for these bytes; this also catches an entry pointing elsewhere
    if (sha256Hex(content) !== entry.sha256) throw new Error(`tree ${treeHash} has corrupt content for ${entry.path}`)
    return content
  }
  return { manifest: { format, entries }, contentOf }
}

/** Reads a tree back from its blob (see `decodeTree`). */
export const loadTree = (blobs: BlobStore, treeHash: string): LoadedTree =>
  decodeTree(treeHash, blobs.get(treeHash), (hash) => blobs.get(hash))

/** Reads a tree manifest back from its blob, refusing entries that would leave the tree. */
export const loadManifest = (blobs: BlobStore, treeHash: string): TreeManifest => loadTree(blobs, treeHash).manifest

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
    // removing the old tree before the parent's fsync is safe: until the caller's fsync and checkpoint,
    // a crash re-projects this event, which rebuilds `target` whatever state the renames reached
    if (trash !== undefined) removeIfPresent(fs, trash)
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

/** Removes `target` (a whole plugin dir) by renaming it aside first, so it vanishes at once. */
export const removeTree = (fs: TreeFs, target: string): void => {
  const parent = Path.dirname(target)
  const trash = Path.join(parent, `.trash-${Path.basename(target)}-${pidSuffix()}`)
  try {
    fs.renameSync(target, trash)
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return
    throw error
  }
  fsyncDir(fs, parent)
  removeIfPresent(fs, trash)
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
