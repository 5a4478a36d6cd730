/** The difference between two capability answers, as `plugin/capabilitiesChanged` reports it. Pure. */
import type { Capabilities } from "./Capabilities.ts"

export interface Delta {
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
}

export interface CapabilityDiff {
  readonly plugins: Delta
  readonly skills: Delta
  readonly mcpServers: Delta & { readonly changed: ReadonlyArray<string> }
  readonly apps: Delta
  readonly excluded: Delta
  readonly instructionsChanged: boolean
}

const delta = (before: ReadonlyArray<string>, after: ReadonlyArray<string>): Delta => {
  const was = new Set(before)
  const now = new Set(after)
  return { added: after.filter((x) => !was.has(x)), removed: before.filter((x) => !now.has(x)) }
}

const empty = (d: Delta) => d.added.length === 0 && d.removed.length === 0

/** null when nothing an agent can use changed */
export const diffCapabilities = (before: Capabilities, after: Capabilities): CapabilityDiff | null => {
  const servers = new Map(before.mcpServers.map((s) => [s.name, JSON.stringify([s.pluginId, s.config])] as const))
  const diff: CapabilityDiff = {
    plugins: delta(before.plugins.map((p) => p.pluginId), after.plugins.map((p) => p.pluginId)),
    skills: delta(before.skills.map((s) => s.name), after.skills.map((s) => s.name)),
    mcpServers: {
      ...delta(before.mcpServers.map((s) => s.name), after.mcpServers.map((s) => s.name)),
      changed: after.mcpServers.filter((s) => {
        const was = servers.get(s.name)
        return was !== undefined && was !== JSON.stringify([s.pluginId, s.config])
      }).map((s) => s.name)
    },
    apps: delta(before.apps.map((a) => a.id), after.apps.map((a) => a.id)),
    excluded: delta(before.excluded.map((e) => `${e.pluginId} ${e.reason}`), after.excluded.map((e) => `${e.pluginId} ${e.reason}`)),
    instructionsChanged: before.instructions !== after.instructions
  }
  const same = empty(diff.plugins) && empty(diff.skills) && empty(diff.mcpServers) && diff.mcpServers.changed.length === 0 &&
    empty(diff.apps) && empty(diff.excluded) && !diff.instructionsChanged &&
    JSON.stringify(before.skills) === JSON.stringify(after.skills)
  return same ? null : diff
}
