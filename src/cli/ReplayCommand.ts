/**
 * `plugin-ledger replay [--until <seq|time>] [--into <dir>] [--base <config.toml>] [--json]`. Runs without the
 * Engine: opening the live ledger would take its lock and catch its projections up, and a replay must not write
 * to the live CODEX_HOME.
 */
import { Effect, Result } from "effect"
import { EngineError } from "../services/EngineApi.ts"
import type { LedgerPaths } from "../services/LedgerConfig.ts"
import { parseUntil, replayLedger, type ReplayView } from "../services/Replay.ts"
import { UsageError } from "./Commands.ts"
import { renderTable, yesNo } from "./Table.ts"

export interface ReplayCommandOptions {
  readonly until: string | undefined
  readonly into: string | undefined
  readonly base: string | undefined
  readonly json: boolean
}

export const renderReplay = (view: ReplayView): string =>
  [
    `replayed seq 1-${view.seq} of ${view.headSeq} (last event at ${view.at}) into ${view.into}`,
    `config.toml: ${view.configHash === null ? "none" : `sha256 ${view.configHash}`}`,
    view.plugins.length === 0
      ? "no plugins"
      : renderTable(
        ["PLUGIN", "INSTALLED", "ENABLED", "VERSION", "TREE"],
        view.plugins.map((p) => [p.pluginId, yesNo(p.installed), yesNo(p.enabled), p.version ?? "", p.treeHash?.slice(0, 12) ?? ""])
      )
  ].join("\n")

export const runReplay = (paths: LedgerPaths, args: ReadonlyArray<string>, options: ReplayCommandOptions) =>
  Effect.gen(function*() {
    if (args.length > 0) return yield* new UsageError({ message: `unexpected argument: ${args[0]}` })
    const until = options.until === undefined ? undefined : parseUntil(options.until)
    if (until !== undefined && Result.isFailure(until)) return yield* new UsageError({ message: `--until: ${until.failure}` })
    const view = yield* replayLedger(paths, {
      ...(until === undefined ? {} : { until: until.success }),
      ...(options.into === undefined ? {} : { into: options.into }),
      ...(options.base === undefined ? {} : { base: options.base })
    }).pipe(Effect.mapError((e) => new EngineError({ kind: e.kind, message: e.message })))
    return options.json ? JSON.stringify(view, null, 2) : renderReplay(view)
  })
