import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { openCheckedDir, pathOfOpenDir, readFileBelow } from "../../src/adapters/DirDescriptors.ts"
import { errnoCode } from "../../src/adapters/FsPort.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { tempDirScoped } from "./fixtures/testkit.ts"

/** `root/.codex-plugin/plugin.json` and, outside it, a dir holding a file of the same name */
const makeDirs = (dir: string) => {
  const root = Path.join(dir, "plugin")
  const outside = Path.join(dir, "outside")
  NodeFs.mkdirSync(Path.join(root, ".codex-plugin"), { recursive: true })
  NodeFs.writeFileSync(Path.join(root, ".codex-plugin", "plugin.json"), `{"name":"inside"}`)
  NodeFs.mkdirSync(outside)
  NodeFs.writeFileSync(Path.join(outside, "plugin.json"), `{"name":"outside"}`)
  return { root, outside, realRoot: NodeFs.realpathSync(root) }
}

const textOf = (read: ReturnType<typeof readFileBelow>): string => read._tag === "Regular" ? read.file.bytes.toString() : `not regular`

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  return assert.fail("nothing was thrown")
}

/** The node file system, noting the directories it opens and every descriptor closed. */
const countingDirs = () => {
  const opened: Array<number> = []
  const closed: Array<number> = []
  const counting: TreeFs = {
    ...nodeTreeFs,
    openDirSync: (path, follow) => {
      const fd = nodeTreeFs.openDirSync(path, follow)
      opened.push(fd)
      return fd
    },
    closeSync: (fd) => {
      closed.push(fd)
      nodeTreeFs.closeSync(fd)
    }
  }
  return { counting, opened, closed }
}

describe("DirDescriptors", () => {
  it.effect("readFileBelow reads a file below a checked root, and closes what it opened", () =>
    Effect.gen(function*() {
      const { root, realRoot } = makeDirs(yield* tempDirScoped)
      const { counting, opened, closed } = countingDirs()
      assert.strictEqual(textOf(readFileBelow(counting, root, realRoot, ".codex-plugin/plugin.json")), `{"name":"inside"}`)
      // the root and `.codex-plugin`, then the file's own descriptor
      assert.strictEqual(opened.length, 2)
      assert.deepStrictEqual(closed.filter((fd) => opened.includes(fd)).sort(), [...opened].sort())
    }))

  it.effect("a symlink on the way is not followed, and the error names the path as the user knows it", () =>
    Effect.gen(function*() {
      const { root, outside, realRoot } = makeDirs(yield* tempDirScoped)
      NodeFs.rmSync(Path.join(root, ".codex-plugin"), { recursive: true })
      NodeFs.symlinkSync(outside, Path.join(root, ".codex-plugin"))
      const error = thrown(() => readFileBelow(nodeTreeFs, root, realRoot, ".codex-plugin/plugin.json"))
      // with O_DIRECTORY, Linux reports a symlink not followed as "not a directory"
      assert.include(["ELOOP", "ENOTDIR"], errnoCode(error))
      assert.include(String(error), `${root}/.codex-plugin`)
      assert.notInclude(String(error), "/proc/")
    }))

  it.effect("a file too big is refused by its own path", () =>
    Effect.gen(function*() {
      const { root, realRoot } = makeDirs(yield* tempDirScoped)
      const error = thrown(() => readFileBelow(nodeTreeFs, root, realRoot, ".codex-plugin/plugin.json", { maxBytes: 4 }))
      assert.strictEqual(String(error), `Error: file is larger than 4 bytes: ${root}/.codex-plugin/plugin.json`)
    }))

  it.effect("a dir swapped for a symlink once it is open is still the one read", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const { root, outside, realRoot } = makeDirs(dir)
      const swapping: TreeFs = {
        ...nodeTreeFs,
        openDirSync: (path, follow) => {
          const fd = nodeTreeFs.openDirSync(path, follow)
          if (path.endsWith("/.codex-plugin")) {
            NodeFs.renameSync(Path.join(root, ".codex-plugin"), Path.join(dir, "aside"))
            NodeFs.symlinkSync(outside, Path.join(root, ".codex-plugin"))
          }
          return fd
        }
      }
      // where directories can be reached by descriptor (Linux), the open one is read; elsewhere its name is looked up
      const expected = pathOfOpenDir(0) === undefined ? `{"name":"outside"}` : `{"name":"inside"}`
      assert.strictEqual(textOf(readFileBelow(swapping, root, realRoot, ".codex-plugin/plugin.json")), expected)
    }))

  it.effect("openCheckedDir refuses a root that is no longer the dir checked, and closes it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirScoped
      const { root, outside, realRoot } = makeDirs(dir)
      NodeFs.renameSync(root, Path.join(dir, "aside"))
      NodeFs.symlinkSync(outside, root)
      const { counting, opened, closed } = countingDirs()
      const error = thrown(() => openCheckedDir(counting, root, realRoot))
      assert.strictEqual(
        String(error),
        `Error: plugin source directory \`${root}\` changed while it was read: it was ${realRoot}, it is now ${NodeFs.realpathSync(outside)}`
      )
      assert.deepStrictEqual(closed, opened)
      // unchecked, it is opened wherever it leads
      const fd = openCheckedDir(nodeTreeFs, root, undefined)
      nodeTreeFs.closeSync(fd)
    }))
})
