/** The human CLI commands: each one is a thin call into the Engine plus a table or JSON rendering. */
import { Effect, Schema } from "effect"
import * as Path from "node:path"
import type { HistoryEntryView, PluginListView } from "../domain/PluginViews.ts"
import { Engine, invalidRequest, type Origin } from "../services/EngineApi.ts"
import { renderTable, yesNo } from "./Table.ts"

export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

export interface CommandOptions {
  readonly cwds: ReadonlyArray<string>
  readonly marketplace: string | undefined
  readonly limit: string | undefined
  readonly requestId: string | undefined
  readonly json: boolean
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

const describeCause = (entry: HistoryEntryView): string => {
  if (entry.cause === null) return ""
  const parts: Array<string> = [entry.cause.actor]
  if (entry.cause.client !== undefined) parts.push(`client=${entry.cause.client}`)
  if (entry.cause.requestId !== undefined) parts.push(`request=${entry.cause.requestId}`)
  if (entry.cause.syncId !== undefined) parts.push(`sync=${entry.cause.syncId}`)
  return parts.join(" ")
}

const renderHistory = (entries: ReadonlyArray<HistoryEntryView>): string =>
  entries.length === 0
    ? "no events"
    : renderTable(
      ["SEQ", "TIME", "EVENT", "PLUGIN", "CAUSE"],
      entries.map((e) => [String(e.seq), e.at, e.type, e.pluginId ?? "", describeCause(e)])
    )

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
      const limit = options.limit === undefined ? undefined : Number(options.limit)
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
        return yield* new UsageError({ message: `--limit takes a whole number, got ${options.limit}` })
      }
      const entries = yield* engine.history({
        ...(args[0] === undefined ? {} : { pluginId: args[0] }),
        ...(limit === undefined ? {} : { limit })
      })
      return options.json ? json({ events: entries }) : renderHistory(entries)
    }
    default:
      return yield* new UsageError({ message: `unknown command \`${command}\` (see plugin-ledger --help)` })
  }
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
