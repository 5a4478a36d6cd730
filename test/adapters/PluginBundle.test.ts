import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Result } from "effect"
import type { Scope } from "effect"
import { appInstallUrl, appSummaries, mcpServerNames } from "../../src/adapters/McpAppFiles.ts"
import { MISSING_MANIFEST, PluginBundle } from "../../src/adapters/PluginBundle.ts"
import { parseSkill } from "../../src/adapters/SkillFile.ts"
import { extractFrontmatter, parseYaml } from "../../src/adapters/YamlSubset.ts"
import { type Layout, materializeLayout } from "../support/Trees.ts"


const materialize = (layout: Layout) => materializeLayout(layout, "plugin-bundle-")

const withRoot = <A>(value: A, root: string): A => JSON.parse(JSON.stringify(value).replaceAll("<root>", root))

// The layout used for `plugin/read {marketplacePath: <root>/repo/.agents/plugins/marketplace.json, pluginName: "demo-plugin"}`.
const DEMO: Layout = {
  "files": {
    "repo/.agents/plugins/marketplace.json": "{\"name\":\"codex-curated\",\"plugins\":[{\"name\":\"demo-plugin\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/demo\"}}]}",
    "repo/plugins/demo/.codex-plugin/plugin.json": "{\"name\":\"demo-plugin\",\"description\":\"Longer manifest description\",\"skills\":\"./custom/\",\"interface\":{\"displayName\":\"Demo\"}}",
    "repo/plugins/demo/skills/thread-summarizer/SKILL.md": "---\nname: thread-summarizer\ndescription: Summarize email threads\n---\n# body\n",
    "repo/plugins/demo/skills/b-skill/SKILL.md": "---\nname: \"b-skill\"\ndescription: 'Quoted   desc'\nmetadata:\n  short-description: Short one\n---\n",
    "repo/plugins/demo/skills/b-skill/agents/openai.yaml": "interface:\n  display_name: \"B Skill\"\n  short_description: ui short\n  icon_small: ./assets/small.png\n  icon_large: ../assets/large.png\n  brand_color: '#12ab34'\n  default_prompt: Try   me\n",
    "repo/plugins/demo/skills/noname/SKILL.md": "---\ndescription: >\n  folded\n  text\n---\n",
    "repo/plugins/demo/skills/nodesc/SKILL.md": "---\nname: nodesc\n---\n",
    "repo/plugins/demo/skills/nofm/SKILL.md": "# no frontmatter\n",
    "repo/plugins/demo/skills/.hidden/SKILL.md": "---\nname: hidden\ndescription: hidden\n---\n",
    "repo/plugins/demo/skills/a/b/c/d/e/f/SKILL.md": "---\nname: depth6\ndescription: d6\n---\n",
    "repo/plugins/demo/skills/a/b/c/d/e/f/g/SKILL.md": "---\nname: depth7\ndescription: d7\n---\n",
    "repo/plugins/demo/custom/c-skill/SKILL.md": "---\nname: c-skill\ndescription: |\n  literal\n  text\n---\n",
    "repo/plugins/demo/shared/inner/SKILL.md": "---\nname: linked-inside\ndescription: via symlink inside the root\n---\n",
    "outside/ext/SKILL.md": "---\nname: external\ndescription: outside the plugin root\n---\n",
    "repo/plugins/demo/.mcp.json": "{\"mcpServers\":{\"zeta\":{\"command\":\"x\"},\"alpha\":{\"type\":\"http\",\"url\":\"https://a\"},\"beta\":{\"url\":\"https://b\",\"oauth\":{\"callbackPort\":1}},\"both\":{\"command\":\"x\",\"url\":\"https://u\"},\"empty\":{}}}",
    "repo/plugins/demo/.app.json": "{\"apps\":{\"k1\":{\"id\":\"gmail\"},\"k2\":{\"id\":\"My_App.X\"},\"k3\":{\"id\":\"  \"},\"k4\":{\"id\":\"gmail\"}}}"
  },
  "symlinks": {
    "repo/plugins/demo/skills/linked-in": "repo/plugins/demo/shared/inner",
    "repo/plugins/demo/skills/linked-out": "outside/ext"
  }
}

// codex 0.116.0 plugin/read result for DEMO (description, skills, apps, mcpServers), `<root>` = the temp dir.
// Binary WARN lines for it: "ignoring interface.icon_large: icon path must not contain '..'", "plugin app config is
// missing an app id", "failed to parse plugin MCP server from <root>/repo/plugins/demo/.mcp.json: url is not supported
// for stdio" (both), "... OAuth callbackPort is ignored ..." (beta), "... invalid transport" (empty).
const DEMO_READ = {
  "description": "Longer manifest description",
  "skills": [
    {
      "name": "demo-plugin:b-skill",
      "description": "Quoted desc",
      "shortDescription": "Short one",
      "interface": {
        "displayName": "B Skill",
        "shortDescription": "ui short",
        "iconSmall": "<root>/repo/plugins/demo/skills/b-skill/assets/small.png",
        "iconLarge": null,
        "brandColor": "#12ab34",
        "defaultPrompt": "Try me"
      },
      "path": "<root>/repo/plugins/demo/skills/b-skill/SKILL.md"
    },
    {
      "name": "demo-plugin:c-skill",
      "description": "literal text",
      "shortDescription": null,
      "interface": null,
      "path": "<root>/repo/plugins/demo/custom/c-skill/SKILL.md"
    },
    {
      "name": "demo-plugin:depth6",
      "description": "d6",
      "shortDescription": null,
      "interface": null,
      "path": "<root>/repo/plugins/demo/skills/a/b/c/d/e/f/SKILL.md"
    },
    {
      "name": "demo-plugin:linked-inside",
      "description": "via symlink inside the root",
      "shortDescription": null,
      "interface": null,
      "path": "<root>/repo/plugins/demo/shared/inner/SKILL.md"
    },
    {
      "name": "demo-plugin:noname",
      "description": "folded text",
      "shortDescription": null,
      "interface": null,
      "path": "<root>/repo/plugins/demo/skills/noname/SKILL.md"
    },
    {
      "name": "demo-plugin:thread-summarizer",
      "description": "Summarize email threads",
      "shortDescription": null,
      "interface": null,
      "path": "<root>/repo/plugins/demo/skills/thread-summarizer/SKILL.md"
    },
    {
      "name": "external",
      "description": "outside the plugin root",
      "shortDescription": null,
      "interface": null,
      "path": "<root>/outside/ext/SKILL.md"
    }
  ],
  "apps": [
    {
      "id": "My_App.X",
      "name": "My_App.X",
      "description": null,
      "installUrl": "https://chatgpt.com/apps/my-app-x/My_App.X"
    },
    {
      "id": "gmail",
      "name": "gmail",
      "description": null,
      "installUrl": "https://chatgpt.com/apps/gmail/gmail"
    }
  ],
  "mcpServers": [
    "alpha",
    "beta",
    "zeta"
  ]
}

const bundleTest = <A, E>(name: string, body: Effect.Effect<A, E, PluginBundle | FileSystem.FileSystem | Path.Path | Scope.Scope>) =>
  it.effect(name, () => body.pipe(Effect.provide(PluginBundle.layer), Effect.provide(NodeServices.layer)))

describe("PluginBundle.read", () => {
  bundleTest("given the demo layout then skills, apps and MCP servers match the binary, minus the symlink leaving the root", Effect.gen(function*() {
    const root = yield* materialize(DEMO)
    const bundle = yield* PluginBundle
    const read = yield* bundle.read(`${root}/repo/plugins/demo`)
    const expected = withRoot(DEMO_READ, root)
    assert.strictEqual(read.manifest.description, expected.description)
    assert.deepStrictEqual(read.apps, expected.apps)
    assert.deepStrictEqual(read.mcpServers, expected.mcpServers)
    // Deliberate deviation: the binary follows skills/linked-out → <root>/outside/ext and lists "external";
    // symlinks never lead out of the plugin root here.
    assert.deepStrictEqual(read.skills, expected.skills.filter((s: { readonly name: string }) => s.name !== "external"))
    assert.includeMembers([...read.warnings], [
      "ignoring interface.icon_large: icon path must not contain '..'",
      "plugin app config is missing an app id",
      `failed to parse plugin MCP server from ${root}/repo/plugins/demo/.mcp.json: url is not supported for stdio`,
      "plugin MCP server OAuth callbackPort is ignored; Codex uses global MCP OAuth callback settings",
      `failed to parse plugin MCP server from ${root}/repo/plugins/demo/.mcp.json: invalid transport`
    ])
  }))

  bundleTest("given a missing, invalid or escaping manifest then the missing-or-invalid error", Effect.gen(function*() {
    const root = yield* materialize({
      files: {
        "bad/.codex-plugin/plugin.json": "{\"name\":5}",
        "outside/plugin.json": "{\"name\":\"x\"}",
        "empty/.keep": ""
      },
      symlinks: { "escape/.codex-plugin/plugin.json": "outside/plugin.json" }
    })
    const bundle = yield* PluginBundle
    for (const dir of ["bad", "empty", "nope", "escape"]) {
      const error = yield* Effect.flip(bundle.read(`${root}/${dir}`))
      assert.deepStrictEqual([error.reason, error.message], ["MissingManifest", MISSING_MANIFEST])
    }
  }))

  bundleTest("given manifest component paths then only that file is read (no fallback to .mcp.json/.app.json)", Effect.gen(function*() {
    const root = yield* materialize({
      files: {
        "m4/.codex-plugin/plugin.json": '{"mcpServers":"./cfg/m.json","apps":"./cfg/a.json"}',
        "m4/.mcp.json": '{"mcpServers":{"fromdefault":{"command":"x"}}}',
        "m4/.app.json": '{"apps":{"x":{"id":"fromdefault"}}}',
        "m5/.codex-plugin/plugin.json": '{"mcpServers":"./cfg/m.json","apps":"./cfg/a.json","skills":"./skills"}',
        "m5/cfg/m.json": '{"mcpServers":{"frommanifest":{"command":"y"}}}',
        "m5/cfg/a.json": '{"apps":{"x":{"id":"frommanifest"}}}',
        "m5/skills/a/SKILL.md": "---\nname: a\ndescription: d\n---\n"
      }
    })
    const bundle = yield* PluginBundle
    const m4 = yield* bundle.read(`${root}/m4`)
    const m5 = yield* bundle.read(`${root}/m5`)
    assert.deepStrictEqual([m4.mcpServers, m4.apps], [[], []])
    assert.deepStrictEqual([m5.mcpServers, m5.apps.map((a) => a.id)], [["frommanifest"], ["frommanifest"]])
    // the default skills dir and the manifest path are the same directory: listed once
    assert.deepStrictEqual(m5.skills.map((s) => s.name), ["m5:a"])
  }))

  bundleTest("given plain trees then they are read without a failed lookup, a realpath walk or a stat", Effect.gen(function*() {
    const root = yield* materialize({
      files: {
        "plain/.codex-plugin/plugin.json": '{"name":"plain"}',
        "plain/README.md": "r",
        "skilled/.codex-plugin/plugin.json": '{"name":"skilled"}',
        "skilled/skills/a/SKILL.md": "---\nname: a\ndescription: d\n---\n",
        "skilled/skills/nested/b/SKILL.md": "---\nname: b\ndescription: d\n---\n",
        "skilled/.mcp.json": '{"mcpServers":{"m":{"command":"x"}}}'
      }
    })
    const real = yield* FileSystem.FileSystem
    const failed: Array<string> = []
    const looked: Array<string> = []
    const noted = <A, E>(call: string, path: string, effect: Effect.Effect<A, E>) => {
      if (call !== "readFile" && call !== "readDirectoryEntries") looked.push(`${call} ${path.slice(root.length)}`)
      return Effect.tapError(effect, () => Effect.sync(() => failed.push(`${call} ${path.slice(root.length)}`)))
    }
    const recording: FileSystem.FileSystem = {
      ...real,
      realPath: (path) => noted("realPath", path, real.realPath(path)),
      stat: (path) => noted("stat", path, real.stat(path)),
      readFile: (path) => noted("readFile", path, real.readFile(path)),
      readDirectoryEntries: (path) => noted("readDirectoryEntries", path, real.readDirectoryEntries(path))
    }
    const bundle = yield* PluginBundle.make.pipe(Effect.provideService(FileSystem.FileSystem, recording))
    const plain = yield* bundle.read(`${root}/plain`)
    const skilled = yield* bundle.read(`${root}/skilled`)
    assert.deepStrictEqual([plain.skills, plain.mcpServers, plain.apps, plain.skillRoots], [[], [], [], []])
    assert.deepStrictEqual(skilled.skills.map((s) => s.name), ["skilled:a", "skilled:b"])
    assert.deepStrictEqual([skilled.mcpServers, skilled.skillRoots], [["m"], [`${root}/skilled/skills`]])
    assert.deepStrictEqual(failed, [])
    // no realpath walk through the platform's file system (the roots' real paths are one realpath(3) each), no stat
    assert.deepStrictEqual(looked, [])
  }))

  bundleTest("readManifest resolves asset paths against the given root", Effect.gen(function*() {
    const root = yield* materialize({ files: { "p/.codex-plugin/plugin.json": '{"interface":{"logo":"./l.png"}}' } })
    const decoded = yield* (yield* PluginBundle).readManifest(`${root}/p`)
    assert.deepStrictEqual([decoded.manifest.name, decoded.manifest.interface?.logo], ["p", `${root}/p/l.png`])
  }))
})

describe("skill files", () => {
  const skill = (contents: string, dir = "s") => {
    const warnings: Array<string> = []
    const r = parseSkill(contents, `/p/skills/${dir}/SKILL.md`, "demo", null, warnings)
    return Result.isFailure(r) ? `error: ${r.failure}` : [r.success.name, r.success.description, r.success.shortDescription]
  }
  // each case was a SKILL.md in a plugin read by codex 0.116.0; "skipped" = absent from plugin/read
  it("given YAML scalars then they become text like serde_yaml", () => {
    assert.deepStrictEqual(skill("---\nname: 123\ndescription: num name\n---\n"), ["demo:123", "num name", null])
    assert.deepStrictEqual(skill("---\nname: true\ndescription: bool\n---\n"), ["demo:true", "bool", null])
    assert.deepStrictEqual(skill("---\nname: s21\ndescription: 1.5\n---\n"), ["demo:s21", "1.5", null])
    assert.deepStrictEqual(skill("---\nname: 'it''s'\ndescription: single\n---\n"), ["demo:it's", "single", null])
    assert.deepStrictEqual(skill("---\nname: 'a:b'\ndescription: colon name\n---\n"), ["demo:a:b", "colon name", null])
    assert.deepStrictEqual(skill("---\nname: s06 # c\ndescription: \"quoted: colon\" # c\n---\n"), ["demo:s06", "quoted: colon", null])
    assert.deepStrictEqual(skill('---\nname: s17\ndescription: "esc \\t tab \\u00e9"\n---\n'), ["demo:s17", "esc tab é", null])
    assert.deepStrictEqual(skill("---\r\nname: s07\r\ndescription: crlf\r\n---\r\n"), ["demo:s07", "crlf", null])
    assert.deepStrictEqual(skill("---\n  name: s24\n  description: indented\n---\n"), ["demo:s24", "indented", null])
  })
  it("given block and multi-line scalars then the text is collapsed to one line", () => {
    assert.deepStrictEqual(skill("---\nname: s12\ndescription: |\n  line one\n  line two\n\n  para\n---\n"), ["demo:s12", "line one line two para", null])
    assert.deepStrictEqual(skill("---\nname: s18\ndescription:\n  plain multi\n  line\n---\n"), ["demo:s18", "plain multi line", null])
    assert.deepStrictEqual(skill("---\nname: s19\ndescription: x\nmetadata:\n  short-description: >-\n    folded\n    short\n---\n"), ["demo:s19", "x", "folded short"])
    assert.deepStrictEqual(skill("---\nname: s13\ndescription: x\nmetadata:\n  short-description: \"\"\n---\n"), ["demo:s13", "x", null])
    assert.deepStrictEqual(skill("---\nname: s23\ndescription: x\nmetadata:\n  short-description: 5\n---\n"), ["demo:s23", "x", "5"])
  })
  it("given a missing, null, blank or empty name then the directory name is used", () => {
    for (const fm of ["description: d", "name: ~\ndescription: d", "name: '   '\ndescription: d", "name: \"\"\ndescription: d", "name:\ndescription: d"]) {
      assert.deepStrictEqual(skill(`---\n${fm}\n---\n`, "fallback"), ["demo:fallback", "d", null])
    }
  })
  it("given what the binary skips then an error", () => {
    const skipped = [
      "---\nname: s03\ndescription: null\n---\n", "---\nname: s25\ndescription: ~\n---\n", "---\nname: nodesc\n---\n",
      `---\nname: ${"n".repeat(65)}\ndescription: long\n---\n`, `---\nname: t04\ndescription: ${"y".repeat(1025)}\n---\n`,
      "---\nname: s05\ndescription: has: colon\n---\n", "---\n---\nbody", "\ufeff---\nname: s10\ndescription: bom\n---\n",
      "---\nname: s14\ndescription: x\nmetadata: x\n---\n", "---\nname: s15\ndescription: x\nname: again\n---\n",
      "---\nname: s20\ndescription: [a, b]\n---\n", "---\nname: [unclosed\ndescription: x\n---\n", "# just body\n", "---\nname: bad"
    ]
    for (const contents of skipped) assert.match(String(skill(contents)), /^error: /, JSON.stringify(contents))
    assert.deepStrictEqual(skill(`---\nname: t01\ndescription: d\nmetadata:\n  short-description: ${"x".repeat(600)}\n---\n`)[2], "x".repeat(600))
  })
  it("extractFrontmatter keeps lines between the first two --- lines", () => {
    assert.strictEqual(extractFrontmatter("---  \na: 1\n---  \nbody"), "a: 1")
    assert.isNull(extractFrontmatter("---\na: 1"))
  })
  it("parseYaml reads nested mappings and sequences (openai.yaml dependencies)", () => {
    assert.deepStrictEqual(parseYaml("dependencies:\n  tools:\n    - type: mcp\n      value: x\ninterface:\n  display_name: Deps OK\n"),
      Result.succeed({ dependencies: { tools: [{ type: "mcp", value: "x" }] }, interface: { display_name: "Deps OK" } }))
  })
})

describe("openai.yaml interface", () => {
  const iface = (yaml: string) => {
    const warnings: Array<string> = []
    const r = parseSkill("---\nname: t\ndescription: d\n---\n", "/p/skills/t/SKILL.md", "demo", yaml, warnings)
    return { iface: Result.isSuccess(r) ? r.success.interface : "error", warnings }
  }
  it("given invalid icons, colors and lengths then those fields are dropped with the binary's warnings", () => {
    const r = iface(`interface:\n  icon_small: /abs/assets/x.png\n  icon_large: ../assets/x.png\n  brand_color: '#12345G'\n  display_name: ${"n".repeat(65)}\n  short_description: ''\n  default_prompt: ok\n`)
    assert.deepStrictEqual(r.iface, { displayName: null, shortDescription: null, iconSmall: null, iconLarge: null, brandColor: null, defaultPrompt: "ok" })
    assert.deepStrictEqual(r.warnings, [
      "ignoring interface.display_name: exceeds maximum length of 64 characters",
      "ignoring interface.short_description: value is empty",
      "ignoring interface.icon_small: icon must be a relative assets path (not /p/skills/t/assets)",
      "ignoring interface.icon_large: icon path must not contain '..'",
      "ignoring interface.brand_color: expected #RRGGBB, got #12345G"
    ])
  })
  it("given assets paths then they resolve under the skill directory; scalars become text", () => {
    assert.deepStrictEqual(iface("interface:\n  icon_small: icons/x.png\n  icon_large: ./assets\n  brand_color: ' #abcdef '\n").iface,
      { displayName: null, shortDescription: null, iconSmall: null, iconLarge: "/p/skills/t/assets", brandColor: "#abcdef", defaultPrompt: null })
    assert.deepStrictEqual(iface("interface:\n  display_name: 5\n  default_prompt: true\n").iface,
      { displayName: "5", shortDescription: null, iconSmall: null, iconLarge: null, brandColor: null, defaultPrompt: "true" })
  })
  it("given camelCase keys, an empty file or invalid YAML then no interface", () => {
    for (const yaml of ["interface:\n  displayName: camel\n", "", "interface: [unclosed\n", "interface:\n  display_name: '   '\n"]) {
      assert.isNull(iface(yaml).iface)
    }
  })
})

describe(".mcp.json and .app.json", () => {
  it("given server entries then only valid ones are named, sorted", () => {
    const warnings: Array<string> = []
    const names = mcpServerNames(JSON.stringify({ mcpServers: { ok: { command: "x" }, num: 5, empty: {}, both: { command: "x", url: "https://u" }, badtype: { type: "sse", url: "https://u" }, nul: null, cmd: { command: 5 }, s: { command: "x", cwd: "rel", env: { A: "1" }, startup_timeout_sec: 5, unknownfield: 1 } } }), "/p/.mcp.json", warnings)
    assert.deepStrictEqual(names, ["badtype", "ok", "s"])
    assert.includeMembers(warnings, [
      "plugin MCP server uses an unknown transport type",
      "failed to parse plugin MCP server from /p/.mcp.json: invalid transport",
      "failed to parse plugin MCP server from /p/.mcp.json: url is not supported for stdio",
      "failed to parse plugin MCP server from /p/.mcp.json: invalid type: integer `5`, expected a string"
    ])
  })
  it("given a bare map, bad JSON or a non-map then no servers (binary texts)", () => {
    const warnings: Array<string> = []
    assert.deepStrictEqual(mcpServerNames('{"alpha":{"command":"x"}}', "/f", warnings), [])
    assert.deepStrictEqual(mcpServerNames("{bad", "/f", warnings), [])
    assert.deepStrictEqual(mcpServerNames('{"mcpServers":5}', "/f", warnings), [])
    assert.deepStrictEqual(mcpServerNames('{"mcpServers":null}', "/f", warnings), [])
    assert.deepStrictEqual(warnings, [
      "failed to parse plugin MCP config: key must be a string at line 1 column 2",
      "failed to parse plugin MCP config: invalid type: integer `5`, expected a map at line 1 column 15",
      "failed to parse plugin MCP config: invalid type: null, expected a map at line 1 column 18"
    ])
  })
  it("given apps then sorted by id, blank skipped, duplicates removed; a bad entry fails the file", () => {
    const warnings: Array<string> = []
    assert.deepStrictEqual(appSummaries('{"apps":{"a":{"id":"b1"},"b":{"id":"a1"},"c":{"id":"b1"},"d":{"id":" "}},"x":2}', warnings).map((a) => a.id), ["a1", "b1"])
    assert.deepStrictEqual(appSummaries('{"apps":{"a":{"id":"zeta"},"b":{}}}', warnings), [])
    assert.deepStrictEqual(appSummaries('{"apps":[]}', warnings), [])
    assert.deepStrictEqual(appSummaries('{"apps":{"a":{"id":"x","id":"y"}}}', warnings), [])
    assert.deepStrictEqual(warnings, [
      "plugin app config is missing an app id",
      "failed to parse plugin app config: missing field `id` at line 1 column 33",
      "failed to parse plugin app config: invalid type: sequence, expected a map at line 1 column 8",
      "failed to parse plugin app config: duplicate field `id` at line 1 column 27"
    ])
  })
  it("builds install URLs with codex's connector slug (binary outputs)", () => {
    assert.strictEqual(appInstallUrl("My_App.X", "My_App.X"), "https://chatgpt.com/apps/my-app-x/My_App.X")
    assert.strictEqual(appInstallUrl(" spaced id ", " spaced id "), "https://chatgpt.com/apps/spaced-id/ spaced id ")
    assert.strictEqual(appInstallUrl("ünï/çødé", "ünï/çødé"), "https://chatgpt.com/apps/n----d/ünï/çødé")
    assert.strictEqual(appInstallUrl("***", "x"), "https://chatgpt.com/apps/app/x")
  })
})
