/**
 * `plugin-ledger capabilities [--at <seq|time>] [--json]`: what the enabled plugins give an agent. Reads the log
 * read-only (no lock, nothing projected), like `replay`, so it can run beside a daemon.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer, Result } from "effect"
import { attempt } from "../adapters/AtomicFile.ts"
import { describeError } from "../adapters/FsPort.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { LogNotFound, readLogReadOnly } from "../adapters/LogReader.ts"
import { PluginBundle } from "../adapters/PluginBundle.ts"
import { nodeTreeFs } from "../adapters/TreeFs.ts"
import { capabilitiesOf, type CapabilitiesView } from "../services/Capabilities.ts"
import { internalError, invalidRequest } from "../services/EngineApi.ts"
import type { LedgerPaths } from "../services/LedgerPaths.ts"
import { parseUntil, recordsUntil } from "../services/Replay.ts"
import { UsageError } from "./CliErrors.ts"
import { renderTable } from "./Table.ts"

export const renderCapabilities = (view: CapabilitiesView): string => {
  const lines = [`capabilities at seq ${view.seq}${view.at === null ? "" : ` (${view.at})`}` +
    (view.pluginsFeature ? "" : "; the plugins feature is off in config.toml")]
  lines.push(view.summaries.length === 0
    ? "no plugin contributes anything"
    : renderTable(["PLUGIN", "NAME", "SKILLS", "MCP SERVERS", "APPS"], view.summaries.map((s) => [
      s.configName, s.displayName, String(view.skills.filter((k) => k.pluginId === s.configName).length),
      s.mcpServerNames.join(", "), s.appConnectorIds.join(", ")
    ])))
  if (view.skills.length > 0) lines.push("", "skills:", ...view.skills.map((s) => `  ${s.name}: ${s.description}`))
  if (view.mcpServers.length > 0) lines.push("", "MCP servers:", ...view.mcpServers.map((s) => `  ${s.name} (${s.transport}, from ${s.pluginId})`))
  for (const s of view.shadowedMcpServers) lines.push(`  ${s.name} of ${s.pluginId}: defined in config.toml [mcp_servers], that one is used`)
  if (view.apps.length > 0) lines.push("", "apps:", ...view.apps.map((a) => `  ${a.id} (from ${a.pluginIds.join(", ")})`))
  if (view.excluded.length > 0) lines.push("", "left out:", ...view.excluded.map((e) => `  ${e.pluginId}: ${e.message}`))
  if (view.warnings.length > 0) lines.push("", "warnings:", ...view.warnings.map((w) => `  ${w.pluginId ?? "-"}: ${w.message}`))
  if (view.instructions !== null) lines.push("", view.instructions)
  return lines.join("\n")
}

export const runCapabilities = (paths: LedgerPaths, args: ReadonlyArray<string>, options: { readonly at: string | undefined; readonly json: boolean }) =>
  Effect.gen(function*() {
    if (args.length > 0) return yield* new UsageError({ message: `unexpected argument: ${args[0]}` })
    const at = options.at === undefined ? undefined : parseUntil(options.at)
    if (at !== undefined && Result.isFailure(at)) return yield* new UsageError({ message: `--at: ${at.failure}` })
    const reading = yield* attempt(() => readLogReadOnly(nodeTreeFs, paths.ledgerDir)).pipe(
      Effect.map((r) => ({ records: r.records, stopped: r.stoppedBecause })),
      // no ledger yet: the empty state (nothing installed through the ledger)
      Effect.catch((e) =>
        e instanceof LogNotFound
          ? Effect.succeed({ records: [], stopped: undefined })
          : Effect.fail(internalError(`cannot read the log: ${describeError(e)}`))
      )
    )
    let records = reading.records
    if (at !== undefined) {
      const selected = recordsUntil(reading.records, at.success, reading.stopped)
      if (Result.isFailure(selected)) return yield* invalidRequest(`cannot answer for --at ${options.at}: ${selected.failure}`)
      records = selected.success
    }
    const view = yield* capabilitiesOf(paths, records, at === undefined ? "cache" : "blobs").pipe(
      Effect.provide(Layer.mergeAll(LedgerFs.layer, PluginBundle.layer.pipe(Layer.provide(NodeServices.layer))))
    )
    return options.json ? JSON.stringify(view, null, 2) : renderCapabilities(view)
  })
