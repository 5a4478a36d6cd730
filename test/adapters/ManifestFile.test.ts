import { afterAll, assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { readManifestSync } from "../../src/adapters/ManifestFile.ts"

const created: Array<string> = []
/** Writes `files` (and `symlinks`, targets relative to the temp dir) under a fresh temp dir; returns its real path. */
const layout = (files: Record<string, string>, symlinks: Record<string, string> = {}): string => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "manifest-file-")))
  created.push(root)
  for (const [file, content] of Object.entries(files)) {
    NodeFs.mkdirSync(Path.dirname(Path.join(root, file)), { recursive: true })
    NodeFs.writeFileSync(Path.join(root, file), content)
  }
  for (const [link, target] of Object.entries(symlinks)) {
    NodeFs.mkdirSync(Path.dirname(Path.join(root, link)), { recursive: true })
    NodeFs.symlinkSync(Path.join(root, target), Path.join(root, link))
  }
  return root
}
afterAll(() => {
  for (const dir of created) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const MANIFEST = JSON.stringify({ name: "p", interface: { displayName: "P", logo: "./logo.png" } })
const lookedAt = (read: ReturnType<typeof readManifestSync>) => read.observations?.map((o) => o.path)

describe("readManifestSync", () => {
  it("given a plain plugin then two lstats decide it and are what it depends on", () => {
    const root = layout({ "p/.codex-plugin/plugin.json": MANIFEST })
    const read = readManifestSync(`${root}/p`)
    assert.strictEqual(read.decoded?.manifest.interface?.logo, `${root}/p/logo.png`)
    assert.deepStrictEqual(lookedAt(read), [`${root}/p/.codex-plugin`, `${root}/p/.codex-plugin/plugin.json`])
  })

  it("given no plugin directory then the missing .codex-plugin is what it depends on", () => {
    const root = layout({})
    const read = readManifestSync(`${root}/p`)
    assert.strictEqual(read.decoded, undefined)
    assert.deepStrictEqual(lookedAt(read), [`${root}/p/.codex-plugin`])
  })

  it("given symlinks below the root then real paths decide, and the result is not to be kept", () => {
    const root = layout(
      { "p/real/plugin.json": MANIFEST, "outside/plugin.json": MANIFEST },
      { "p/.codex-plugin": "p/real", "q/.codex-plugin/plugin.json": "outside/plugin.json" }
    )
    const inside = readManifestSync(`${root}/p`)
    assert.strictEqual(inside.decoded?.manifest.name, "p")
    assert.strictEqual(inside.observations, undefined)
    const escaping = readManifestSync(`${root}/q`)
    assert.strictEqual(escaping.decoded, undefined)
    assert.strictEqual(escaping.observations, undefined)
  })

  it("given a symlinked root then the manifest is read through it (only links below the root are checked)", () => {
    const root = layout({ "elsewhere/p/.codex-plugin/plugin.json": MANIFEST }, { "plugins/p": "elsewhere/p" })
    const read = readManifestSync(`${root}/plugins/p`)
    assert.strictEqual(read.decoded?.manifest.interface?.logo, `${root}/plugins/p/logo.png`)
    assert.isDefined(read.observations)
  })

  it("given `..` after a symlink in the root then it is resolved lexically, as Node's realpath does", () => {
    const root = layout({ "p/.codex-plugin/plugin.json": MANIFEST, "deep/p/x": "" }, { link: "deep/p" })
    const read = readManifestSync(`${root}/link/../p`)
    assert.strictEqual(read.decoded?.manifest.interface?.logo, `${root}/p/logo.png`)
    assert.deepStrictEqual(lookedAt(read), [`${root}/p/.codex-plugin`, `${root}/p/.codex-plugin/plugin.json`])
  })

  it("given a directory or a FIFO in place of plugin.json then it is missing, without blocking", () => {
    const root = layout({ "d/.codex-plugin/plugin.json/x": "", "f/.codex-plugin/README": "" })
    assert.strictEqual(readManifestSync(`${root}/d`).decoded, undefined)
    execFileSync("mkfifo", [Path.join(root, "f/.codex-plugin/plugin.json")])
    assert.strictEqual(readManifestSync(`${root}/f`).decoded, undefined)
  })
})
