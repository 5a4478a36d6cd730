/** The human CLI commands: each one is a thin call into the Engine plus a table or JSON rendering. */
import { Effect } from "effect"
import * as Path from "node:path"
import type { HistoryEntryView, HistoryQuery, LedgerVerifyView, PluginListView, PluginWhyView } from "../domain/PluginViews.ts"
import { describeCause, describeEntry } from "../services/Audit.ts"
import { Engine, internalError, invalidRequest, type Origin } from "../services/EngineApi.ts"
import { ProblemsFound, UsageError } from "./CliErrors.ts"
import { makeProgress } from "./Progress.ts"
import { renderTable, yesNo } from "./Table.ts"


export interface CommandOptions {
  readonly cwds: ReadonlyArray<string>
  readonly marketplace: string | undefined
  readonly limit: string | undefined
  /** history: a seq (events after it) or an ISO-8601 time (events at or after it) */
  readonly since: string | undefined
  readonly until: string | undefined
  readonly actor: string | undefined
  readonly repair: boolean
  readonly requestId: string | undefined
  readonly json: boolean
  readonly remote: boolean
  readonly curated: boolean
  readonly repo: string | undefined
  /** rollback: the seq whose content to restore */
  readonly to?: string | undefined
}

const json = (value: unknown): string => JSON.stringify(value, null, 2)

const renderList = (view: PluginListView): string => {
  const rows = view.marketplaces.flatMap((m) =>
    m.plugins.map((p) => [p.id, yesNo(p.installed), yesNo(p.enabled), p.installPolicy, p.authPolicy, m.path])
  )
  const lines = rows.length === 0
    ? ["no marketplaces found"]
    : [renderTable(["PLUGIN", "INSTALLED", "ENABLED", "INSTALL POLICY", "AUTH POLICY", "MARKETPLACE"], rows)]
  for (const error of view.marketplaceLoadErrors ?? []) lines.push(`skipped ${error.marketplacePath}: ${error.message}`)
  if (view.remoteSyncError !== null) lines.push(`remote sync failed: ${view.remoteSyncError}`)
  return lines.join("\n")
}

/** Seconds are enough for people; the JSON keeps the full timestamp. */
const shortTime = (at: string): string => at.replace(/\.\d+Z$/, "Z")

/** The timeline: one row per event, what it did and who caused it. */
const renderHistory = (entries: ReadonlyArray<HistoryEntryView>): string =>
  entries.length === 0
    ? "no events"
    : renderTable(
      ["SEQ", "TIME", "PLUGIN", "WHAT", "BY"],
      entries.map((e) => [String(e.seq), shortTime(e.at), e.pluginId ?? "", describeEntry(e), describeCause(e.cause)])
    )

const renderWhy = (view: PluginWhyView): string => {
  const { state } = view
  const summary = !state.known
    ? "unknown to the ledger"
    : `${state.installed ? "installed" : "not installed"}, ${state.enabled ? "enabled" : "disabled"}` +
      (state.version === null ? "" : ` (version ${state.version})`)
  return [
    `${view.pluginId}: ${summary}`,
    ...(view.because.length === 0 ? [] : ["because:", ...view.because.map((line) => `  - ${line}`)]),
    ...(view.events.length === 0 ? [] : ["", "events since its last install:", renderHistory(view.events)])
  ].join("\n")
}

const renderVerify = (view: LedgerVerifyView): string => {
  const lines = [
    view.log.ok
      ? `log: ok (${view.log.records} records, hash chain verified)`
      : `log: ${view.log.problems.length} problem(s)\n${view.log.problems.map((p) => `  - ${p}`).join("\n")}`
  ]
  if (view.plugins.length === 0) lines.push("cache: no installed plugins")
  for (const plugin of view.plugins) {
    const head = `cache ${plugin.pluginId} (${plugin.version})`
    if (plugin.error !== null) lines.push(`${head}: ${plugin.error}`)
    else if (plugin.problems.length === 0) lines.push(`${head}: ok`)
    else {
      lines.push(`${head}: ${plugin.problems.length} path(s) differ${plugin.repairedSeq === null ? "" : `; restored (seq ${plugin.repairedSeq})`}`)
      for (const problem of plugin.problems) lines.push(`  - ${problem.kind} ${problem.path}`)
    }
  }
  if (view.configUnreadable !== null) lines.push(`config.toml: unreadable (left as it is): ${view.configUnreadable.split("\n")[0] ?? ""}`)
  else if (view.configDifferences.length === 0) lines.push("config.toml: agrees with the log")
  else lines.push(`config.toml: ${view.configDifferences.length} hand edit(s) not adopted yet: ${view.configDifferences.map((d) => d.pluginId).join(", ")}`)
  lines.push(view.ok ? "ok" : "problems found (run with --repair to restore cache trees)")
  return lines.join("\n")
}

/** `--marketplace` may name the marketplace.json itself or the root holding `.agents/plugins/`. */
const marketplaceFile = (value: string): string => {
  const absolute = Path.resolve(value)
  return absolute.endsWith(".json") ? absolute : Path.join(absolute, ".agents", "plugins", "marketplace.json")
}

const requireArgument = (args: ReadonlyArray<string>, what: string) => {
  const [first, ...extra] = args
  if (first === undefined) return Effect.fail(new UsageError({ message: `missing argument: ${what}` }))
  if (extra.length > 0) return Effect.fail(new UsageError({ message: `unexpected argument: ${extra[0]}` }))
  return Effect.succeed(first)
}

export const runCommand = Effect.fn("runCommand")(function*(
  command: string,
  args: ReadonlyArray<string>,
  options: CommandOptions
) {
  const engine = yield* Engine
  const origin: Origin = {
    actor: "cli",
    client: "plugin-ledger-cli",
    ...(options.requestId === undefined ? {} : { idempotencyKey: options.requestId, requestId: options.requestId })
  }
  switch (command) {
    case "list": {
      if (args.length > 0) return yield* new UsageError({ message: `unexpected argument: ${args[0]}` })
      const view = yield* engine.list({ cwds: options.cwds.map((c) => Path.resolve(c)), forceRemoteSync: false })
      return options.json ? json(view) : renderList(view)
    }
    case "install": {
      const name = yield* requireArgument(args, "<plugin> (or <plugin>@<marketplace>)")
      const at = name.lastIndexOf("@")
      const pluginName = options.marketplace === undefined && at > 0 ? name.slice(0, at) : name
      const marketplacePath = options.marketplace !== undefined
        ? marketplaceFile(options.marketplace)
        : yield* findMarketplace(name, options)
      const result = yield* engine.install({ marketplacePath, pluginName }, origin)
      return options.json
        ? json(result)
        : `installed ${pluginName} from ${marketplacePath} (auth policy ${result.authPolicy})`
    }
    case "uninstall": {
      const pluginId = yield* requireArgument(args, "<plugin>@<marketplace>")
      const result = yield* engine.uninstall({ pluginId }, origin)
      return options.json ? json(result) : `uninstalled ${pluginId}`
    }
    case "enable":
    case "disable": {
      const pluginId = yield* requireArgument(args, "<plugin>@<marketplace>")
      const result = yield* engine.setEnabled({ pluginId, enabled: command === "enable" }, origin)
      if (options.json) return json(result)
      return result.changed ? `${command}d ${pluginId}` : `${pluginId} was already ${command}d`
    }
    case "history": {
      if (args.length > 1) return yield* new UsageError({ message: `unexpected argument: ${args[1]}` })
      const query = yield* historyQuery(args[0], options)
      const entries = yield* engine.history(query)
      return options.json ? json({ events: entries }) : renderHistory(entries)
    }
    case "why": {
      const pluginId = yield* requireArgument(args, "<plugin>@<marketplace>")
      const view = yield* engine.why({ pluginId })
      return options.json ? json(view) : renderWhy(view)
    }
    case "verify": {
      if (args.length > 0) return yield* new UsageError({ message: `unexpected argument: ${args[0]}` })
      const view = yield* engine.verify({ repair: options.repair }, origin)
      const output = options.json ? json(view) : renderVerify(view)
      // problems left (found without --repair, or not repairable) are exit code 4
      return view.ok ? output : yield* new ProblemsFound({ output })
    }
    case "sync":
      return yield* runSync(args, options, origin)
    case "rollback": {
      const pluginId = yield* requireArgument(args, "<plugin>@<marketplace>")
      const toSeq = options.to === undefined ? undefined : yield* wholeNumber("--to", options.to)
      const view = yield* engine.rollback({ pluginId, ...(toSeq === undefined ? {} : { toSeq }) }, origin)
      if (options.json) return json(view)
      return view.changed
        ? `rolled back ${pluginId} to the content of seq ${view.restoredFromSeq} (version ${view.version}, tree ${view.treeHash?.slice(0, 12)}; seq ${view.seq})`
        : `${pluginId} already has that content`
    }
    default:
      return yield* new UsageError({ message: `unknown command \`${command}\` (see plugin-ledger --help)` })
  }
})

/**
 * `sync --curated` (the mirror, then its refresh and the INSTALLED_BY_DEFAULT policy) and/or `sync --remote` (the
 * remote curated sync); both when neither flag is given. A failed remote sync is recorded, printed, and exit code 3.
 */
const runSync = (args: ReadonlyArray<string>, options: CommandOptions, origin: Origin) =>
  Effect.gen(function*() {
    if (args.length > 0) return yield* new UsageError({ message: `unexpected argument: ${args[0]}` })
    const engine = yield* Engine
    const both = !options.remote && !options.curated
    const out: Record<string, unknown> = {}
    const lines: Array<string> = []
    if (options.curated || both) {
      const progress = makeProgress()
      const view = yield* engine.syncCurated({ repository: options.repo, onProgress: progress.update }, origin).pipe(
        Effect.ensuring(Effect.sync(progress.done))
      )
      out["curated"] = view
      if (view.skipped !== null) lines.push(`curated mirror: skipped (${view.skipped})`)
      else {
        lines.push(view.updated ? `curated mirror: ${view.sha}${view.previousSha === null ? "" : ` (was ${view.previousSha})`}` : `curated mirror: up to date at ${view.sha}`)
        if (view.refreshed.length > 0) lines.push(`  reinstalled at the mirror sha: ${view.refreshed.join(", ")}`)
        if (view.installedByDefault.length > 0) lines.push(`  installed by default: ${view.installedByDefault.join(", ")}`)
      }
    }
    if (options.remote || both) {
      const view = yield* engine.syncRemote(origin)
      out["remote"] = view
      if (view.error !== null) {
        const text = options.json ? json(out) : [...lines, `remote sync ${view.syncId} failed (recorded at seq ${view.seq ?? "?"}): ${view.error}`].join("\n")
        return yield* internalError(text)
      }
      const d = view.decisions
      const parts = ([["installed", d.installed], ["enabled", d.enabled], ["uninstalled", d.uninstalled]] as const)
        .filter(([, ids]) => ids.length > 0).map(([what, ids]) => `${what} ${ids.join(", ")}`)
      lines.push(`remote sync ${view.syncId} (seq ${view.seq ?? "?"}): ${parts.length === 0 ? "nothing to change" : parts.join("; ")}`)
    }
    return options.json ? json(out) : lines.join("\n")
  })

/** `install x@market` without --marketplace: find the marketplace by name among the discovered ones. */
const findMarketplace = (name: string, options: CommandOptions) =>
  Effect.gen(function*() {
    const at = name.lastIndexOf("@")
    if (at <= 0) {
      return yield* new UsageError({
        message: "install needs --marketplace <path> or an id of the form <plugin>@<marketplace>"
      })
    }
    const engine = yield* Engine
    const marketplaceName = name.slice(at + 1)
    const view = yield* engine.list({ cwds: options.cwds.map((c) => Path.resolve(c)), forceRemoteSync: false })
    const found = view.marketplaces.find((m) => m.name === marketplaceName)
    if (found === undefined) {
      return yield* invalidRequest(`marketplace \`${marketplaceName}\` was not found from ${options.cwds.join(", ")}`)
    }
    return found.path
  })

const wholeNumber = (flag: string, value: string) => {
  const n = Number(value)
  return /^\d+$/.test(value) && Number.isSafeInteger(n)
    ? Effect.succeed(n)
    : Effect.fail(new UsageError({ message: `${flag} takes a whole number, got ${value}` }))
}

const isoTime = (flag: string, value: string) =>
  Number.isNaN(Date.parse(value))
    ? Effect.fail(new UsageError({ message: `${flag} takes a seq or an ISO-8601 time, got ${value}` }))
    : Effect.succeed(value)

/** `history [<id>] [--since <seq|time>] [--until <time>] [--actor <a>] [--limit <n>]` as a query. */
const historyQuery = (pluginId: string | undefined, options: CommandOptions) =>
  Effect.gen(function*() {
    const since = options.since
    const query: { -readonly [K in keyof HistoryQuery]: HistoryQuery[K] } = {}
    if (pluginId !== undefined) query.pluginId = pluginId
    if (options.limit !== undefined) query.limit = yield* wholeNumber("--limit", options.limit)
    if (since !== undefined) {
      if (/^\d+$/.test(since)) query.afterSeq = yield* wholeNumber("--since", since)
      else query.since = yield* isoTime("--since", since)
    }
    if (options.until !== undefined) query.until = yield* isoTime("--until", options.until)
    if (options.actor !== undefined) query.actor = options.actor
    return query
  })
