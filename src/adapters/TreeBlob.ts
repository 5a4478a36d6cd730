/**
 * The tree blob: a source dir stored content-addressed. Format 2 is a canonical manifest header (its hash is the
 * tree hash recorded in `PluginInstalled`) followed by the bytes of every small file inline; big files are blobs
 * of their own. `readSource` reads a dir (never following symlinks), `storeSource` makes it durable, `loadTree`
 * reads it back verified (format 1 trees, manifest-only, still load).
 */
import { type Context, Effect, type Scope } from "effect"
import * as Path from "node:path"
import { attempt, closeQuietly } from "./AtomicFile.ts"
import { type BlobStore, sha256Hex } from "./BlobStore.ts"
import { errnoCode } from "./FsPort.ts"
import { readFileOnce, type RegularFile } from "./ReadFileOnce.ts"
import { namedAs, openCheckedDir, openDirBelow, pathOfOpenDir } from "./DirDescriptors.ts"
import type { DirEntry, EntryKind, TreeFs } from "./TreeFs.ts"

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
 * Files up to this size are stored inside the tree blob itself, so a typical plugin costs one new blob (one record
 * of a pack) instead of one per file; bigger files stay separate, deduplicated blobs. The tree blob is
 * content-addressed like any other: the same tree always gives the same bytes.
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
  /** the big files already stored (by hash): not rewritten, but made durable with the batch all the same */
  readonly stored: ReadonlyArray<string>
  /** symlinks and special files that were left out, relative to the root */
  readonly skipped: ReadonlyArray<string>
  /** the tree with its bytes as read, so it can be built (`prepareTree`) before its blobs are stored */
  readonly tree: LoadedTree
}

const byName = (a: DirEntry, b: DirEntry): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

type Lstat = ReturnType<TreeFs["lstatSync"]>
const kindOfStat = (stat: Lstat): EntryKind =>
  stat.isDirectory() ? "dir" : stat.isFile() ? "file" : stat.isSymbolicLink() ? "symlink" : "other"

export interface ReadSourceOptions {
  /**
   * Files of the source read already (by path relative to the root), taken as they are where the listing finds a
   * regular file: the install plan's manifest, read below the same checked root (`readFileBelow`), so the tree
   * holds the very bytes the plan validated
   */
  readonly read?: ReadonlyMap<string, RegularFile> | undefined
  /** the root's real path as it was checked (e.g. inside its marketplace root): the dir opened must still be it */
  readonly realRoot?: string
}

/**
 * Reads `root` (not following symlinks below it) into a format-2 tree blob, plus the big files not yet stored.
 *
 * Nothing below the root is reached through a symlink, even one swapped in while the walk runs (`DirDescriptors.ts`):
 * the root is opened once (and, with `realRoot`, must be the dir checked), and every directory below it is opened in
 * its open parent without following a symlink there, then listed and its entries opened through its descriptor. A
 * symlink found there instead is left out. A file is opened only when the listing says it is a regular file, without
 * following a symlink at its name, and read through that one descriptor (`readFileOnce`): a symlink or a special file
 * swapped in meanwhile is left out like one listed as such, never followed or waited on.
 */
export const readSource = (
  fs: TreeFs,
  blobs: BlobStore,
  root: string,
  options: ReadSourceOptions = {}
): SourceTree => {
  const read = options.read
  const found: Array<TreeEntry> = []
  const skipped: Array<string> = []
  const inline = new Map<string, Uint8Array>()
  const separate = new Map<string, Uint8Array>()
  const stored = new Set<string>()
  const readFile = (rel: string, path: string): RegularFile | undefined => {
    const known = read?.get(rel)
    if (known !== undefined) return known
    try {
      const opened = readFileOnce(fs, path)
      return opened._tag === "Regular" ? opened.file : undefined
    } catch (error) {
      if (errnoCode(error) === "ELOOP") return undefined
      throw error
    }
  }
  /** The entries of the dir open as `fd` (its path: `dir`); errors name files by their paths below `dir`. */
  const walk = (relative: string, fd: number, dir: string): void => {
    const at = pathOfOpenDir(fd) ?? dir
    try {
      walkAt(relative, at, dir)
    } catch (error) {
      throw namedAs(error, at, dir)
    }
  }
  /** `at`: the path reaching the dir (see `walk`); an entry's path is `at/<name>` (a name has no `/`, `.` or `..`) */
  const walkAt = (relative: string, at: string, dir: string): void => {
    const prefix = `${at}/`
    for (const { name, kind } of [...fs.readdirEntriesSync(at)].sort(byName)) {
      const rel = relative === "" ? name : `${relative}/${name}`
      const path = prefix + name
      // some file systems report no types: `lstat` says then
      const type = kind === "unknown" ? kindOfStat(fs.lstatSync(path)) : kind
      if (type === "dir") {
        // opened only if it is still a directory (not a symlink swapped in since the listing); its mode from there
        const child = openDirBelow(fs, path)
        if (child === undefined) {
          skipped.push(rel)
          continue
        }
        try {
          found.push({ path: rel, type: "dir", mode: fs.fstatSync(child).mode & 0o777 })
          walk(rel, child, `${dir}/${name}`)
        } finally {
          // a read-only directory: closing it loses nothing (nor does a failure to)
          closeQuietly(fs, child)
        }
        continue
      }
      const file = type === "file" ? readFile(rel, path) : undefined
      if (file === undefined) {
        skipped.push(rel)
        continue
      }
      const bytes = file.bytes
      const hash = sha256Hex(bytes)
      if (bytes.length <= INLINE_MAX_BYTES) inline.set(rel, bytes)
      // only new content is held for the batch; a blob already stored is never rewritten
      else if (!separate.has(hash) && !stored.has(hash)) {
        if (blobs.has(hash)) stored.add(hash)
        else separate.set(hash, bytes)
      }
      found.push({ path: rel, type: "file", mode: file.mode, sha256: hash, size: bytes.length })
    }
  }
  const rootFd = openCheckedDir(fs, root, options.realRoot)
  try {
    walk("", rootFd, Path.resolve(root))
  } finally {
    closeQuietly(fs, rootFd)
  }
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
  // the bytes were just read and hashed: handed out as they are (a tree loaded from its blob is verified instead)
  const tree: LoadedTree = {
    manifest,
    contentOf: (entry) => inline.get(entry.path) ?? separate.get(entry.sha256 ?? "") ?? blobs.get(entry.sha256 ?? "")
  }
  return { treeHash, manifest, encoded, separate: [...separate.values()], stored: [...stored], skipped, tree }
}

/**
 * Stores a source tree durably: its tree blob and its new big files, in one batch (`BlobStore.putAll`), and makes
 * sure the big files stored before are durable too (another process may have appended them and not fdatasynced them
 * yet). When it succeeds, everything the tree hash refers to is on disk, so the event recording it may be appended.
 */
export const storeSource = (blobs: BlobStore, source: SourceTree): Effect.Effect<void, unknown> =>
  Effect.asVoid(blobs.putAll([...source.separate, source.encoded], source.stored))

/**
 * `storeSource` in two halves (`BlobStore.startPutAll`, synchronous: it throws the fs error): the new blobs are
 * appended and their fdatasync issued when it returns; the returned effect completes once that (and whatever else
 * they need) is done, and must be awaited before the tree hash is recorded. The rest is held by `scope`.
 */
export const storeSourceStarted = (
  blobs: BlobStore,
  source: SourceTree,
  scope: Scope.Scope,
  context: Context.Context<never>
): Effect.Effect<void, unknown> => blobs.startPutAll([...source.separate, source.encoded], source.stored, scope, context).durable

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
