/**
 * The capability derivation against the reference's cases (codex-conformance.json, S0 manager tests) and the exact
 * texts of 0.116.0's render.rs / injection.rs (render_tests.rs, explicit-instructions tests).
 */
import { assert, describe, it } from "vitest"
import { type Capabilities, deriveCapabilities, type LoadedBundle, type PluginInput, renderPluginsInstructions } from "../../src/domain/Capabilities.ts"
import { diffCapabilities } from "../../src/domain/CapabilityDiff.ts"
import { collectMentionedPlugins, linkedMentionPaths, mentionGuidance, renderExplicitPluginInstructions } from "../../src/domain/PluginMentions.ts"

const bundle = (name: string, parts: Partial<LoadedBundle> = {}): LoadedBundle => ({
  root: `/home/plugins/cache/test/${name}/local`,
  manifestName: name,
  description: null,
  skillRoots: [],
  skills: [],
  mcpServers: [],
  apps: [],
  warnings: [],
  ...parts
})
const http = (name: string, url: string) => ({ name, transport: "streamable_http", config: { enabled: true, required: false, url } })
const active = (pluginId: string, b: LoadedBundle): PluginInput => ({ pluginId, installed: true, enabled: true, load: { _tag: "Loaded", bundle: b } })
const derive = (plugins: ReadonlyArray<PluginInput>, userMcpServers: ReadonlySet<string> = new Set()): Capabilities =>
  deriveCapabilities({ pluginsFeature: true, plugins, userMcpServers })

describe("deriveCapabilities (reference cases)", () => {
  it("load_plugins_loads_default_skills_and_mcp_servers: skills, one MCP server, one app, the summary", () => {
    const root = "/home/plugins/cache/test/sample/local"
    const caps = derive([active("sample@test", bundle("sample", {
      description: "Plugin that includes the sample MCP server and Skills",
      skillRoots: [`${root}/skills`],
      skills: [{ name: "sample:sample-search", description: "search sample data", path: `${root}/skills/sample-search/SKILL.md` }],
      mcpServers: [http("sample", "https://sample.example/mcp")],
      apps: ["connector_example"]
    }))])
    assert.deepStrictEqual(caps.summaries, [{
      configName: "sample@test",
      displayName: "sample",
      description: "Plugin that includes the sample MCP server and Skills",
      hasSkills: true,
      mcpServerNames: ["sample"],
      appConnectorIds: ["connector_example"]
    }])
    assert.deepStrictEqual(caps.skillRoots.map((r) => r.path), [`${root}/skills`])
    assert.deepStrictEqual(caps.mcpServers.map((s) => [s.name, s.transport, s.config]), [
      ["sample", "streamable_http", { enabled: true, required: false, url: "https://sample.example/mcp" }]
    ])
    assert.deepStrictEqual(caps.apps, [{ id: "connector_example", pluginIds: ["sample@test"] }])
  })

  it("load_plugins_preserves_disabled_plugins_without_effective_contributions: a disabled plugin gives nothing and says why", () => {
    const caps = derive([{ pluginId: "sample@test", installed: true, enabled: false, load: undefined }])
    assert.deepStrictEqual(caps.skillRoots, [])
    assert.deepStrictEqual(caps.mcpServers, [])
    assert.deepStrictEqual(caps.excluded, [{ pluginId: "sample@test", reason: "disabled", message: "installed but disabled" }])
    assert.isNull(caps.instructions)
  })

  it("load_plugins_returns_empty_when_feature_disabled", () => {
    const caps = deriveCapabilities({ pluginsFeature: false, userMcpServers: new Set(), plugins: [active("sample@test", bundle("sample", { skillRoots: ["/x"] }))] })
    assert.deepStrictEqual(caps.plugins, [])
    assert.deepStrictEqual(caps.excluded.map((e) => e.reason), ["feature-disabled"])
  })

  it("effective_apps_dedupes_connector_ids_across_plugins: the first occurrence wins, providers listed", () => {
    const caps = derive([
      active("plugin-b@test", bundle("plugin-b", { apps: ["connector_example", "connector_gmail"] })),
      active("plugin-a@test", bundle("plugin-a", { apps: ["connector_example"] }))
    ])
    assert.deepStrictEqual(caps.apps, [
      { id: "connector_example", pluginIds: ["plugin-a@test", "plugin-b@test"] },
      { id: "connector_gmail", pluginIds: ["plugin-b@test"] }
    ])
  })

  it("capability_index_filters_inactive_and_zero_capability_plugins", () => {
    const caps = derive([
      active("skills@test", bundle("skills-plugin", { skillRoots: ["/r/skills"] })),
      active("alpha@test", bundle("alpha-plugin", { mcpServers: [http("alpha", "https://a")], apps: ["connector_example"] })),
      active("beta@test", bundle("beta-plugin", { mcpServers: [http("beta", "https://b")], apps: ["connector_example", "connector_gmail"] })),
      active("empty@test", bundle("empty-plugin")),
      { pluginId: "disabled@test", installed: true, enabled: false, load: undefined },
      { pluginId: "broken@test", installed: true, enabled: true, load: { _tag: "Failed", error: "failed to load" } }
    ])
    // codex keeps config order; the ledger's order is the key order, which the reference uses across plugins
    assert.deepStrictEqual(caps.summaries.map((s) => [s.configName, s.displayName, s.hasSkills, s.mcpServerNames, s.appConnectorIds]), [
      ["alpha@test", "alpha-plugin", false, ["alpha"], ["connector_example"]],
      ["beta@test", "beta-plugin", false, ["beta"], ["connector_example", "connector_gmail"]],
      ["skills@test", "skills-plugin", true, [], []]
    ])
    assert.deepStrictEqual(caps.excluded.map((e) => [e.pluginId, e.reason, e.message]), [
      ["broken@test", "load-error", "failed to load"],
      ["disabled@test", "disabled", "installed but disabled"]
    ])
    assert.deepStrictEqual(caps.plugins.find((p) => p.pluginId === "empty@test")?.contributes, false)
  })

  it("MCP servers: across plugins the first (by key) wins with the reference's warning; config.toml [mcp_servers] win over plugins", () => {
    const caps = derive([
      active("b@test", bundle("b", { mcpServers: [http("shared", "https://b"), http("mine", "https://b2")] })),
      active("a@test", bundle("a", { mcpServers: [http("shared", "https://a")] }))
    ], new Set(["mine"]))
    assert.deepStrictEqual(caps.mcpServers.map((s) => [s.name, s.pluginId, s.config["url"], s.declaredBy]), [
      ["shared", "a@test", "https://a", ["a@test", "b@test"]]
    ])
    assert.deepStrictEqual(caps.shadowedMcpServers, [{ name: "mine", pluginId: "b@test" }])
    assert.include(caps.warnings.map((w) => w.message).join("\n"), "skipping duplicate plugin MCP server name `shared`")
  })

  it("descriptions are made prompt-safe: whitespace collapsed, blank is none, at most 1024 chars", () => {
    const caps = derive([
      active("a@test", bundle("a", { skillRoots: ["/s"], description: "  two\n\twords  " })),
      active("b@test", bundle("b", { skillRoots: ["/s"], description: " \n " })),
      active("c@test", bundle("c", { skillRoots: ["/s"], description: "é".repeat(1100) }))
    ])
    assert.deepStrictEqual(caps.summaries.map((s) => s.description?.length ?? null), [9, null, 1024])
    assert.strictEqual(caps.summaries[0]?.description, "two words")
  })
})

describe("rendered texts (0.116.0)", () => {
  it("render_plugins_section_includes_descriptions_and_skill_naming_guidance (exact)", () => {
    const rendered = renderPluginsInstructions([{
      configName: "sample@test", displayName: "sample", description: "inspect sample data", hasSkills: true, mcpServerNames: [], appConnectorIds: []
    }])
    assert.strictEqual(
      rendered,
      "<plugins_instructions>\n## Plugins\nA plugin is a local bundle of skills, MCP servers, and apps. Below is the list of plugins that are enabled and available in this session.\n### Available plugins\n- `sample`: inspect sample data\n### How to use plugins\n- Discovery: The list above is the plugins available in this session.\n- Skill naming: If a plugin contributes skills, those skill entries are prefixed with `plugin_name:` in the Skills list.\n- Trigger rules: If the user explicitly names a plugin, prefer capabilities associated with that plugin for that turn.\n- Relationship to capabilities: Plugins are not invoked directly. Use their underlying skills, MCP tools, and app tools to help solve the task.\n- Preference: When a relevant plugin is available, prefer using capabilities associated with that plugin over standalone capabilities that provide similar functionality.\n- Missing/blocked: If the user requests a plugin that is not listed above, or the plugin does not have relevant callable capabilities for the task, say so briefly and continue with the best fallback.\n</plugins_instructions>"
    )
    assert.isNull(renderPluginsInstructions([]))
  })

  it("a plugin without description is listed by name only", () => {
    const rendered = renderPluginsInstructions([{ configName: "d@t", displayName: "Documents", description: null, hasSkills: true, mcpServerNames: [], appConnectorIds: [] }])
    assert.include(rendered ?? "", "### Available plugins\n- `Documents`\n### How to use plugins")
  })

  it("explicit plugin instructions: skill prefix, MCP servers, apps; none without lines", () => {
    const plugin = { configName: "github@test", displayName: "GitHub", description: null, hasSkills: true, mcpServerNames: [], appConnectorIds: [] }
    assert.strictEqual(
      renderExplicitPluginInstructions(plugin, [], []),
      "Capabilities from the `GitHub` plugin:\n- Skills from this plugin are prefixed with `GitHub:`.\nUse these plugin-associated capabilities to help solve the task."
    )
    assert.strictEqual(
      renderExplicitPluginInstructions({ ...plugin, hasSkills: false }, ["issues", "repos"], ["pulls"]),
      "Capabilities from the `GitHub` plugin:\n- MCP servers from this plugin available in this session: `issues`, `repos`.\n- Apps from this plugin available in this session: `pulls`.\nUse these plugin-associated capabilities to help solve the task."
    )
    assert.isNull(renderExplicitPluginInstructions({ ...plugin, hasSkills: false }, [], []))
  })
})

describe("mentions", () => {
  const caps = derive([
    active("sample@test", bundle("sample", { skillRoots: ["/s"], mcpServers: [http("sample-mcp", "https://s")], apps: ["connector_x"] })),
    active("other@test", bundle("other", { apps: ["connector_y"] }))
  ])

  it("linked text mentions use the @ sigil; $ links, plain @names, env-var names and empty paths are not plugin mentions", () => {
    assert.deepStrictEqual(linkedMentionPaths("use [@sample](plugin://sample@test) and [$tool](plugin://other@test)"), ["plugin://sample@test"])
    assert.deepStrictEqual(linkedMentionPaths("@sample [@PATH](plugin://x@y) [@a]( ) [@b] (plugin://b@t) [@c](plugin://c@t"), ["plugin://b@t"])
  })

  it("text links and structured mentions resolve to active plugins with capabilities; others are unresolved", () => {
    const { mentioned, unresolved } = collectMentionedPlugins([
      { type: "text", text: "please [@sample](plugin://sample@test) and [@gone](plugin://gone@test)" },
      { type: "mention", path: "plugin://other@test" },
      { type: "mention", path: "app://connector_x" }
    ], caps.summaries)
    assert.deepStrictEqual(mentioned.map((m) => m.configName), ["other@test", "sample@test"])
    assert.deepStrictEqual(unresolved, ["gone@test"])
    const guidance = mentionGuidance(caps, mentioned)
    assert.deepStrictEqual(guidance.map((g) => g.instructions), [
      "Capabilities from the `other` plugin:\n- Apps from this plugin available in this session: `connector_y`.\nUse these plugin-associated capabilities to help solve the task.",
      "Capabilities from the `sample` plugin:\n- Skills from this plugin are prefixed with `sample:`.\n- MCP servers from this plugin available in this session: `sample-mcp`.\n- Apps from this plugin available in this session: `connector_x`.\nUse these plugin-associated capabilities to help solve the task."
    ])
  })
})

describe("diffCapabilities", () => {
  it("reports what appeared and disappeared, and nothing for an equal answer", () => {
    const before = derive([active("a@test", bundle("a", { skillRoots: ["/s"], skills: [{ name: "a:x", description: "d", path: "/s/x/SKILL.md" }] }))])
    const after = derive([
      { pluginId: "a@test", installed: true, enabled: false, load: undefined },
      active("b@test", bundle("b", { mcpServers: [http("m", "https://m")] }))
    ])
    assert.isNull(diffCapabilities(before, before))
    const diff = diffCapabilities(before, after)
    assert.deepStrictEqual(diff?.plugins, { added: ["b@test"], removed: ["a@test"] })
    assert.deepStrictEqual(diff?.skills, { added: [], removed: ["a:x"] })
    assert.deepStrictEqual(diff?.mcpServers, { added: ["m"], removed: [], changed: [] })
    assert.deepStrictEqual(diff?.excluded, { added: ["a@test disabled"], removed: [] })
    assert.isTrue(diff?.instructionsChanged)
  })
})
