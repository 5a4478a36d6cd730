/**
 * Explicit plugin mentions and the guidance injected for them (codex mentions.rs
 * `collect_explicit_plugin_mentions`, injection.rs `extract_tool_mentions_with_sigil`, render.rs
 * `render_explicit_plugin_instructions`, 0.116.0 texts). Pure.
 */
import type { Capabilities, CapabilitySummary } from "./Capabilities.ts"
import { compareUtf8 } from "./PathRules.ts"

/** A user input item: text (scanned for `[@name](plugin://…)` links) or a structured mention. */
export type MentionInput =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "mention"; readonly path: string; readonly name?: string | null }

const PLUGIN_PREFIX = "plugin://"
/** plugin text links use `@`; tools use `$` */
const PLUGIN_SIGIL = "@"
const COMMON_ENV_VARS = new Set(["PATH", "HOME", "USER", "SHELL", "PWD", "TMPDIR", "TEMP", "TMP", "LANG", "TERM", "XDG_CONFIG_HOME"])

const isNameChar = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9_:-]$/.test(c)
const isAsciiWhitespace = (c: string | undefined): boolean => c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f"

/** The paths of `[<sigil>name](path)` links in `text` (plain `@name` mentions name no plugin path). */
export const linkedMentionPaths = (text: string, sigil = PLUGIN_SIGIL): ReadonlyArray<string> => {
  const paths: Array<string> = []
  let i = 0
  while (i < text.length) {
    if (text[i] === "[" && text[i + 1] === sigil && isNameChar(text[i + 2])) {
      let nameEnd = i + 3
      while (isNameChar(text[nameEnd])) nameEnd++
      if (text[nameEnd] === "]") {
        let open = nameEnd + 1
        while (isAsciiWhitespace(text[open])) open++
        const close = text[open] === "(" ? text.indexOf(")", open + 1) : -1
        const path = close < 0 ? "" : text.slice(open + 1, close).trim()
        if (path.length > 0) {
          if (!COMMON_ENV_VARS.has(text.slice(i + 2, nameEnd).toUpperCase())) paths.push(path)
          i = close + 1
          continue
        }
      }
    }
    i++
  }
  return paths
}

/** `plugin://<name>@<marketplace>` -> `<name>@<marketplace>` (any non-empty rest, as codex). */
export const pluginConfigNameFromPath = (path: string): string | undefined =>
  path.startsWith(PLUGIN_PREFIX) && path.length > PLUGIN_PREFIX.length ? path.slice(PLUGIN_PREFIX.length) : undefined

/** The summaries the input mentions, in summary order; only active plugins with capabilities can match. */
export const collectMentionedPlugins = (
  input: ReadonlyArray<MentionInput>,
  summaries: ReadonlyArray<CapabilitySummary>
): { readonly mentioned: ReadonlyArray<CapabilitySummary>; readonly unresolved: ReadonlyArray<string> } => {
  const names = new Set<string>()
  for (const item of input) {
    const paths = item.type === "mention" ? [item.path] : linkedMentionPaths(item.text)
    for (const path of paths) {
      const name = pluginConfigNameFromPath(path)
      if (name !== undefined) names.add(name)
    }
  }
  const mentioned = summaries.filter((s) => names.has(s.configName))
  const known = new Set(mentioned.map((s) => s.configName))
  return { mentioned, unresolved: [...names].filter((n) => !known.has(n)) }
}

const ticks = (items: ReadonlyArray<string>): string => items.map((x) => `\`${x}\``).join(", ")

/** render.rs `render_explicit_plugin_instructions` (0.116.0): null when there is nothing to say. */
export const renderExplicitPluginInstructions = (
  plugin: CapabilitySummary,
  availableMcpServers: ReadonlyArray<string>,
  availableApps: ReadonlyArray<string>
): string | null => {
  const lines = [`Capabilities from the \`${plugin.displayName}\` plugin:`]
  if (plugin.hasSkills) lines.push(`- Skills from this plugin are prefixed with \`${plugin.displayName}:\`.`)
  if (availableMcpServers.length > 0) lines.push(`- MCP servers from this plugin available in this session: ${ticks(availableMcpServers)}.`)
  if (availableApps.length > 0) lines.push(`- Apps from this plugin available in this session: ${ticks(availableApps)}.`)
  if (lines.length === 1) return null
  lines.push("Use these plugin-associated capabilities to help solve the task.")
  return lines.join("\n")
}

export interface MentionGuidance {
  readonly pluginId: string
  readonly displayName: string
  readonly mcpServers: ReadonlyArray<string>
  readonly apps: ReadonlyArray<string>
  /** the developer message to inject; null when the plugin has nothing to point at */
  readonly instructions: string | null
}

const sortedUnique = (items: Iterable<string>): ReadonlyArray<string> => [...new Set(items)].sort(compareUtf8)

/**
 * injection.rs `build_plugin_injections`: per mentioned plugin, the effective MCP servers and apps attributed to a
 * plugin of the same display name (codex matches provenance by display name). App labels are the connector ids:
 * plugin-ledger has no connector directory, and codex's label falls back to the id then.
 */
export const mentionGuidance = (capabilities: Capabilities, mentioned: ReadonlyArray<CapabilitySummary>): ReadonlyArray<MentionGuidance> => {
  const displayNameOf = new Map(capabilities.plugins.map((p) => [p.pluginId, p.displayName] as const))
  const named = (ids: ReadonlyArray<string>, displayName: string) => ids.some((id) => displayNameOf.get(id) === displayName)
  return mentioned.map((plugin) => {
    const mcpServers = sortedUnique(capabilities.mcpServers.filter((s) => named(s.declaredBy, plugin.displayName)).map((s) => s.name))
    const apps = sortedUnique(capabilities.apps.filter((a) => named(a.pluginIds, plugin.displayName)).map((a) => a.id))
    return {
      pluginId: plugin.configName,
      displayName: plugin.displayName,
      mcpServers,
      apps,
      instructions: renderExplicitPluginInstructions(plugin, mcpServers, apps)
    }
  })
}
