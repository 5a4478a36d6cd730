/**
 * The `plugin-ledger` command, loaded by `main.ts`. Logs go to stderr; in `serve` mode stdout carries protocol only.
 * Only `serve` is loaded with this module: every other command is imported when it runs (Dispatch.ts).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer, Logger } from "effect"
import { parseArgs } from "node:util"
import { ProcessCallError } from "../domain/ProcessProtocol.ts"
import { EngineError } from "../services/EngineApi.ts"
import { pathsFromEnv } from "../services/LedgerPaths.ts"
import { StartupGate } from "../services/StartupGate.ts"
import { ProblemsFound, UsageError } from "./CliErrors.ts"
import { cliOptions } from "./CliOptions.ts"
import { daemonLayer } from "./DaemonLayer.ts"
import type { EarlyStart } from "./EarlyInitialize.ts"
import { loggingLayer } from "./Logging.ts"
import { tuneJitForServe } from "./JitTuning.ts"
import { tuneHeapForLongRunning } from "./MemoryTuning.ts"
import { serveStdio } from "./Serve.ts"

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
    const { printUsage } = yield* Effect.promise(() => import("./Dispatch.ts"))
    return printUsage()
  }
  if (!knownCommands.has(command) && !socketCommands.has(command)) {
    // before anything is opened: a typo must not create a ledger
    return yield* new UsageError({ message: `unknown command \`${command}\` (see plugin-ledger --help)` })
  }
  const paths = pathsFromEnv(process.env, parsed.values["codex-home"])
  const logging = loggingLayer({ level: parsed.values["log-level"], file: parsed.values["log-file"] })
  // before their services are built, which is when the young generation would grow (see MemoryTuning)
  if (command === "serve" || command === "daemon") tuneHeapForLongRunning()
  if (command === "serve") tuneJitForServe()
  if (command === "serve") {
    // what the first request does not need waits for its answer (StartupGate.ts)
    const layer = daemonLayer(paths, early?.listed).pipe(Layer.provideMerge(StartupGate.layer))
    yield* serveStdio(early).pipe(Effect.provide(layer), Effect.provide(logging))
    return 0
  }
  const { dispatch } = yield* Effect.promise(() => import("./Dispatch.ts"))
  return yield* dispatch(command, rest, parsed.values, paths, logging)
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
