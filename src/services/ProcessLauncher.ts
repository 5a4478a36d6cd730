/**
 * Starting one process of a plugin: the restart backoff, the command checked again, the sealed secrets opened, the
 * spawn with exactly PATH and the plugin's own variables, `initialize` with the configs, credentials, dataDir and
 * (for a user's process) the user identity, the manifest checked and recorded, and then the process watched: its
 * exit, its pings, and its calls failing in a row (each ends the process; the next call starts a new one). A
 * spawn or initialize failure is recorded (three within the hour disable the plugin). A `probe` start (`process
 * test`) has no storage, no backoff, records nothing and is not watched.
 */
import { createHash } from "node:crypto"
import * as Path from "node:path"
import { Clock, Effect, Exit, References, Result, Schedule, Scope } from "effect"
import type { SecretStore } from "../adapters/CredentialCipher.ts"
import { nodeFs } from "../adapters/FsPort.ts"
import { type LogLevel, type ProcessPeer, spawnPeer } from "../adapters/ProcessPeer.ts"
import type { ProcessPluginStatus } from "../domain/ProcessPluginState.ts"
import { type Manifest, type ProcessCallError, unavailable, validateManifest } from "../domain/ProcessProtocol.ts"
import { type ProcessSettings, resolveTimeoutSeconds } from "../domain/ProcessSettings.ts"
import type { ProcessRegistry } from "./ProcessRegistry.ts"
import { makeReverseRpc } from "./ProcessReverseRpc.ts"
import type { ProcessStorage } from "./ProcessStorage.ts"

export interface Instance {
  readonly peer: ProcessPeer
  readonly scope: Scope.Closeable
  readonly manifest: Manifest
  readonly startedAt: string
  /** null: the plugin's own (system) process, for calls that name no user */
  readonly userId: string | null
  /** a call on it ended: `failed` for a timeout or an unusable answer; enough of those in a row end the process */
  readonly callEnded: (failed: boolean) => Effect.Effect<void>
}

const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v)

/** A stable id of one user's connection to a plugin (the reference's `userPluginId`, also a UUID; version 8). */
export const userPluginIdOf = (plugin: string, userId: string): string => {
  const hex = createHash("sha256").update(`${plugin}\u0000${userId}`).digest("hex")
  const variant = ((Number.parseInt(hex[16] ?? "0", 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/** The host's log level as the protocol names it, for the plugin's own logger. */
const pluginLogLevel = (level: string): "debug" | "info" | "warn" | "error" =>
  level === "All" || level === "Trace" || level === "Debug" ? "debug" : level === "Info" ? "info" : level === "Warn" ? "warn" : "error"

export const logAt = (name: string) => (level: LogLevel, message: string): Effect.Effect<void> => {
  const text = `[process:${name}] ${message}`
  switch (level) {
    case "Debug":
      return Effect.logDebug(text)
    case "Info":
      return Effect.logInfo(text)
    case "Warning":
      return Effect.logWarning(text)
    case "Error":
      return Effect.logError(text)
  }
}

export const makeProcessLauncher = (deps: {
  readonly settings: ProcessSettings
  readonly ledgerDir: string
  readonly hostEnv: NodeJS.ProcessEnv
  readonly secrets: SecretStore
  readonly storage: ProcessStorage
  readonly registry: ProcessRegistry
  readonly resolveCommand: (cmd: string) => Result.Result<string, string>
  /** the process ended (crash, failed pings, failed calls): the pool forgets it if it is still the current one */
  readonly release: (key: string, instance: Instance) => Effect.Effect<void>
}) => {
  const { settings } = deps
  /** consecutive crashes / failed starts per instance key, and when the next start may happen */
  const backoff = new Map<string, { readonly failures: number; readonly nextAtMs: number }>()
  const bumpBackoff = (key: string, nowMs: number) => {
    const failures = (backoff.get(key)?.failures ?? 0) + 1
    backoff.set(key, { failures, nextAtMs: nowMs + Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** (failures - 1)) })
  }

  const start = (plugin: ProcessPluginStatus, userId: string | null, key: string, probe: boolean): Effect.Effect<Instance, ProcessCallError> =>
    Effect.gen(function*() {
      const log = logAt(plugin.name)
      const timeoutMs = resolveTimeoutSeconds(plugin.timeoutSeconds, settings.requestTimeoutSeconds) * 1000
      const wait = probe ? 0 : (backoff.get(key)?.nextAtMs ?? 0) - (yield* Clock.currentTimeMillis)
      if (wait > timeoutMs) {
        return yield* unavailable(`process plugin \`${plugin.name}\` is restarting after failures; next attempt in ${Math.ceil(wait / 1000)} s`)
      }
      if (wait > 0) yield* Effect.sleep(wait)
      const fail = (stage: "spawn" | "initialize", message: string) =>
        Effect.gen(function*() {
          yield* log("Warning", `${stage} failed: ${message}`)
          if (!probe) {
            bumpBackoff(key, yield* Clock.currentTimeMillis)
            yield* deps.registry.recordFailure(plugin.name, stage, message)
          }
          return yield* unavailable(`process plugin \`${plugin.name}\` failed to start (${stage}): ${message}`)
        })
      const resolved = deps.resolveCommand(plugin.command)
      if (Result.isFailure(resolved)) return yield* fail("spawn", resolved.failure)
      const sealed = yield* Effect.try({ try: () => deps.secrets.read(plugin.name), catch: (e) => (e instanceof Error ? e.message : String(e)) }).pipe(
        Effect.catch((message) => fail("spawn", message))
      )
      const scope = yield* Scope.make()
      const storageScope = { plugin: plugin.name, userId }
      const reverse = makeReverseRpc({
        readinessTimeoutMs: settings.readinessTimeoutMs,
        storage: probe ? undefined : (method, params) => deps.storage.handle(storageScope, method, params),
        onWarning: (message) => log("Warning", message)
      })
      const env: Record<string, string> = {
        ...(deps.hostEnv["PATH"] === undefined ? {} : { PATH: deps.hostEnv["PATH"] }),
        ...plugin.env,
        ...sealed.env
      }
      const peer = yield* spawnPeer(
        { name: plugin.name, command: resolved.success, args: plugin.args, env, cwd: plugin.cwd ?? undefined, graceMs: settings.graceMs },
        { onRequest: reverse.handle, onLog: log }
      ).pipe(
        Scope.provide(scope),
        Effect.catch((e) => Scope.close(scope, Exit.void).pipe(Effect.andThen(fail("spawn", e.message))))
      )
      const userConfig = userId === null ? {} : plugin.userConfigs.get(userId) ?? {}
      const dataDir = Path.join(deps.ledgerDir, "process-data", plugin.name)
      yield* Effect.sync(() => nodeFs.mkdirSync(dataDir, { recursive: true }))
      const params = {
        config: { ...plugin.adminConfig, ...userConfig },
        adminConfig: plugin.adminConfig,
        ...(Object.keys(userConfig).length === 0 ? {} : { userConfig }),
        ...(Object.keys(sealed.credentials).length === 0 ? {} : { credentials: sealed.credentials }),
        dataDir,
        // the reference sends the user identity to user processes only
        ...(userId === null ? {} : { userId, userPluginId: userPluginIdOf(plugin.name, userId) }),
        logLevel: pluginLogLevel(yield* References.MinimumLogLevel)
      }
      const manifest = yield* peer.call("initialize", params, timeoutMs).pipe(
        Effect.mapError((e) => e.message),
        Effect.flatMap((result) => {
          const checked = validateManifest(result)
          return Result.isSuccess(checked) ? Effect.succeed({ manifest: checked.success, raw: result }) : Effect.fail(checked.failure)
        }),
        Effect.catch((message) => Scope.close(scope, Exit.void).pipe(Effect.andThen(fail("initialize", message))))
      )
      // requests the plugin sent while initializing were held until now
      yield* reverse.ready(manifest.manifest.capabilities)
      const manifestHash = createHash("sha256").update(canonicalJson(manifest.raw)).digest("hex")
      if (!probe && plugin.manifest?.manifestHash !== manifestHash) yield* deps.registry.recordManifest(plugin.name, manifest.manifest, manifestHash)

      const startedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
      let failedInARow = 0
      const end = (message: string) =>
        log("Warning", message).pipe(
          Effect.andThen(deps.release(key, instance)),
          // from a fiber of the scope itself: the close must not wait for (and interrupt) that fiber
          Effect.andThen(Effect.forkDetach(Scope.close(scope, Exit.void))),
          Effect.asVoid
        )
      const callEnded = (failed: boolean): Effect.Effect<void> =>
        Effect.suspend(() => {
          failedInARow = failed ? failedInARow + 1 : 0
          return failedInARow >= settings.maxConsecutiveFailures && !probe
            ? end(`${failedInARow} calls in a row timed out or answered unusably; stopping it (the next call starts a new process)`)
            : Effect.void
        })
      const instance: Instance = { peer, scope, manifest: manifest.manifest, startedAt, userId, callEnded }
      if (probe) return instance
      // a crash ends the instance: the next call starts a new one, after the backoff delay
      yield* peer.exited.pipe(
        Effect.flatMap((exit) =>
          Effect.gen(function*() {
            bumpBackoff(key, yield* Clock.currentTimeMillis)
            yield* end(`exited unexpectedly (${exit.signal ?? `code ${exit.code}`}); it restarts on the next call`)
          })
        ),
        Effect.forkIn(scope)
      )
      if (settings.healthIntervalMs > 0) {
        yield* peer.call("ping", undefined, Math.min(timeoutMs, 10_000)).pipe(
          Effect.delay(settings.healthIntervalMs),
          Effect.repeat(Schedule.forever),
          Effect.catch((e) => end(`health check failed (${e.message}); stopping it`)),
          Effect.forkIn(scope)
        )
      }
      return instance
    })

  /** A call succeeded on the instance of `key`: its restart delay starts over. */
  const succeeded = (key: string) => Effect.sync(() => void backoff.delete(key))

  return { start, succeeded }
}
export type ProcessLauncher = ReturnType<typeof makeProcessLauncher>
