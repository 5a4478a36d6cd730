/**
 * Every command but `serve`, which Cli.ts runs itself: this module (and with it every other command's code) is
 * imported only when one of them runs, so that `serve`, whose first request waits for Cli.ts, loads less.
 */
import { Effect, type Layer } from "effect"
import type { parseArgs } from "node:util"
import type { LedgerPaths } from "../services/LedgerPaths.ts"
import { appLayer } from "./AppLayer.ts"
import { runCapabilities } from "./CapabilitiesCommand.ts"
import { UsageError } from "./CliErrors.ts"
import type { cliOptions } from "./CliOptions.ts"
import { runCommand } from "./Commands.ts"
import { runDaemon } from "./Daemon.ts"
import { daemonLayer } from "./DaemonLayer.ts"
import { runDemo } from "./Demo.ts"
import { runProcessCommand } from "./ProcessCommand.ts"
import { processLayer } from "./ProcessLayer.ts"
import { runProxy } from "./Proxy.ts"
import { runReplay } from "./ReplayCommand.ts"
import { usage } from "./Usage.ts"

type Values = ReturnType<typeof parseArgs<{ options: typeof cliOptions; allowPositionals: true }>>["values"]

/** `--help`, `help` or no command at all. */
export const printUsage = (): number => {
  process.stdout.write(usage)
  return 0
}

const socketCommands: ReadonlySet<string> = new Set(["daemon", "proxy"])

/** Runs `command` (a known one, not `serve`) with its arguments `rest`; the exit code. */
export const dispatch = (
  command: string,
  rest: ReadonlyArray<string>,
  values: Values,
  paths: LedgerPaths,
  logging: Layer.Layer<never, UsageError>
) => Effect.gen(function*() {
  if (socketCommands.has(command)) {
    const socket = values.socket
    if (socket === undefined) return yield* new UsageError({ message: `${command} needs --socket <path>` })
    if (rest.length > 0) return yield* new UsageError({ message: `unexpected argument: ${rest[0]}` })
    // the daemon's own scope (its connections, each draining its requests in flight) closes before the services'
    const run = command === "daemon" ? runDaemon(socket).pipe(Effect.scoped, Effect.provide(daemonLayer(paths))) : runProxy(socket)
    yield* run.pipe(Effect.provide(logging))
    return 0
  }
  if (command === "replay") {
    const { until, into, base, json } = values
    const verifyDecisions = values["verify-decisions"]
    const output = yield* runReplay(paths, rest, { until, into, base, json, verifyDecisions }).pipe(Effect.provide(logging))
    process.stdout.write(`${output}\n`)
    return 0
  }
  if (command === "process") {
    const v = values
    const output = yield* runProcessCommand(rest, {
      args: v.arg ?? [],
      env: v.env ?? [],
      workdir: v.workdir,
      adminConfig: v["admin-config"],
      userConfig: v["user-config"],
      user: v.user,
      timeout: v.timeout,
      rateLimit: v["rate-limit"],
      params: v.params,
      credential: v.credential ?? [],
      credentialsFile: v["credentials-file"],
      requestId: v["request-id"],
      json: v.json
    }).pipe(Effect.provide(processLayer(paths)), Effect.provide(logging))
    process.stdout.write(`${output}\n`)
    return 0
  }
  if (command === "capabilities") {
    const output = yield* runCapabilities(paths, rest, { at: values.at, json: values.json }).pipe(Effect.provide(logging))
    process.stdout.write(`${output}\n`)
    return 0
  }
  if (command === "demo") {
    yield* runDemo({ json: values.json })
    return 0
  }
  const output = yield* runCommand(command, rest, {
    cwds: values.cwd ?? [process.cwd()],
    marketplace: values.marketplace,
    limit: values.limit,
    since: values.since,
    until: values.until,
    actor: values.actor,
    repair: values.repair,
    requestId: values["request-id"],
    json: values.json,
    remote: values.remote,
    curated: values.curated,
    repo: values.repo,
    to: values.to
  }).pipe(Effect.provide(appLayer(paths)), Effect.provide(logging))
  process.stdout.write(output.endsWith("\n") ? output : `${output}\n`)
  return 0
})
