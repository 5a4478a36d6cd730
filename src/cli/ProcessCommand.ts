/** `plugin-ledger process <sub> ...`: the process-plugin host from the command line (calls run in this process). */
import * as NodeFs from "node:fs"
import { Effect } from "effect"
import { unavailable } from "../domain/ProcessProtocol.ts"
import type { Origin } from "../services/EngineApi.ts"
import { ProcessHost } from "../services/ProcessHost.ts"
import type { ProcessPluginView } from "../services/ProcessViews.ts"
import { UsageError } from "./CliErrors.ts"
import { renderTable, yesNo } from "./Table.ts"

export interface ProcessCommandOptions {
  readonly args: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
  readonly workdir: string | undefined
  readonly adminConfig: string | undefined
  readonly userConfig: string | undefined
  readonly user: string | undefined
  readonly timeout: string | undefined
  readonly rateLimit: string | undefined
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

/** `--timeout` of add/configure: 0 is the host's default; of call: this call's deadline, more than 0. */
const seconds = (text: string, zeroAllowed: boolean) => {
  const n = Number(text)
  return text.trim() !== "" && Number.isFinite(n) && (zeroAllowed ? n >= 0 : n > 0)
    ? Effect.succeed(n)
    : Effect.fail(usage(`--timeout takes a number of seconds${zeroAllowed ? " (0: the host's default)" : " above 0"}, got ${text}`))
}

const perMinute = (text: string) => {
  const n = Number(text)
  return text.trim() !== "" && Number.isInteger(n) && n >= 0
    ? Effect.succeed(n)
    : Effect.fail(usage(`--rate-limit takes a whole number of calls per minute (0: no limit), got ${text}`))
}

const renderList = (plugins: ReadonlyArray<ProcessPluginView>): string =>
  plugins.length === 0
    ? "no process plugins"
    : renderTable(
      ["NAME", "ENABLED", "COMMAND", "VERSION", "TIMEOUT", "RATE/MIN", "FAILURES (1H)", "NOTE"],
      plugins.map((p) => [
        p.name,
        yesNo(p.enabled),
        [p.command, ...p.args].join(" "),
        p.manifest?.version ?? "",
        `${p.timeoutSeconds} s`,
        p.rateLimitPerMinute === 0 ? "unlimited" : String(p.rateLimitPerMinute),
        String(p.recentFailures),
        p.disabledReason ?? (p.manifest?.requiresAuthentication === true && p.credentialKeys.length === 0 ? "needs credentials" : "")
      ])
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
        ...(options.timeout === undefined ? {} : { timeoutSeconds: yield* seconds(options.timeout, true) }),
        ...(options.rateLimit === undefined ? {} : { rateLimitPerMinute: yield* perMinute(options.rateLimit) })
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
        ...(options.timeout === undefined ? {} : { timeoutSeconds: yield* seconds(options.timeout, true) }),
        ...(options.rateLimit === undefined ? {} : { rateLimitPerMinute: yield* perMinute(options.rateLimit) })
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
    case "test": {
      const n = yield* needName
      yield* noMore(rest)
      const view = yield* host.test({ name: n })
      // a failed start or ping is a refusal (exit 1), its reason on stderr
      if (!view.ok) return yield* unavailable(`process test ${n} failed: ${view.error ?? "unknown error"}`)
      return out(view, `${n} answered initialize (${view.manifest?.name ?? ""} ${view.manifest?.version ?? ""}, protocol ${view.manifest?.protocolVersion ?? ""}) and ping (${view.pingMs} ms)\ncapabilities: ${JSON.stringify(view.manifest?.capabilities ?? null)}`)
    }
    case "call": {
      const n = yield* needName
      const [method, ...extra] = rest
      if (method === undefined) return yield* usage("process call needs <name> <method>")
      yield* noMore(extra)
      const params = options.params === undefined ? {} : yield* Effect.try({ try: (): unknown => JSON.parse(options.params ?? ""), catch: () => usage("--params takes JSON") })
      const result = yield* host.call({
        name: n,
        method,
        params,
        ...(options.user === undefined ? {} : { userId: options.user }),
        ...(options.timeout === undefined ? {} : { timeoutSeconds: yield* seconds(options.timeout, false) })
      })
      return JSON.stringify(result, null, 2)
    }
    default:
      return yield* usage(`unknown process subcommand \`${sub ?? ""}\` (add, configure, credentials, enable, disable, remove, list, status, test, call)`)
  }
})
