/** `plugin-ledger process <sub> ...`: the process-plugin host from the command line (calls run in this process). */
import * as NodeFs from "node:fs"
import { Effect } from "effect"
import type { Origin } from "../services/EngineApi.ts"
import { ProcessHost, type ProcessPluginView } from "../services/ProcessHost.ts"
import { UsageError } from "./Commands.ts"
import { renderTable, yesNo } from "./Table.ts"

export interface ProcessCommandOptions {
  readonly args: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
  readonly workdir: string | undefined
  readonly adminConfig: string | undefined
  readonly userConfig: string | undefined
  readonly user: string | undefined
  readonly timeout: string | undefined
  readonly params: string | undefined
  readonly credential: ReadonlyArray<string>
  readonly credentialsFile: string | undefined
  readonly requestId: string | undefined
  readonly json: boolean
}

const usage = (message: string) => new UsageError({ message })

const jsonObject = (flag: string, text: string) =>
  Effect.try({ try: (): unknown => JSON.parse(text), catch: () => usage(`${flag} takes JSON, got ${text}`) }).pipe(
    Effect.flatMap((value) =>
      typeof value === "object" && value !== null && !Array.isArray(value)
        ? Effect.succeed(Object.fromEntries(Object.entries(value)))
        : Effect.fail(usage(`${flag} takes a JSON object`))
    )
  )

const pairs = (flag: string, items: ReadonlyArray<string>) =>
  Effect.forEach(items, (item) => {
    const eq = item.indexOf("=")
    return eq <= 0 ? Effect.fail(usage(`${flag} takes KEY=VALUE, got ${item}`)) : Effect.succeed([item.slice(0, eq), item.slice(eq + 1)] as const)
  }).pipe(Effect.map((entries) => Object.fromEntries(entries)))

const seconds = (text: string) => {
  const n = Number(text)
  return Number.isFinite(n) && n > 0 ? Effect.succeed(n) : Effect.fail(usage(`--timeout takes a number of seconds, got ${text}`))
}

const renderList = (plugins: ReadonlyArray<ProcessPluginView>): string =>
  plugins.length === 0
    ? "no process plugins"
    : renderTable(
      ["NAME", "ENABLED", "COMMAND", "VERSION", "FAILURES (1H)", "NOTE"],
      plugins.map((p) => [p.name, yesNo(p.enabled), [p.command, ...p.args].join(" "), p.manifest?.version ?? "", String(p.recentFailures), p.disabledReason ?? ""])
    )

export const runProcessCommand = Effect.fn("runProcessCommand")(function*(args: ReadonlyArray<string>, options: ProcessCommandOptions) {
  const host = yield* ProcessHost
  const origin: Origin = {
    actor: "cli",
    client: "plugin-ledger-cli",
    ...(options.requestId === undefined ? {} : { idempotencyKey: options.requestId, requestId: options.requestId })
  }
  const [sub, name, ...rest] = args
  const out = (value: unknown, text: string) => (options.json ? JSON.stringify(value, null, 2) : text)
  const needName = name === undefined ? Effect.fail(usage(`process ${sub ?? ""} needs a plugin name`)) : Effect.succeed(name)
  const noMore = (extra: ReadonlyArray<string>) => (extra.length > 0 ? Effect.fail(usage(`unexpected argument: ${extra[0]}`)) : Effect.void)
  switch (sub) {
    case "add": {
      const n = yield* needName
      const [command, ...commandArgs] = rest
      if (command === undefined) return yield* usage("process add needs <name> <command> [args...]")
      const env = yield* pairs("--env", options.env)
      const view = yield* host.add({
        name: n,
        command,
        args: [...commandArgs, ...options.args],
        env,
        cwd: options.workdir ?? null,
        ...(options.timeout === undefined ? {} : { timeoutSeconds: yield* seconds(options.timeout) })
      }, origin)
      return out(view, `registered process plugin ${n} (seq ${view.seq})`)
    }
    case "configure": {
      const n = yield* needName
      yield* noMore(rest)
      if (options.userConfig !== undefined && options.user === undefined) return yield* usage("--user-config needs --user <id>")
      const view = yield* host.configure({
        name: n,
        ...(options.adminConfig === undefined ? {} : { adminConfig: yield* jsonObject("--admin-config", options.adminConfig) }),
        ...(options.userConfig === undefined || options.user === undefined
          ? {}
          : { userConfig: { userId: options.user, config: yield* jsonObject("--user-config", options.userConfig) } }),
        ...(options.timeout === undefined ? {} : { timeoutSeconds: yield* seconds(options.timeout) })
      }, origin)
      return out(view, `configured ${n} (seq ${view.seq})`)
    }
    case "credentials": {
      const n = yield* needName
      yield* noMore(rest)
      const fromFile = options.credentialsFile === undefined
        ? {}
        : yield* Effect.try({ try: () => NodeFs.readFileSync(options.credentialsFile ?? "", "utf8"), catch: (e) => usage(`cannot read --credentials-file: ${String(e)}`) }).pipe(
          Effect.flatMap((text) => jsonObject("--credentials-file", text))
        )
      const credentials = { ...fromFile, ...(yield* pairs("--credential", options.credential)) }
      if (Object.keys(credentials).length === 0) return yield* usage("process credentials needs --credential KEY=VALUE or --credentials-file <file>")
      const view = yield* host.setCredentials({ name: n, credentials }, origin)
      return out(view, `credentials of ${n} sealed (keys ${Object.keys(credentials).sort().join(", ")}; seq ${view.seq})`)
    }
    case "enable":
    case "disable": {
      const n = yield* needName
      yield* noMore(rest)
      const view = yield* host.setEnabled({ name: n, enabled: sub === "enable" }, origin)
      return out(view, view.changed ? `${sub}d ${n}` : `${n} was already ${sub}d`)
    }
    case "remove": {
      const n = yield* needName
      yield* noMore(rest)
      const view = yield* host.remove({ name: n }, origin)
      return out(view, `removed ${n}`)
    }
    case "list": {
      if (name !== undefined) return yield* usage(`unexpected argument: ${name}`)
      const plugins = yield* host.list
      return out({ plugins }, renderList(plugins))
    }
    case "status": {
      const n = yield* needName
      yield* noMore(rest)
      const view = yield* host.status({ name: n })
      return out(view, [renderList([view]), `capabilities: ${JSON.stringify(view.manifest?.capabilities ?? null)}`].join("\n"))
    }
    case "call": {
      const n = yield* needName
      const [method, ...extra] = rest
      if (method === undefined) return yield* usage("process call needs <name> <method>")
      yield* noMore(extra)
      const params = options.params === undefined ? {} : yield* Effect.try({ try: (): unknown => JSON.parse(options.params ?? ""), catch: () => usage("--params takes JSON") })
      const result = yield* host.call({ name: n, method, params, ...(options.user === undefined ? {} : { userId: options.user }) })
      return JSON.stringify(result, null, 2)
    }
    default:
      return yield* usage(`unknown process subcommand \`${sub ?? ""}\` (add, configure, credentials, enable, disable, remove, list, status, call)`)
  }
})
