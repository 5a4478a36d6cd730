/**
 * The feed's directory discovery walks a plugin's skill tree only when the plugin is new in the view, what the
 * view says about it changed, a watch reported a change inside it, or its last walk found unwatched directories;
 * counted with a reader that records every directory it lists, over real directories.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { deriveCapabilities, type PluginInput } from "../../src/domain/Capabilities.ts"
import { makeBundleDirectories, type ReadDirectory } from "../../src/services/BundleDirectories.ts"
import type { CapabilitiesView } from "../../src/services/Capabilities.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "bundle-dirs-")))),
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
)

/** a plugin's cache dir with one `skills/<name>/SKILL.md` per skill */
const plugin = (base: string, name: string, skills: ReadonlyArray<string>) => {
  const root = Path.join(base, name, "local")
  NodeFs.mkdirSync(Path.join(root, ".codex-plugin"), { recursive: true })
  for (const skill of skills) {
    NodeFs.mkdirSync(Path.join(root, "skills", skill), { recursive: true })
    NodeFs.writeFileSync(Path.join(root, "skills", skill, "SKILL.md"), `---\nname: ${skill}\ndescription: d\n---\n`)
  }
  return { name, root, skills }
}

const input = (p: ReturnType<typeof plugin>): PluginInput => ({
  pluginId: `${p.name}@market`,
  installed: true,
  enabled: true,
  load: {
    _tag: "Loaded",
    bundle: {
      root: p.root,
      manifestName: p.name,
      description: null,
      skillRoots: [Path.join(p.root, "skills")],
      skills: p.skills.map((s) => ({ name: `${p.name}:${s}`, description: "d", path: Path.join(p.root, "skills", s, "SKILL.md") })),
      mcpServers: [],
      apps: [],
      warnings: []
    }
  }
})

const view = (...plugins: ReadonlyArray<ReturnType<typeof plugin>>): CapabilitiesView => ({
  seq: 1,
  at: null,
  ...deriveCapabilities({ pluginsFeature: true, userMcpServers: new Set(), plugins: plugins.map(input) })
})

const counting = () => {
  const listed: Array<string> = []
  const read: ReadDirectory = (dir) => {
    listed.push(dir)
    return NodeFs.readdirSync(dir, { withFileTypes: true })
  }
  return { listed, read }
}

const dirsOf = (p: ReturnType<typeof plugin>) => [
  p.root,
  Path.join(p.root, ".codex-plugin"),
  Path.join(p.root, "skills"),
  ...p.skills.map((s) => Path.join(p.root, "skills", s))
]

describe("bundle directories", () => {
  it.effect("an unchanged view walks no skill tree once its directories are watched", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const alpha = plugin(base, "alpha", ["hello"])
      const beta = plugin(base, "beta", ["one", "two"])
      const { listed, read } = counting()
      const directories = makeBundleDirectories(read)
      const now = view(alpha, beta)
      assert.deepStrictEqual([...directories.fresh(now)].sort(), [...dirsOf(alpha), ...dirsOf(beta)].sort())
      // the walk that found unwatched directories is repeated once, now that their watches are open
      listed.length = 0
      assert.deepStrictEqual(directories.fresh(now), [])
      assert.isTrue(listed.length > 0)
      listed.length = 0
      assert.deepStrictEqual(directories.fresh(now), [])
      assert.deepStrictEqual(directories.fresh(view(alpha, beta)), [], "an equal view computed again")
      directories.touched(Path.join(base, "elsewhere"))
      assert.deepStrictEqual(directories.fresh(now), [], "a change outside every plugin")
      assert.deepStrictEqual(listed, [], "no directory listed")
    }))

  it.effect("a change reported inside a plugin walks that plugin again and finds a skill made by hand", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const alpha = plugin(base, "alpha", ["hello"])
      const beta = plugin(base, "beta", ["one"])
      const { listed, read } = counting()
      const directories = makeBundleDirectories(read)
      const now = view(alpha, beta)
      directories.fresh(now)
      directories.fresh(now)
      NodeFs.mkdirSync(Path.join(alpha.root, "skills", "bye"))
      listed.length = 0
      assert.deepStrictEqual(directories.fresh(now), [], "not looked for without a reported change")
      directories.touched(Path.join(alpha.root, "skills"))
      assert.deepStrictEqual(directories.fresh(now), [Path.join(alpha.root, "skills", "bye")])
      assert.isTrue(listed.length > 0)
      assert.isTrue(listed.every((dir) => dir.startsWith(`${alpha.root}/`)), `only alpha listed: ${listed.join(", ")}`)
    }))

  it.effect("a directory deleted and made again is found through its old path", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const alpha = plugin(base, "alpha", ["hello"])
      const directories = makeBundleDirectories(counting().read)
      const now = view(alpha)
      directories.fresh(now)
      directories.fresh(now)
      const nested = Path.join(alpha.root, "skills", "hello", "more")
      NodeFs.mkdirSync(nested)
      directories.touched(Path.join(alpha.root, "skills", "hello"))
      assert.deepStrictEqual(directories.fresh(now), [nested])
      directories.fresh(now)
      // `more` is watched already; its child is reported at a path below the skill root, no longer in the list
      NodeFs.rmSync(Path.join(alpha.root, "skills", "hello"), { recursive: true })
      directories.touched(Path.join(alpha.root, "skills"))
      assert.deepStrictEqual(directories.fresh(now), [])
      NodeFs.mkdirSync(Path.join(nested, "deeper"), { recursive: true })
      directories.touched(nested)
      assert.deepStrictEqual(directories.fresh(now), [Path.join(nested, "deeper")])
    }))

  it.effect("a plugin reinstalled with a new tree, or back in the view, is walked again", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const alpha = plugin(base, "alpha", ["hello"])
      const beta = plugin(base, "beta", ["one"])
      const { listed, read } = counting()
      const directories = makeBundleDirectories(read)
      directories.fresh(view(alpha, beta))
      directories.fresh(view(alpha, beta))
      // same root, a new tree: the view lists another skill
      const reinstalled = plugin(base, "alpha", ["hello", "extra"])
      listed.length = 0
      assert.deepStrictEqual(directories.fresh(view(reinstalled, beta)), [Path.join(alpha.root, "skills", "extra")])
      assert.isTrue(listed.every((dir) => dir.startsWith(`${alpha.root}/`)), `only alpha listed: ${listed.join(", ")}`)
      directories.fresh(view(reinstalled, beta))

      assert.deepStrictEqual(directories.fresh(view(beta)), [], "alpha left the view")
      NodeFs.mkdirSync(Path.join(alpha.root, "skills", "third"))
      listed.length = 0
      assert.deepStrictEqual(directories.fresh(view(reinstalled, beta)), [Path.join(alpha.root, "skills", "third")])
      assert.isTrue(listed.length > 0, "alpha is new in the view again")
    }))
})
