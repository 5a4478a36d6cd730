/**
 * `plugin-ledger replay [--until <seq|time>] [--into <dir>] [--base <config.toml>] [--json]`. Runs without the
 * Engine: opening the live ledger would take its lock and catch its projections up, and a replay must not write
 * to the live CODEX_HOME.
 */
import { Effect, Result } from "effect"
import { EngineError } from "../services/EngineApi.ts"
import type { LedgerPaths } from "../services/LedgerPaths.ts"
import type { DecisionCheck } from "../services/DecisionCheck.ts"
import { parseUntil, replayLedger, type ReplayView } from "../services/Replay.ts"
import { ProblemsFound, UsageError } from "./CliErrors.ts"
import { renderTable, yesNo } from "./Table.ts"

export interface ReplayCommandOptions {
  readonly until: string | undefined
  readonly into: string | undefined
  readonly base: string | undefined
  readonly verifyDecisions: boolean
  readonly json: boolean
}

const renderDecisions = (checks: ReadonlyArray<DecisionCheck>): ReadonlyArray<string> => {
  const count = (verdict: DecisionCheck["verdict"]) => checks.filter((c) => c.verdict === verdict).length
  return [
    `remote syncs decided again from their recorded input: ${count("same")} same, ${count("different")} different, ` +
    `${count("not-recomputable")} not recomputable`,
    ...checks.filter((c) => c.verdict !== "same").map((c) =>
      c.verdict === "different"
        ? `  seq ${c.seq} (sync ${c.syncId}) differs:\n    recorded:   ${JSON.stringify(c.recorded)}\n    recomputed: ${JSON.stringify(c.recomputed)}`
        : `  seq ${c.seq} (sync ${c.syncId}): not recomputable: ${c.reason ?? ""}`
    )
  ]
}

export const renderReplay = (view: ReplayView): string =>
  [
    ...(view.decisions === undefined ? [] : renderDecisions(view.decisions)),
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
      ...(options.base === undefined ? {} : { base: options.base }),
      verifyDecisions: options.verifyDecisions
    }).pipe(Effect.mapError((e) => new EngineError({ kind: e.kind, message: e.message })))
    const output = options.json ? JSON.stringify(view, null, 2) : renderReplay(view)
    // a recorded decision today's code would not make again: the report, and exit code 4
    return view.decisions?.some((c) => c.verdict === "different") === true ? yield* new ProblemsFound({ output }) : output
  })
