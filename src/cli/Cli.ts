/**
 * The `plugin-ledger` command, loaded by `main.ts`. Logs go to stderr; in `serve` mode stdout carries protocol only.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer, Logger } from "effect"
import { parseArgs } from "node:util"
import { ProcessCallError } from "../domain/ProcessProtocol.ts"
import { EngineError } from "../services/EngineApi.ts"
import { pathsFromEnv } from "../services/LedgerPaths.ts"
import { StartupGate } from "../services/StartupGate.ts"
import { appLayer } from "./AppLayer.ts"
import { cliOptions } from "./CliOptions.ts"
import { runCapabilities } from "./CapabilitiesCommand.ts"
import { ProblemsFound, runCommand, UsageError } from "./Commands.ts"
import { runDaemon } from "./Daemon.ts"
import { daemonLayer } from "./DaemonLayer.ts"
import type { EarlyStart } from "./EarlyInitialize.ts"
import { runDemo } from "./Demo.ts"
import { loggingLayer } from "./Logging.ts"
import { runProcessCommand } from "./ProcessCommand.ts"
import { processLayer } from "./ProcessLayer.ts"
import { runProxy } from "./Proxy.ts"
import { runReplay } from "./ReplayCommand.ts"
import { serveStdio } from "./Serve.ts"
import { usage } from "./Usage.ts"

const rejectedCallKinds: ReadonlySet<string> = new Set(["Unavailable", "NotFound", "RateLimited", "AuthFailed", "ConfigError"])

const exitCodeOf = (cause: Cause.Cause<unknown>): number => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") {
    if (error.value instanceof UsageError) return 2
    if (error.value instanceof ProblemsFound) return 4
    if (error.value instanceof EngineError) return error.value.kind === "InvalidRequest" ? 1 : 3
    // the host or the plugin refused the request (exit 1); a crash, a timeout or a bad answer is an internal error
    if (error.value instanceof ProcessCallError) return rejectedCallKinds.has(error.value.kind) ? 1 : 3
  }
  return 3
}

const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some" && error.value instanceof Error) return error.value.message
  return Cause.pretty(cause)
}

const knownCommands: ReadonlySet<string> = new Set([
  "list",
  "install",
  "uninstall",
  "enable",
  "disable",
  "history",
  "why",
  "verify",
  "sync",
  "rollback",
  "replay",
  "process",
  "capabilities",
  "serve",
  "demo"
])
const socketCommands: ReadonlySet<string> = new Set(["daemon", "proxy"])

const main = (argv: ReadonlyArray<string>, early: EarlyStart | undefined) => Effect.gen(function*() {
  const parsed = yield* Effect.try({
    try: () => parseArgs({ args: [...argv], allowPositionals: true, options: cliOptions }),
    catch: (cause) => new UsageError({ message: cause instanceof Error ? cause.message : String(cause) })
  })
  const [command, ...rest] = parsed.positionals
  if (parsed.values.help || command === undefined || command === "help") {
    process.stdout.write(usage)
    return 0
  }
  if (!knownCommands.has(command) && !socketCommands.has(command)) {
    // before anything is opened: a typo must not create a ledger
    return yield* new UsageError({ message: `unknown command \`${command}\` (see plugin-ledger --help)` })
  }
  const paths = pathsFromEnv(process.env, parsed.values["codex-home"])
  const logging = loggingLayer({ level: parsed.values["log-level"], file: parsed.values["log-file"] })
  if (command === "serve") {
    // what the first request does not need waits for its answer (StartupGate.ts)
    const layer = daemonLayer(paths).pipe(Layer.provideMerge(StartupGate.layer))
    yield* serveStdio(early).pipe(Effect.provide(layer), Effect.provide(logging))
    return 0
  }
  if (socketCommands.has(command)) {
    const socket = parsed.values.socket
    if (socket === undefined) return yield* new UsageError({ message: `${command} needs --socket <path>` })
    if (rest.length > 0) return yield* new UsageError({ message: `unexpected argument: ${rest[0]}` })
    const run = command === "daemon" ? runDaemon(socket).pipe(Effect.provide(daemonLayer(paths)), Effect.scoped) : runProxy(socket)
    yield* run.pipe(Effect.provide(logging))
    return 0
  }
  if (command === "replay") {
    const { until, into, base, json } = parsed.values
    const verifyDecisions = parsed.values["verify-decisions"]
    const output = yield* runReplay(paths, rest, { until, into, base, json, verifyDecisions }).pipe(Effect.provide(logging))
    process.stdout.write(`${output}\n`)
    return 0
  }
  if (command === "process") {
    const v = parsed.values
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
    const output = yield* runCapabilities(paths, rest, { at: parsed.values.at, json: parsed.values.json }).pipe(Effect.provide(logging))
    process.stdout.write(`${output}\n`)
    return 0
  }
  if (command === "demo") {
    yield* runDemo({ json: parsed.values.json })
    return 0
  }
  const output = yield* runCommand(command, rest, {
    cwds: parsed.values.cwd ?? [process.cwd()],
    marketplace: parsed.values.marketplace,
    limit: parsed.values.limit,
    since: parsed.values.since,
    until: parsed.values.until,
    actor: parsed.values.actor,
    repair: parsed.values.repair,
    requestId: parsed.values["request-id"],
    json: parsed.values.json,
    remote: parsed.values.remote,
    curated: parsed.values.curated,
    repo: parsed.values.repo,
    to: parsed.values.to
  }).pipe(Effect.provide(appLayer(paths)), Effect.provide(logging))
  process.stdout.write(output.endsWith("\n") ? output : `${output}\n`)
  return 0
})

/** Runs the command line `argv` (without node and the script); `early`: what `serve` did before this was loaded. */
export const runCli = (argv: ReadonlyArray<string>, early?: EarlyStart): void =>
  main(argv, early).pipe(
    Effect.exit,
    Effect.flatMap((exit) =>
      Effect.sync(() => {
        if (Exit.isSuccess(exit)) {
          process.exitCode = exit.value
          return
        }
        if (Cause.hasInterruptsOnly(exit.cause)) {
          process.exitCode ??= 130 // serve and daemon set 0 when they stopped cleanly
          return
        }
        const failure = Cause.findErrorOption(exit.cause)
        if (failure._tag === "Some" && failure.value instanceof ProblemsFound) {
          process.stdout.write(`${failure.value.output}\n`)
        } else {
          process.stderr.write(`plugin-ledger: ${describe(exit.cause)}\n`)
        }
        process.exitCode = exitCodeOf(exit.cause)
      })
    ),
    Effect.provide(Layer.succeed(Logger.LogToStderr, true)),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      // interrupted (SIGINT/SIGTERM): serve and daemon set 0 after a clean stop, anything else is 130
      teardown: (exit, onExit) =>
        onExit(Exit.isSuccess(exit) ? Number(process.exitCode ?? 0) : Cause.hasInterruptsOnly(exit.cause) ? Number(process.exitCode ?? 130) : 3)
    })
  )
