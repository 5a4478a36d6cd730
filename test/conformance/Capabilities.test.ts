/**
 * Differential check of `plugin/capabilities` against the reference (`codex app-server`, @openai/codex 0.116.0).
 * The reference has no capability method, but it shows what its loaded plugins give a session:
 * - `skills/list`: the skills of active plugins (`<plugin>:<skill>`, description, path in the cache),
 * - `mcpServerStatus/list`: the effective MCP server names (config.toml `[mcp_servers]` plus active plugins' servers),
 * - `plugin/read`: per plugin, its skills, MCP server names and app connector ids.
 * Each case installs the same plugins on both sides (disabling some: `config/value/write` there, `plugin/disable`
 * here), then compares, paths normalised to `<ROOT>`:
 * - our `skills` with the reference's plugin skills (name, description, path), exactly;
 * - our `mcpServers` + `shadowedMcpServers` + the user's names with the reference's effective names, and each
 *   server's winner with the first active plugin (by key) whose `plugin/read` lists that name;
 * - our per-plugin summaries (`mcpServerNames`, `appConnectorIds`, `hasSkills`) with `plugin/read` of each active
 *   plugin, and our effective `apps` with the first occurrences of those ids across active plugins in key order;
 * - our active/excluded split with the reference's `installed`/`enabled` flags.
 * Not compared (the reference does not show them without a model turn): the normalized MCP configs (`type`/`oauth`
 * dropped, relative `cwd` rebased), the rendered instructions and mention texts; test/domain/Capabilities.test.ts
 * and test/services/Capabilities.test.ts check those against the reference's source texts.
 *
 * The S0/S1 cases of codex-conformance.json on skills, MCP and apps loading, and where each is covered
 * ("domain": test/domain/Capabilities.test.ts, "services": test/services/Capabilities.test.ts, "here": this file):
 * - load_plugins_loads_default_skills_and_mcp_servers: domain (same name); here "(config + cache)"; services
 *   "current state" (MCP normalization on real files)
 * - load_plugins_preserves_disabled_plugins_without_effective_contributions: domain; here "(config + cache)" and
 *   `off` in the first case
 * - load_plugins_returns_empty_when_feature_disabled: domain; here "[features] plugins = false"
 * - load_plugins_uses_manifest_configured_component_paths: here, `custom` in the first case
 * - load_plugins_ignores_manifest_component_paths_without_dot_slash: here, `loose` in the third case
 * - load_plugins_rejects_invalid_plugin_keys: here "(config + cache)"
 * - load_plugins_ignores_project_config_files: here (a trusted project's .codex/config.toml)
 * - effective_apps_dedupes_connector_ids_across_plugins: domain; here, `other` + `sample` in the first case, and
 *   "(config + cache, no manifests)": the S0 fixture has no plugin.json, which 0.116.0 no longer loads
 * - capability_index_filters_inactive_and_zero_capability_plugins: domain; here `quiet` and `off` (no summary)
 * - plugin_namespace_for_skill_path_uses_manifest_name: here (entry `entry`, manifest name `manifest-name`)
 * - plugin_read_returns_plugin_details_with_bundle_contents (S1): conformance.test.ts scenario of that name; here,
 *   every plugin/read is compared with our per-plugin summary
 * - plugin_install_returns_apps_needing_auth / plugin_install_filters_disallowed_apps_needing_auth (S0): about the
 *   install answer with a ChatGPT connector directory, not about loading; the first is a conformance.test.ts
 *   scenario, the second needs a mocked connector server (not run)
 * Mentions: codex-conformance.json has no S0/S1 mention case; domain "mentions" and "rendered texts" follow
 * mentions.rs / injection.rs / render_tests.rs of 0.116.0.
 */
import { assert, describe, it } from "vitest"
import { type Json, parseObject, type RunResult, runScenario, type Scenario, type SetupEntry, type Step } from "./harness.ts"

const MP = "<ROOT>/repo/.agents/plugins/marketplace.json"
const CACHE = "<ROOT>/home/plugins/cache/"

const json = (path: string, value: Json): SetupEntry => ({ kind: "json", path, value })
const text = (path: string, content: string): SetupEntry => ({ kind: "text", path, content })
const req = (method: string, params: Json): Step => ({ kind: "request", method, params })
const skill = (path: string, name: string, description: string) => text(path, `---\nname: ${name}\ndescription: ${description}\n---\n`)
const manifest = (plugin: string, value: Json) => json(`repo/${plugin}/.codex-plugin/plugin.json`, value)
/** loopback port 9 (discard): nothing answers, so the reference's status probe fails fast without the network */
const unreachable = "http://127.0.0.1:9/mcp"

interface Case {
  readonly name: string
  readonly config: string
  /** names the user's config.toml `[mcp_servers]` defines */
  readonly userMcpServers: ReadonlyArray<string>
  readonly plugins: ReadonlyArray<string>
  readonly files: ReadonlyArray<SetupEntry>
  readonly install: ReadonlyArray<string>
  readonly disable?: ReadonlyArray<string>
}

const pluginId = (name: string) => `${name}@test`

const cases: ReadonlyArray<Case> = [
  {
    name: "skills, MCP (type, oauth, relative cwd, invalid entries, duplicates, user precedence), apps (blank, duplicates), path overrides, a disabled plugin",
    config: `[features]\nplugins = true\n\n[mcp_servers.docs]\ncommand = "user-docs-server-that-does-not-exist"\n`,
    userMcpServers: ["docs"],
    plugins: ["sample", "other", "custom", "quiet", "off"],
    files: [
      manifest("sample", { name: "sample", description: "  Sample   plugin\nwith spaces " }),
      skill("repo/sample/skills/alpha/SKILL.md", "alpha", "Alpha skill"),
      skill("repo/sample/skills/group/inner/SKILL.md", "inner", "Nested skill"),
      text("repo/sample/skills/no-frontmatter/SKILL.md", "# just markdown\n"),
      skill("repo/sample/skills/renamed-dir/SKILL.md", "other-name", "name differs from dir"),
      json("repo/sample/.mcp.json", {
        mcpServers: {
          web: { type: "http", url: unreachable, oauth: { clientId: "client-id", callbackPort: 3118 } },
          local: { command: "sample-server-that-does-not-exist", cwd: "./bin" },
          mid: { type: "weird", command: "m-that-does-not-exist" },
          bad: { nothing: true },
          docs: { command: "plugin-docs-that-does-not-exist" }
        }
      }),
      json("repo/sample/.app.json", { apps: { b: { id: "connector_b" }, a: { id: "connector_a" }, dup: { id: "connector_b" }, blank: { id: " " } } }),
      // `other` sorts before `sample`: its `web` wins
      manifest("other", { name: "other" }),
      json("repo/other/.mcp.json", { mcpServers: { web: { command: "other-web-that-does-not-exist" } } }),
      json("repo/other/.app.json", { apps: { x: { id: "connector_a" }, y: { id: "connector_gmail" }, z: { id: "" } } }),
      manifest("custom", { name: "custom", skills: "./custom-skills/", mcpServers: "./config/custom.mcp.json", apps: "./config/custom.app.json" }),
      skill("repo/custom/skills/default-skill/SKILL.md", "default-skill", "default skill"),
      skill("repo/custom/custom-skills/custom-skill/SKILL.md", "custom-skill", "custom skill"),
      json("repo/custom/.mcp.json", { mcpServers: { "default-mcp": { type: "http", url: unreachable } } }),
      json("repo/custom/config/custom.mcp.json", { mcpServers: { "custom-mcp": { type: "streamable_http", url: unreachable } } }),
      json("repo/custom/.app.json", { apps: { d: { id: "connector_default" } } }),
      json("repo/custom/config/custom.app.json", { apps: { c: { id: "connector_custom" } } }),
      // contributes nothing: active, but no summary
      manifest("quiet", { name: "quiet" }),
      manifest("off", { name: "off" }),
      skill("repo/off/skills/hidden/SKILL.md", "hidden", "from a disabled plugin"),
      json("repo/off/.mcp.json", { mcpServers: { "off-mcp": { command: "off-that-does-not-exist" } } })
    ],
    install: ["sample", "other", "custom", "quiet", "off"],
    disable: ["off"]
  },
  {
    name: "[features] plugins = false: installed plugins give nothing; the user's servers stay",
    config: `[features]\nplugins = false\n\n[mcp_servers.mine]\ncommand = "mine-that-does-not-exist"\n`,
    userMcpServers: ["mine"],
    plugins: ["sample"],
    files: [
      manifest("sample", { name: "sample" }),
      skill("repo/sample/skills/alpha/SKILL.md", "alpha", "Alpha skill"),
      json("repo/sample/.mcp.json", { mcpServers: { web: { type: "http", url: unreachable } } }),
      json("repo/sample/.app.json", { apps: { a: { id: "connector_a" } } })
    ],
    install: ["sample"]
  },
  {
    name: "manifest paths without ./ are ignored; mcpServers as a bare map is not read in 0.116.0; an installed plugin without skills dir",
    config: `[features]\nplugins = true\n`,
    userMcpServers: [],
    plugins: ["loose", "bare"],
    files: [
      manifest("loose", { name: "loose", skills: "custom-skills", mcpServers: "config/custom.mcp.json", apps: "config/custom.app.json" }),
      skill("repo/loose/skills/default-skill/SKILL.md", "default-skill", "default skill"),
      skill("repo/loose/custom-skills/custom-skill/SKILL.md", "custom-skill", "custom skill"),
      json("repo/loose/.mcp.json", { mcpServers: { "loose-default": { type: "http", url: unreachable } } }),
      json("repo/loose/config/custom.mcp.json", { mcpServers: { "loose-custom": { type: "http", url: unreachable } } }),
      json("repo/loose/.app.json", { apps: { d: { id: "connector_loose" } } }),
      manifest("bare", { name: "bare" }),
      json("repo/bare/.mcp.json", { "bare-map": { command: "bare-that-does-not-exist" } })
    ],
    install: ["loose", "bare"]
  }
]

/** the same file in the marketplace source (for `plugin/read`) and in the cache (installed without an install) */
const both = (plugin: string, rel: string, value: Json | string): ReadonlyArray<SetupEntry> =>
  [`repo/${plugin}/${rel}`, `home/plugins/cache/test/${plugin}/local/${rel}`].map((path) =>
    typeof value === "string" ? text(path, value) : json(path, value)
  )

/** The S0 manager cases as 0.116.0 runs them: state from config.toml and the cache, no install requests. */
const fromConfigAndCache: ReadonlyArray<Case> = [
  {
    name: "load_plugins_loads_default_skills_and_mcp_servers (config + cache)",
    config: `[features]\nplugins = true\n\n[plugins."sample@test"]\nenabled = true\n`,
    userMcpServers: [],
    plugins: ["sample"],
    files: [
      ...both("sample", ".codex-plugin/plugin.json", { name: "sample", description: "Plugin that includes the sample MCP server and Skills" }),
      ...both("sample", "skills/sample-search/SKILL.md", "---\nname: sample-search\ndescription: search sample data\n---\n"),
      ...both("sample", ".mcp.json", { mcpServers: { sample: { type: "http", url: unreachable, oauth: { clientId: "client-id", callbackPort: 3118 } } } }),
      ...both("sample", ".app.json", { apps: { example: { id: "connector_example" } } })
    ],
    install: []
  },
  {
    name: "effective_apps_dedupes_connector_ids_across_plugins (config + cache, no manifests)",
    config: `[features]\nplugins = true\n[plugins."plugin-a@test"]\nenabled = true\n[plugins."plugin-b@test"]\nenabled = true\n`,
    userMcpServers: [],
    plugins: [],
    files: [
      json("home/plugins/cache/test/plugin-a/local/.app.json", { apps: { example: { id: "connector_example" } } }),
      // a skill, so that skills/list would show the plugin had 0.116.0 loaded it without a manifest
      text("home/plugins/cache/test/plugin-a/local/skills/s/SKILL.md", "---\nname: s\ndescription: skill\n---\n"),
      json("home/plugins/cache/test/plugin-b/local/.app.json", { apps: { chat: { id: "connector_example" }, gmail: { id: "connector_gmail" } } })
    ],
    install: []
  },
  {
    name: "load_plugins_preserves_disabled_plugins_without_effective_contributions (config + cache)",
    config: `[features]\nplugins = true\n\n[plugins."sample@test"]\nenabled = false\n`,
    userMcpServers: [],
    plugins: ["sample"],
    files: [
      ...both("sample", ".codex-plugin/plugin.json", { name: "sample" }),
      ...both("sample", ".mcp.json", { mcpServers: { sample: { type: "http", url: unreachable } } })
    ],
    install: []
  },
  {
    name: "load_plugins_rejects_invalid_plugin_keys (config + cache)",
    config: `[features]\nplugins = true\n\n[plugins.sample]\nenabled = true\n`,
    userMcpServers: [],
    plugins: ["sample"],
    files: [
      ...both("sample", ".codex-plugin/plugin.json", { name: "sample" }),
      ...both("sample", "skills/s/SKILL.md", "---\nname: s\ndescription: skill\n---\n"),
      ...both("sample", ".mcp.json", { mcpServers: { sample: { type: "http", url: unreachable } } })
    ],
    install: []
  },
  {
    name: "load_plugins_ignores_project_config_files (a trusted project's .codex/config.toml enables plugins)",
    config: `[projects."<ROOT>/cwd"]\ntrust_level = "trusted"\n`,
    userMcpServers: [],
    plugins: ["sample"],
    files: [
      { kind: "dir", path: "cwd/.git" },
      text("cwd/.codex/config.toml", `[features]\nplugins = true\n\n[plugins."sample@test"]\nenabled = true\n`),
      ...both("sample", ".codex-plugin/plugin.json", { name: "sample" }),
      ...both("sample", "skills/s/SKILL.md", "---\nname: s\ndescription: skill\n---\n")
    ],
    install: []
  },
  {
    name: "plugin_namespace_for_skill_path_uses_manifest_name (entry and directory named otherwise)",
    config: `[features]\nplugins = true\n`,
    userMcpServers: [],
    plugins: ["entry"],
    files: [
      manifest("entry", { name: "manifest-name" }),
      text("repo/entry/skills/search/SKILL.md", "---\ndescription: search\n---\n"),
      skill("repo/entry/skills/named/SKILL.md", "named", "named skill")
    ],
    install: ["entry"]
  }
]

const setupOf = (c: Case): ReadonlyArray<SetupEntry> => [
  { kind: "dir", path: "repo/.git" },
  json("repo/.agents/plugins/marketplace.json", {
    name: "test",
    plugins: c.plugins.map((name) => ({ name, source: { source: "local", path: `./${name}` } }))
  }),
  text("home/config.toml", c.config),
  ...c.files
]

const installs = (c: Case): ReadonlyArray<Step> => c.install.map((pluginName) => req("plugin/install", { marketplacePath: MP, pluginName }))

const referenceScenario = (c: Case): Scenario => ({
  name: `capabilities-reference: ${c.name}`,
  cases: [],
  checks: c.name,
  setup: setupOf(c),
  steps: [
    ...installs(c),
    ...(c.disable ?? []).map((p) => req("config/value/write", { keyPath: `plugins.${pluginId(p)}.enabled`, value: false, mergeStrategy: "replace" })),
    req("skills/list", { cwds: ["<ROOT>/cwd"], forceReload: true }),
    req("mcpServerStatus/list", {}),
    ...c.plugins.map((pluginName) => req("plugin/read", { marketplacePath: MP, pluginName }))
  ]
})

const oursScenario = (c: Case): Scenario => ({
  name: `capabilities-ours: ${c.name}`,
  cases: [],
  checks: c.name,
  setup: setupOf(c),
  steps: [
    ...installs(c),
    ...(c.disable ?? []).map((p) => req("plugin/disable", { pluginId: pluginId(p) })),
    req("plugin/capabilities", {})
  ]
})

// ---------------------------------------------------------------------------------------------
// reading the answers (they are compared, so a shape other than expected fails loudly)
// ---------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>
const isObj = (u: unknown): u is Obj => typeof u === "object" && u !== null && !Array.isArray(u)
const obj = (u: unknown, what: string): Obj => {
  if (!isObj(u)) throw new Error(`${what}: expected an object, got ${JSON.stringify(u)}`)
  return u
}
const arr = (u: unknown, what: string): ReadonlyArray<unknown> => {
  if (!Array.isArray(u)) throw new Error(`${what}: expected an array, got ${JSON.stringify(u)}`)
  return u
}
const str = (u: unknown, what: string): string => {
  if (typeof u !== "string") throw new Error(`${what}: expected a string, got ${JSON.stringify(u)}`)
  return u
}
const resultOf = (run: RunResult, index: number): Obj => {
  const step = run.steps[index]
  if (step === undefined) throw new Error(`[${run.target}] no step ${index}`)
  const parsed = parseObject(step.line)
  if (!isObj(parsed["result"])) throw new Error(`[${run.target}] ${step.description} failed: ${step.line}\n${run.stderrTail}`)
  return parsed["result"]
}
const sorted = <A>(xs: ReadonlyArray<A>): ReadonlyArray<A> => [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
const byKey = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

interface PluginRead {
  readonly id: string
  readonly installed: boolean
  readonly enabled: boolean
  readonly skills: ReadonlyArray<readonly [string, string]>
  readonly mcpServers: ReadonlyArray<string>
  readonly apps: ReadonlyArray<string>
}

const readPlugin = (result: Obj): PluginRead => {
  const plugin = obj(result["plugin"], "plugin/read plugin")
  const summary = obj(plugin["summary"], "plugin/read summary")
  return {
    id: str(summary["id"], "summary.id"),
    installed: summary["installed"] === true,
    enabled: summary["enabled"] === true,
    skills: arr(plugin["skills"], "skills").map((s) => [str(obj(s, "skill")["name"], "skill.name"), str(obj(s, "skill")["description"], "skill.description")] as const),
    mcpServers: arr(plugin["mcpServers"], "mcpServers").map((n) => str(n, "mcp name")),
    apps: arr(plugin["apps"], "apps").map((a) => str(obj(a, "app")["id"], "app.id"))
  }
}

const compare = (c: Case, reference: RunResult, ours: RunResult): void => {
  const afterInstalls = c.install.length + (c.disable?.length ?? 0)
  // reference
  const skillsList = arr(resultOf(reference, afterInstalls)["data"], "skills/list data")
  const referenceSkills = skillsList.flatMap((entry) => arr(obj(entry, "skills/list entry")["skills"], "skills"))
    .map((s) => obj(s, "skill"))
    .filter((s) => str(s["path"], "skill.path").startsWith(CACHE))
    .map((s) => [str(s["name"], "name"), str(s["description"], "description"), str(s["path"], "path")] as const)
  const referenceServers = arr(resultOf(reference, afterInstalls + 1)["data"], "mcpServerStatus data").map((s) => str(obj(s, "server")["name"], "name"))
  const reads = c.plugins.map((_, n) => readPlugin(resultOf(reference, afterInstalls + 2 + n)))
  const active = reads.filter((r) => r.installed && r.enabled).sort((a, b) => byKey(a.id, b.id))
  // ours
  const caps = resultOf(ours, afterInstalls)
  const ourSkills = arr(caps["skills"], "skills").map((s) => obj(s, "skill"))
  const ourServers = arr(caps["mcpServers"], "mcpServers").map((s) => obj(s, "server"))
  const shadowed = arr(caps["shadowedMcpServers"], "shadowedMcpServers").map((s) => str(obj(s, "shadowed")["name"], "name"))
  const summaries = arr(caps["summaries"], "summaries").map((s) => obj(s, "summary"))
  const ourActive = arr(caps["plugins"], "plugins").map((p) => str(obj(p, "plugin")["pluginId"], "pluginId"))

  assert.deepStrictEqual(ourActive, active.map((r) => r.id), "active plugins = installed and enabled in the reference")
  assert.deepStrictEqual(
    sorted(ourSkills.map((s) => [str(s["name"], "name"), str(s["description"], "description"), str(s["path"], "path")] as const)),
    sorted(referenceSkills),
    "plugin skills: ours vs the reference's skills/list"
  )
  assert.deepStrictEqual(
    sorted([...new Set([...ourServers.map((s) => str(s["name"], "name")), ...c.userMcpServers])]),
    sorted(referenceServers),
    "effective MCP server names: ours + config.toml's vs the reference's mcpServerStatus/list"
  )
  for (const name of shadowed) assert.include(c.userMcpServers, name, `${name} is shadowed only by a user server`)
  for (const server of ourServers) {
    const name = str(server["name"], "name")
    assert.strictEqual(server["pluginId"], active.find((r) => r.mcpServers.includes(name))?.id, `${name}: the first plugin by key wins`)
  }
  for (const read of reads) {
    const summary = summaries.find((s) => s["configName"] === read.id)
    const isActive = active.includes(read)
    const contributes = isActive && (read.skills.length > 0 || read.mcpServers.length > 0 || read.apps.length > 0)
    assert.strictEqual(summary !== undefined, contributes, `${read.id}: a summary exactly when active and contributing`)
    if (summary === undefined) continue
    assert.deepStrictEqual(summary["mcpServerNames"], read.mcpServers, `${read.id}: MCP server names vs plugin/read`)
    assert.deepStrictEqual(summary["appConnectorIds"], read.apps, `${read.id}: app ids vs plugin/read`)
    assert.strictEqual(summary["hasSkills"], read.skills.length > 0, `${read.id}: hasSkills vs plugin/read`)
    assert.deepStrictEqual(
      ourSkills.filter((s) => s["pluginId"] === read.id).map((s) => [s["name"], s["description"]]),
      read.skills.map(([n, d]) => [n, d]),
      `${read.id}: skills vs plugin/read`
    )
  }
  const firstOccurrences = [...new Set(active.flatMap((r) => r.apps))]
  assert.deepStrictEqual(
    arr(caps["apps"], "apps").map((a) => [obj(a, "app")["id"], obj(a, "app")["pluginIds"]]),
    firstOccurrences.map((id) => [id, active.filter((r) => r.apps.includes(id)).map((r) => r.id)]),
    "effective apps: first occurrence across active plugins in key order"
  )
}

describe("plugin/capabilities agrees with what the reference loads", () => {
  for (const c of [...cases, ...fromConfigAndCache]) {
    it(c.name, async () => {
      const [reference, ours] = await Promise.all([runScenario(referenceScenario(c), "reference"), runScenario(oursScenario(c), "ours")])
      compare(c, reference, ours)
    })
  }
})
