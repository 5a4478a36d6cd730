import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeBlobStore, sha256Hex } from "../../src/adapters/BlobStore.ts"
import { INLINE_MAX_BYTES, readSource } from "../../src/adapters/TreeBlob.ts"
import { type EntryKind, nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { tempDirScoped } from "./fixtures/testkit.ts"

/**
 * A source dir whose tree hash is known: nested dirs, names whose walk order is not their sorted order (`a-b` sorts
 * before `a/x`), an executable, an empty file, a file that is exactly inline-sized and a big one, odd modes, and what
 * is left out (symlinks to a file, to a dir and dangling, and a FIFO). Modes are set by chmod, so the umask does not
 * change them.
 */
const makeSource = (root: string): void => {
  const file = (rel: string, content: string | Buffer, mode: number) => {
    NodeFs.mkdirSync(Path.dirname(Path.join(root, rel)), { recursive: true })
    NodeFs.writeFileSync(Path.join(root, rel), content)
    NodeFs.chmodSync(Path.join(root, rel), mode)
  }
  const big = Buffer.alloc(INLINE_MAX_BYTES + 1000)
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff
  file(".codex-plugin/plugin.json", `{"name":"golden","version":"1.0.0"}\n`, 0o644)
  file("README.md", "# golden\n", 0o644)
  file("a-b", "dash\n", 0o600)
  file("a/x", "x\n", 0o644)
  file("a/deeper/still/leaf.txt", "leaf\n", 0o444)
  file("bin/run.sh", "#!/bin/sh\necho hi\n", 0o755)
  file("empty", "", 0o644)
  file("exact", Buffer.alloc(INLINE_MAX_BYTES, 0x61), 0o664)
  file("assets/big.bin", big, 0o644)
  NodeFs.mkdirSync(Path.join(root, "emptydir"))
  NodeFs.chmodSync(Path.join(root, "emptydir"), 0o700)
  NodeFs.chmodSync(Path.join(root, "a/deeper"), 0o750)
  NodeFs.chmodSync(Path.join(root, "a/deeper/still"), 0o555)
  NodeFs.chmodSync(Path.join(root, "bin"), 0o755)
  NodeFs.chmodSync(Path.join(root, "a"), 0o755)
  NodeFs.chmodSync(Path.join(root, "assets"), 0o755)
  NodeFs.chmodSync(Path.join(root, ".codex-plugin"), 0o755)
  NodeFs.symlinkSync("README.md", Path.join(root, "link-to-file"))
  NodeFs.symlinkSync("a", Path.join(root, "bin/link-to-dir"))
  NodeFs.symlinkSync("/nowhere/at/all", Path.join(root, "dangling"))
  execFileSync("mkfifo", [Path.join(root, "a/fifo")])
}

/** The tree hash of `makeSource`, as recorded in `PluginInstalled` events since format 2: it must never change. */
const GOLDEN_TREE_HASH = "3038bca06a05bd41ace0be4da06588e527cb959847fd7997ec8dc09e6eb30442"

describe("TreeBlob", () => {
  it.effect("readSource gives the recorded tree hash: entries, modes, inline offsets and big files unchanged", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const root = Path.join(dir, "plugin")
      makeSource(root)
      const blobs = makeBlobStore(nodeTreeFs, Path.join(dir, "blobs"))
      const source = readSource(nodeTreeFs, blobs, root)
      assert.deepStrictEqual(source.manifest.entries.map((e) => `${e.type} ${e.path} ${e.mode.toString(8)} ${e.size ?? ""}`), [
        "dir .codex-plugin 755 ",
        "file .codex-plugin/plugin.json 644 36",
        "file README.md 644 9",
        "dir a 755 ",
        "file a-b 600 5",
        "dir a/deeper 750 ",
        "dir a/deeper/still 555 ",
        "file a/deeper/still/leaf.txt 444 5",
        "file a/x 644 2",
        "dir assets 755 ",
        `file assets/big.bin 644 ${INLINE_MAX_BYTES + 1000}`,
        "dir bin 755 ",
        "file bin/run.sh 755 18",
        "file empty 644 0",
        "dir emptydir 700 ",
        `file exact 664 ${INLINE_MAX_BYTES}`
      ])
      assert.deepStrictEqual([...source.skipped].sort(), ["a/fifo", "bin/link-to-dir", "dangling", "link-to-file"])
      assert.strictEqual(sha256Hex(source.encoded), source.treeHash)
      assert.strictEqual(source.treeHash, GOLDEN_TREE_HASH)
      // the big file is a blob of its own, every other file's bytes are in the tree blob
      assert.strictEqual(source.separate.length, 1)
      const bigEntry = source.manifest.entries.find((e) => e.path === "assets/big.bin")
      assert.strictEqual(sha256Hex(source.separate[0] ?? new Uint8Array()), bigEntry?.sha256)
      assert.strictEqual(bigEntry?.offset, undefined)
      for (const entry of source.manifest.entries) {
        if (entry.type !== "file") continue
        assert.deepStrictEqual(Buffer.from(source.tree.contentOf(entry)), NodeFs.readFileSync(Path.join(root, entry.path)), entry.path)
      }
    }))

  it.effect("an entry whose type the listing does not give is asked of lstat: the same tree", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const root = Path.join(dir, "plugin")
      makeSource(root)
      const lstats: Array<string> = []
      const untyped: TreeFs = {
        ...nodeTreeFs,
        readdirEntriesSync: (path) => nodeTreeFs.readdirEntriesSync(path).map((entry) => ({ name: entry.name, kind: "unknown" })),
        lstatSync: (path) => {
          lstats.push(Path.relative(root, path))
          return nodeTreeFs.lstatSync(path)
        }
      }
      const source = readSource(untyped, makeBlobStore(nodeTreeFs, Path.join(dir, "blobs")), root)
      assert.strictEqual(source.treeHash, GOLDEN_TREE_HASH)
      assert.deepStrictEqual([...source.skipped].sort(), ["a/fifo", "bin/link-to-dir", "dangling", "link-to-file"])
      // one lstat per entry, a directory's included (it gives its mode too)
      assert.strictEqual(lstats.length, source.manifest.entries.length + source.skipped.length)
    }))

  it.effect("a symlink or a FIFO found where the listing saw a file or a directory is left out, never followed or waited on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const root = Path.join(dir, "plugin")
      const outside = Path.join(dir, "outside")
      NodeFs.mkdirSync(Path.join(outside, "dir"), { recursive: true })
      NodeFs.writeFileSync(Path.join(outside, "secret.txt"), "secret\n")
      NodeFs.writeFileSync(Path.join(outside, "dir", "inner.txt"), "inner\n")
      NodeFs.mkdirSync(root)
      NodeFs.writeFileSync(Path.join(root, "kept.txt"), "kept\n")
      NodeFs.symlinkSync(Path.join(outside, "secret.txt"), Path.join(root, "was-a-file"))
      NodeFs.symlinkSync(Path.join(outside, "dir"), Path.join(root, "was-a-dir"))
      execFileSync("mkfifo", [Path.join(root, "was-a-file-too")])
      // the listing as it was a moment before each of them was swapped in
      const before: Record<string, EntryKind> = { "was-a-file": "file", "was-a-dir": "dir", "was-a-file-too": "file" }
      const racing: TreeFs = {
        ...nodeTreeFs,
        readdirEntriesSync: (path) => nodeTreeFs.readdirEntriesSync(path).map((entry) => ({ name: entry.name, kind: before[entry.name] ?? entry.kind }))
      }
      const source = readSource(racing, makeBlobStore(nodeTreeFs, Path.join(dir, "blobs")), root)
      assert.deepStrictEqual(source.manifest.entries.map((e) => e.path), ["kept.txt"])
      assert.deepStrictEqual([...source.skipped].sort(), ["was-a-dir", "was-a-file", "was-a-file-too"])
    }))

  it.effect("a file read already is taken as it was read where the listing finds a regular file, and only there", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const root = Path.join(dir, "plugin")
      makeSource(root)
      const blobs = makeBlobStore(nodeTreeFs, Path.join(dir, "blobs"))
      const manifest = { bytes: Buffer.from(`{"name":"golden","version":"2.0.0"}\n`), mode: 0o600 }
      const opened: Array<string> = []
      const counting: TreeFs = {
        ...nodeTreeFs,
        openNoFollowSync: (path) => {
          opened.push(path)
          return nodeTreeFs.openNoFollowSync(path)
        }
      }
      const read = new Map([[".codex-plugin/plugin.json", manifest], ["link-to-file", manifest]])
      const source = readSource(counting, blobs, root, { read })
      const entry = source.manifest.entries.find((e) => e.path === ".codex-plugin/plugin.json")
      assert.strictEqual(entry?.mode, 0o600)
      assert.strictEqual(entry?.sha256, sha256Hex(manifest.bytes))
      assert.deepStrictEqual(Buffer.from(entry === undefined ? new Uint8Array() : source.tree.contentOf(entry)), manifest.bytes)
      // every other file was opened (by whatever path reaches it), the manifest was not
      assert.strictEqual(opened.length, source.manifest.entries.filter((e) => e.type === "file").length - 1)
      assert.isFalse(opened.some((path) => path.endsWith("/plugin.json")))
      // a symlink stays out even when bytes are given for its path
      assert.include(source.skipped, "link-to-file")
      assert.notStrictEqual(source.treeHash, GOLDEN_TREE_HASH)
    }))

  it.effect("a directory swapped for a symlink once it is open is still read as it was, never through the link", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const root = Path.join(dir, "plugin")
      const outside = Path.join(dir, "outside")
      NodeFs.mkdirSync(Path.join(outside, "deeper"), { recursive: true })
      NodeFs.writeFileSync(Path.join(outside, "secret.txt"), "secret\n")
      NodeFs.writeFileSync(Path.join(outside, "deeper", "key"), "key\n")
      NodeFs.mkdirSync(Path.join(root, "skills", "deeper"), { recursive: true })
      NodeFs.writeFileSync(Path.join(root, "skills", "SKILL.md"), "skill\n")
      NodeFs.writeFileSync(Path.join(root, "skills", "deeper", "notes.md"), "notes\n")
      // the moment `skills` is open, its name is made a symlink out of the plugin (the dir itself moved aside)
      const swapping: TreeFs = {
        ...nodeTreeFs,
        openDirSync: (path, follow) => {
          const fd = nodeTreeFs.openDirSync(path, follow)
          if (path.endsWith("/skills") && NodeFs.lstatSync(Path.join(root, "skills")).isDirectory()) {
            NodeFs.renameSync(Path.join(root, "skills"), Path.join(dir, "moved-skills"))
            NodeFs.symlinkSync(outside, Path.join(root, "skills"))
          }
          return fd
        }
      }
      const source = readSource(swapping, makeBlobStore(nodeTreeFs, Path.join(dir, "blobs")), root)
      assert.isTrue(NodeFs.lstatSync(Path.join(root, "skills")).isSymbolicLink())
      assert.deepStrictEqual(source.manifest.entries.map((e) => `${e.type} ${e.path}`), [
        "dir skills",
        "file skills/SKILL.md",
        "dir skills/deeper",
        "file skills/deeper/notes.md"
      ])
      const contents = source.manifest.entries.flatMap((e) => e.type === "file" ? [Buffer.from(source.tree.contentOf(e)).toString()] : [])
      assert.deepStrictEqual(contents, ["skill\n", "notes\n"])
    }))

  it.effect("a root that is no longer the dir that was checked is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const root = Path.join(dir, "marketplace", "plugins", "p")
      const outside = Path.join(dir, "outside")
      NodeFs.mkdirSync(root, { recursive: true })
      NodeFs.mkdirSync(outside)
      NodeFs.writeFileSync(Path.join(outside, "secret.txt"), "secret\n")
      const checked = NodeFs.realpathSync(root)
      // between the check and the read, the source dir becomes a symlink out of the marketplace
      NodeFs.renameSync(root, `${root}-aside`)
      NodeFs.symlinkSync(outside, root)
      const blobs = makeBlobStore(nodeTreeFs, Path.join(dir, "blobs"))
      assert.throws(
        () => readSource(nodeTreeFs, blobs, root, { realRoot: checked }),
        `plugin source directory \`${root}\` changed while it was read: it was ${checked}, it is now ${NodeFs.realpathSync(outside)}`
      )
      // unchecked, the same root is read (a caller that checked nothing asks for nothing)
      assert.deepStrictEqual(readSource(nodeTreeFs, blobs, root).manifest.entries.map((e) => e.path), ["secret.txt"])
    }))
})
