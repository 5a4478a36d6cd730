/**
 * Where logs go: stderr by default, or appended to `--log-file`; never stdout, which carries protocol in `serve`
 * and `proxy`. `--log-level` sets the minimum level. Lines are logfmt (`timestamp=… level=… message=…`).
 */
import { Effect, Layer, Logger, type LogLevel, References } from "effect"
import * as NodeFs from "node:fs"
import { UsageError } from "./CliErrors.ts"

const LEVELS: ReadonlyArray<LogLevel.LogLevel> = ["All", "Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"]

export interface LoggingOptions {
  readonly level: string | undefined
  readonly file: string | undefined
}

/** `debug`, `Debug`, `DEBUG` all name the level Debug. */
export const parseLogLevel = (raw: string): LogLevel.LogLevel | undefined =>
  LEVELS.find((level) => level.toLowerCase() === raw.toLowerCase())

const fileLogger = (path: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => NodeFs.openSync(path, "a", 0o600),
      catch: (cause) => new UsageError({ message: `cannot open the log file ${path}: ${cause instanceof Error ? cause.message : String(cause)}` })
    }),
    (fd) => Effect.sync(() => NodeFs.closeSync(fd))
  ).pipe(
    Effect.map((fd) =>
      Logger.make((options) => {
        // one write per line, so lines from concurrent fibers never interleave
        NodeFs.writeSync(fd, `${Logger.formatLogFmt.log(options)}\n`)
      })
    )
  )

/** The logging for a command; fails with a UsageError for an unknown level or an unwritable file. */
export const loggingLayer = (options: LoggingOptions): Layer.Layer<never, UsageError> => {
  const level = options.level === undefined ? undefined : parseLogLevel(options.level)
  if (options.level !== undefined && level === undefined) {
    return Layer.effectDiscard(
      Effect.fail(new UsageError({ message: `--log-level takes one of ${LEVELS.map((l) => l.toLowerCase()).join(", ")}, got ${options.level}` }))
    )
  }
  const minimum = level === undefined ? Layer.empty : Layer.succeed(References.MinimumLogLevel, level)
  const sink = options.file === undefined
    ? Logger.layer([Logger.withConsoleError(Logger.formatLogFmt)])
    : Logger.layer([fileLogger(options.file)])
  return Layer.mergeAll(minimum, sink)
}
