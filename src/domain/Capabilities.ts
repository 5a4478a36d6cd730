/**
 * What enabled plugins give an agent, derived from the plugins the ledger knows and what their bundles hold:
 * skills, MCP servers (first plugin wins, the user's `[mcp_servers]` win over plugins), apps (first occurrence
 * wins), the per-plugin capability summaries and the rendered `## Plugins` block, as codex 0.116.0 loads them
 * (manager.rs `load_plugins`, `effective_mcp_servers`, `effective_apps`, render.rs). Pure.
 */
import { collapseWhitespace } from "./Manifest.ts"
import { compareUtf8 } from "./PathRules.ts"

/** What the bundle reader found in one plugin root. */
export interface LoadedBundle {
  readonly root: string
  readonly manifestName: string
  readonly description: string | null
  readonly skillRoots: ReadonlyArray<string>
  readonly skills: ReadonlyArray<{ readonly name: string; readonly description: string; readonly path: string }>
  readonly mcpServers: ReadonlyArray<{ readonly name: string; readonly transport: string; readonly config: Readonly<Record<string, unknown>> }>
  readonly apps: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
}

/** One plugin as the ledger's state has it, with its bundle when it was read (only active candidates are). */
export interface PluginInput {
  readonly pluginId: string
  readonly installed: boolean
  readonly enabled: boolean
  readonly load: { readonly _tag: "Loaded"; readonly bundle: LoadedBundle } | { readonly _tag: "Failed"; readonly error: string } | undefined
}

export type ExclusionReason = "feature-disabled" | "not-installed" | "disabled" | "load-error"

export interface CapabilitySummary {
  readonly configName: string
  readonly displayName: string
  readonly description: string | null
  readonly hasSkills: boolean
  readonly mcpServerNames: ReadonlyArray<string>
  readonly appConnectorIds: ReadonlyArray<string>
}

export interface CapabilityWarning {
  readonly pluginId: string | null
  readonly message: string
}

export interface Capabilities {
  readonly pluginsFeature: boolean
  /** active plugins (installed, enabled, loaded), sorted by key */
  readonly plugins: ReadonlyArray<{
    readonly pluginId: string
    readonly displayName: string
    readonly root: string
    readonly contributes: boolean
  }>
  readonly excluded: ReadonlyArray<{ readonly pluginId: string; readonly reason: ExclusionReason; readonly message: string }>
  readonly skillRoots: ReadonlyArray<{ readonly pluginId: string; readonly path: string }>
  readonly skills: ReadonlyArray<{ readonly pluginId: string; readonly name: string; readonly description: string; readonly path: string }>
  readonly mcpServers: ReadonlyArray<{
    readonly name: string
    readonly pluginId: string
    readonly transport: string
    readonly config: Readonly<Record<string, unknown>>
    /** every active plugin that declares a server of this name, the winner first */
    readonly declaredBy: ReadonlyArray<string>
  }>
  /** plugin servers left out because `config.toml` `[mcp_servers]` defines the same name */
  readonly shadowedMcpServers: ReadonlyArray<{ readonly name: string; readonly pluginId: string }>
  readonly apps: ReadonlyArray<{ readonly id: string; readonly pluginIds: ReadonlyArray<string> }>
  readonly summaries: ReadonlyArray<CapabilitySummary>
  /** the `<plugins_instructions>` block, or null when no plugin contributes anything */
  readonly instructions: string | null
  readonly warnings: ReadonlyArray<CapabilityWarning>
}

/** codex `MAX_CAPABILITY_SUMMARY_DESCRIPTION_LEN` */
const MAX_DESCRIPTION_CHARS = 1024

/** codex `prompt_safe_plugin_description`: whitespace collapsed, blank is none, at most 1024 chars. */
export const promptSafeDescription = (description: string | null): string | null => {
  if (description === null) return null
  const collapsed = collapseWhitespace(description)
  return collapsed.length === 0 ? null : [...collapsed].slice(0, MAX_DESCRIPTION_CHARS).join("")
}

const EXCLUSION_TEXT: Record<Exclude<ExclusionReason, "load-error">, string> = {
  "feature-disabled": "the plugins feature is off ([features] plugins is not true in config.toml)",
  "not-installed": "configured in config.toml but not installed (no cache version)",
  "disabled": "installed but disabled"
}

export const OPEN_TAG = "<plugins_instructions>"
export const CLOSE_TAG = "</plugins_instructions>"

const HOW_TO_USE = [
  "- Discovery: The list above is the plugins available in this session.",
  "- Skill naming: If a plugin contributes skills, those skill entries are prefixed with `plugin_name:` in the Skills list.",
  "- Trigger rules: If the user explicitly names a plugin, prefer capabilities associated with that plugin for that turn.",
  "- Relationship to capabilities: Plugins are not invoked directly. Use their underlying skills, MCP tools, and app tools to help solve the task.",
  "- Preference: When a relevant plugin is available, prefer using capabilities associated with that plugin over standalone capabilities that provide similar functionality.",
  "- Missing/blocked: If the user requests a plugin that is not listed above, or the plugin does not have relevant callable capabilities for the task, say so briefly and continue with the best fallback."
]

/** render.rs `render_plugins_section` (0.116.0): null without summaries. */
export const renderPluginsInstructions = (summaries: ReadonlyArray<CapabilitySummary>): string | null => {
  if (summaries.length === 0) return null
  const lines = [
    "## Plugins",
    "A plugin is a local bundle of skills, MCP servers, and apps. Below is the list of plugins that are enabled and available in this session.",
    "### Available plugins",
    ...summaries.map((s) => (s.description === null ? `- \`${s.displayName}\`` : `- \`${s.displayName}\`: ${s.description}`)),
    "### How to use plugins",
    ...HOW_TO_USE
  ]
  return `${OPEN_TAG}\n${lines.join("\n")}\n${CLOSE_TAG}`
}

const byKey = (a: PluginInput, b: PluginInput): number => compareUtf8(a.pluginId, b.pluginId)

/**
 * The capability answer. `userMcpServers`: the names `config.toml` `[mcp_servers]` defines (they win over plugin
 * servers of the same name). Plugins are processed in key order, as codex does.
 */
export const deriveCapabilities = (input: {
  readonly pluginsFeature: boolean
  readonly plugins: ReadonlyArray<PluginInput>
  readonly userMcpServers: ReadonlySet<string>
}): Capabilities => {
  const warnings: Array<CapabilityWarning> = []
  const plugins: Array<Capabilities["plugins"][number]> = []
  const excluded: Array<Capabilities["excluded"][number]> = []
  const skillRoots: Array<Capabilities["skillRoots"][number]> = []
  const skills: Array<Capabilities["skills"][number]> = []
  const servers = new Map<string, { name: string; pluginId: string; transport: string; config: Readonly<Record<string, unknown>>; declaredBy: Array<string> }>()
  const shadowed: Array<Capabilities["shadowedMcpServers"][number]> = []
  const apps = new Map<string, Array<string>>()
  const summaries: Array<CapabilitySummary> = []

  for (const plugin of [...input.plugins].sort(byKey)) {
    const { pluginId } = plugin
    if (!plugin.installed) {
      excluded.push({ pluginId, reason: "not-installed", message: EXCLUSION_TEXT["not-installed"] })
      continue
    }
    if (!input.pluginsFeature) {
      excluded.push({ pluginId, reason: "feature-disabled", message: EXCLUSION_TEXT["feature-disabled"] })
      continue
    }
    if (!plugin.enabled) {
      excluded.push({ pluginId, reason: "disabled", message: EXCLUSION_TEXT.disabled })
      continue
    }
    if (plugin.load === undefined || plugin.load._tag === "Failed") {
      const message = plugin.load?.error ?? "not loaded"
      excluded.push({ pluginId, reason: "load-error", message })
      warnings.push({ pluginId, message: `failed to load plugin: ${message}` })
      continue
    }
    const bundle = plugin.load.bundle
    for (const message of bundle.warnings) warnings.push({ pluginId, message })
    for (const path of bundle.skillRoots) skillRoots.push({ pluginId, path })
    for (const skill of bundle.skills) skills.push({ pluginId, name: skill.name, description: skill.description, path: skill.path })
    for (const server of bundle.mcpServers) {
      if (input.userMcpServers.has(server.name)) {
        shadowed.push({ name: server.name, pluginId })
        continue
      }
      const first = servers.get(server.name)
      if (first === undefined) {
        servers.set(server.name, { ...server, pluginId, declaredBy: [pluginId] })
      } else {
        first.declaredBy.push(pluginId)
        warnings.push({ pluginId, message: `skipping duplicate plugin MCP server name \`${server.name}\` (already provided by ${first.pluginId})` })
      }
    }
    for (const id of bundle.apps) {
      const providers = apps.get(id)
      if (providers === undefined) apps.set(id, [pluginId])
      else providers.push(pluginId)
    }
    const summary: CapabilitySummary = {
      configName: pluginId,
      displayName: bundle.manifestName.length > 0 ? bundle.manifestName : pluginId,
      description: promptSafeDescription(bundle.description),
      hasSkills: bundle.skillRoots.length > 0,
      mcpServerNames: bundle.mcpServers.map((s) => s.name).sort(compareUtf8),
      appConnectorIds: bundle.apps
    }
    const contributes = summary.hasSkills || summary.mcpServerNames.length > 0 || summary.appConnectorIds.length > 0
    plugins.push({ pluginId, displayName: summary.displayName, root: bundle.root, contributes })
    if (contributes) summaries.push(summary)
  }

  return {
    pluginsFeature: input.pluginsFeature,
    plugins,
    excluded,
    skillRoots,
    skills,
    mcpServers: [...servers.values()].sort((a, b) => compareUtf8(a.name, b.name)),
    shadowedMcpServers: shadowed,
    apps: [...apps].map(([id, pluginIds]) => ({ id, pluginIds })),
    summaries,
    instructions: renderPluginsInstructions(summaries),
    warnings
  }
}
