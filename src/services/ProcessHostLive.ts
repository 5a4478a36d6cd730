/**
 * The process-plugin host's implementation (see ProcessHost.ts). In a module of its own: `serve` and `daemon` load it
 * on the first `process/*` request, and the `plugin-ledger process` command when it starts.
 */
import * as Path from "node:path"
import { realpathSync } from "node:fs"
import { Clock, Effect, Exit, Result, Scope, Semaphore } from "effect"
import { makeSecretStore } from "../adapters/CredentialCipher.ts"
import { nodeFs } from "../adapters/FsPort.ts"
import type { ProcessPluginStatus } from "../domain/ProcessPluginState.ts"
import { capabilityFor, ErrorCodes, ProcessCallError, unavailable } from "../domain/ProcessProtocol.ts"
import { checkResult } from "../domain/ProcessResults.ts"
import { DEFAULT_PROCESS_SETTINGS, type ProcessSettings, resolveRateLimit, resolveTimeoutSeconds, settingsFromEnv } from "../domain/ProcessSettings.ts"
import { invalidRequest } from "./EngineApi.ts"
import { EventLog } from "./EventLog.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { ProcessHost, type ProcessHostOptions, type ProcessHostShape } from "./ProcessHost.ts"
import { type Instance, makeProcessLauncher } from "./ProcessLauncher.ts"
import { makeRateLimiter } from "./ProcessRateLimiter.ts"
import { makeCommandResolver, makeProcessRegistry } from "./ProcessRegistry.ts"
import { makeProcessStorage } from "./ProcessStorage.ts"
import { type ProcessTestView, viewOf } from "./ProcessViews.ts"
import { Projector } from "./Projector.ts"

export const makeProcessHost = (options: ProcessHostOptions) =>
  Effect.gen(function*() {
    const paths = yield* LedgerConfig
    const log = yield* EventLog
    const projector = yield* Projector
    const hostEnv = options.env ?? process.env
    const fromEnv = settingsFromEnv(hostEnv)
    if (Result.isFailure(fromEnv)) return yield* invalidRequest(fromEnv.failure)
    const { allowedFolders, env: _env, ...given } = options
    const settings: ProcessSettings = { ...DEFAULT_PROCESS_SETTINGS, ...fromEnv.success, ...given }
    const envFolders = (hostEnv["PLUGIN_LEDGER_PROCESS_FOLDERS"] ?? "").split(Path.delimiter).filter((f) => Path.isAbsolute(f))
    const folders = (allowedFolders ?? [Path.join(paths.codexHome, "process-plugins"), ...envFolders]).map((f) => {
      try {
        return realpathSync(f)
      } catch {
        return Path.resolve(f)
      }
    })
    const resolveCommand = makeCommandResolver(folders)
    const secrets = makeSecretStore(nodeFs, Path.join(paths.ledgerDir, "process-credentials"), Path.join(paths.ledgerDir, "credentials.key"), hostEnv)
    const storage = yield* makeProcessStorage(nodeFs, Path.join(paths.ledgerDir, "process-storage"))
    const limiter = makeRateLimiter()
    const instances = new Map<string, Instance>()
    const spawnLocks = new Map<string, Semaphore.Semaphore>()
    // plugin names have no NUL: a prefix of `<name>\0` finds every process of a plugin
    const keyOf = (name: string, userId: string | null) => `${name}\u0000${userId === null ? "system" : `user:${userId}`}`

    const stopInstances = (name: string) =>
      Effect.forEach([...instances.entries()].filter(([k]) => k.startsWith(`${name}\u0000`)), ([k, inst]) =>
        Effect.sync(() => instances.delete(k)).pipe(Effect.andThen(Scope.close(inst.scope, Exit.void))), { discard: true })
    const registry = makeProcessRegistry({ log, projector, secrets, storage, resolveCommand, stopInstances })
    const launcher = makeProcessLauncher({
      settings,
      ledgerDir: paths.ledgerDir,
      hostEnv,
      secrets,
      storage,
      registry,
      resolveCommand,
      release: (key, inst) => Effect.sync(() => void (instances.get(key) === inst && instances.delete(key)))
    })

    const instanceFor = (plugin: ProcessPluginStatus, userId: string | null): Effect.Effect<Instance, ProcessCallError> => {
      const key = keyOf(plugin.name, userId)
      let lock = spawnLocks.get(key)
      if (lock === undefined) {
        lock = Semaphore.makeUnsafe(1)
        spawnLocks.set(key, lock)
      }
      return lock.withPermits(1)(Effect.suspend(() => {
        const existing = instances.get(key)
        if (existing !== undefined && existing.peer.alive()) return Effect.succeed(existing)
        return launcher.start(plugin, userId, key, false).pipe(Effect.tap((inst) => Effect.sync(() => instances.set(key, inst))))
      }))
    }

    const call: ProcessHostShape["call"] = (input) =>
      Effect.gen(function*() {
        if (input.userId === "") return yield* invalidRequest("a user id must not be empty")
        const deadline = input.timeoutSeconds
        if (deadline !== undefined && !(Number.isFinite(deadline) && deadline > 0 && deadline <= 3600)) {
          return yield* invalidRequest(`a call's timeout must be more than 0 and at most 3600 seconds, got ${deadline}`)
        }
        const plugin = (yield* registry.current).plugins.get(input.name)
        if (plugin === undefined) return yield* unavailable(`process plugin \`${input.name}\` is not registered`)
        if (!plugin.enabled) {
          return yield* unavailable(`process plugin \`${input.name}\` is disabled${plugin.disabledReason === null ? "" : ` (${plugin.disabledReason})`}`)
        }
        const capability = capabilityFor(input.method)
        if (capability === undefined) {
          return yield* new ProcessCallError({ kind: "Unavailable", code: ErrorCodes.methodNotFound, message: `\`${input.method}\` is not a method the host routes to plugins` })
        }
        const userId = input.userId ?? null
        const instance = yield* instanceFor(plugin, userId)
        if (!capability.has(instance.manifest.capabilities)) {
          return yield* new ProcessCallError({
            kind: "Unavailable",
            code: ErrorCodes.methodNotFound,
            message: `process plugin \`${input.name}\` does not declare the capability \`${capability.name}\` that \`${input.method}\` needs`
          })
        }
        yield* limiter.take(plugin.name, resolveRateLimit(plugin.rateLimitPerMinute ?? undefined, settings.rateLimitPerMinute))
        const timeoutSeconds = deadline ?? resolveTimeoutSeconds(plugin.timeoutSeconds, settings.requestTimeoutSeconds)
        const result = yield* instance.peer.call(input.method, input.params ?? {}, timeoutSeconds * 1000).pipe(
          Effect.flatMap((answer) => {
            const checked = checkResult(input.method, answer)
            return Result.isSuccess(checked) ? Effect.succeed(answer) : Effect.fail(new ProcessCallError({
              kind: "InvalidResponse",
              code: ErrorCodes.internalError,
              message: `process plugin \`${input.name}\` answered \`${input.method}\` with an invalid result: ${checked.failure}`
            }))
          }),
          Effect.tapError((e) => instance.callEnded(e.kind === "Timeout" || e.kind === "InvalidResponse"))
        )
        yield* instance.callEnded(false)
        yield* launcher.succeeded(keyOf(plugin.name, userId))
        return result
      })

    const test: ProcessHostShape["test"] = (input) =>
      Effect.gen(function*() {
        const plugin = (yield* registry.current).plugins.get(input.name)
        if (plugin === undefined) return yield* invalidRequest(`process plugin \`${input.name}\` is not registered`)
        const failed = (error: string): ProcessTestView => ({ name: input.name, ok: false, error, manifest: null, pingMs: null })
        const started = yield* Effect.result(launcher.start(plugin, null, `test:${input.name}`, true))
        if (Result.isFailure(started)) return failed(started.failure.message)
        const instance = started.success
        const m = instance.manifest
        const manifest = { name: m.name, version: m.version, protocolVersion: m.protocolVersion, capabilities: m.capabilities }
        const before = yield* Clock.currentTimeMillis
        const pong = yield* Effect.result(instance.peer.call("ping", undefined, resolveTimeoutSeconds(plugin.timeoutSeconds, settings.requestTimeoutSeconds) * 1000))
        const pingMs = (yield* Clock.currentTimeMillis) - before
        yield* Scope.close(instance.scope, Exit.void)
        if (Result.isFailure(pong)) return { ...failed(`ping failed: ${pong.failure.message}`), manifest }
        if (typeof pong.success !== "string") return { ...failed(`ping answered ${JSON.stringify(pong.success)}, not a string`), manifest }
        return { name: input.name, ok: true, error: null, manifest, pingMs }
      })

    yield* Effect.addFinalizer(() =>
      Effect.forEach([...instances.values()], (inst) => Scope.close(inst.scope, Exit.void), { concurrency: "unbounded", discard: true }).pipe(
        Effect.andThen(Effect.sync(() => instances.clear()))
      )
    )

    const statusOf = (plugin: ProcessPluginStatus, nowMs: number) => ({
      ...viewOf(plugin, nowMs, settings),
      instances: [...instances.entries()].filter(([k]) => k.startsWith(`${plugin.name}\u0000`)).map(([, inst]) => ({
        userId: inst.userId,
        pid: inst.peer.pid ?? null,
        running: inst.peer.alive(),
        startedAt: inst.startedAt
      }))
    })

    return ProcessHost.of({
      add: registry.add,
      configure: registry.configure,
      setCredentials: registry.setCredentials,
      setEnabled: registry.setEnabled,
      remove: (input, origin) => registry.remove(input, origin).pipe(Effect.tap(() => limiter.forget(input.name))),
      list: Effect.gen(function*() {
        const state = yield* registry.current
        const now = yield* Clock.currentTimeMillis
        return [...state.plugins.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((p) => viewOf(p, now, settings))
      }),
      status: (input) =>
        Effect.gen(function*() {
          const plugin = (yield* registry.current).plugins.get(input.name)
          if (plugin === undefined) return yield* invalidRequest(`process plugin \`${input.name}\` is not registered`)
          return statusOf(plugin, yield* Clock.currentTimeMillis)
        }),
      call,
      test
    })
  })
