/**
 * The process-plugin host: registration commands recorded in the log (decided on the fold of the log, under its
 * lock), and the running plugins. A plugin is spawned on its first call per user (its own process, its own
 * storage scope and user config), initialized with its configs and credentials, its manifest checked and
 * recorded when it changed, pinged, restarted with backoff after a crash, and auto-disabled (recorded) after 3
 * spawn/initialize failures within an hour. Calls are routed by declared capability and time out per plugin.
 */
import { createHash, randomUUID } from "node:crypto"
import { realpathSync } from "node:fs"
import * as Path from "node:path"
import { Clock, Context, Effect, Exit, Layer, Result, Schedule, Scope, Semaphore } from "effect"
import { makeSecretStore } from "../adapters/CredentialCipher.ts"
import { nodeFs } from "../adapters/FsPort.ts"
import { type LogLevel, type ProcessPeer, ReverseRpcError, spawnPeer } from "../adapters/ProcessPeer.ts"
import { type EventCause, ManifestObserved, type PluginEvent, ProcessPluginDisabled, ProcessPluginFailed } from "../domain/Events.ts"
import { checkCommand } from "../domain/ProcessAllowlist.ts"
import {
  DEFAULT_TIMEOUT_SECONDS,
  decideProcess,
  evolveProcess,
  FAILURE_THRESHOLD,
  initialProcessState,
  isSecretEnvKey,
  type ProcessCommand,
  type ProcessPluginStatus,
  type ProcessState,
  recentFailures
} from "../domain/ProcessPluginState.ts"
import { capabilityFor, ErrorCodes, type Manifest, ProcessCallError, unavailable, validateManifest } from "../domain/ProcessProtocol.ts"
import { type EngineError, internalError, invalidRequest, type Origin } from "./EngineApi.ts"
import { EventLog, type LogRecord } from "./EventLog.ts"
import { newRecordOf } from "./EventRecords.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { makeProcessStorage } from "./ProcessStorage.ts"
import { eventOf, Projector } from "./Projector.ts"

export interface ProcessHostOptions {
  /**
   * folders whose executables may be registered by absolute path (default: `$CODEX_HOME/process-plugins` and the
   * absolute paths in `PLUGIN_LEDGER_PROCESS_FOLDERS`, separated by the path delimiter)
   */
  readonly allowedFolders?: ReadonlyArray<string>
  /** after `shutdown`, how long a plugin may take to exit before it is killed (default 5 s) */
  readonly graceMs?: number
  /** ping interval of running plugins; 0 disables (default 60 s) */
  readonly healthIntervalMs?: number
  /** first restart delay after a crash or failed start, doubled per consecutive failure (default 1 s, max 60 s) */
  readonly backoffBaseMs?: number
  readonly backoffMaxMs?: number
  /** where PATH and the credentials key come from (default: process.env); nothing else of it reaches a plugin */
  readonly env?: NodeJS.ProcessEnv
}

export interface ProcessPluginView {
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly envKeys: ReadonlyArray<string>
  readonly cwd: string | null
  readonly timeoutSeconds: number
  readonly enabled: boolean
  readonly disabledReason: string | null
  readonly adminConfig: Readonly<Record<string, unknown>>
  readonly userIds: ReadonlyArray<string>
  readonly credentialKeys: ReadonlyArray<string>
  readonly credentialsFingerprint: string | null
  readonly manifest: { readonly name: string; readonly version: string; readonly protocolVersion: string; readonly capabilities: unknown } | null
  readonly recentFailures: number
  readonly lastSeq: number
}

export interface ProcessInstanceView {
  readonly userId: string
  readonly pid: number | null
  readonly running: boolean
  readonly startedAt: string
}

export interface ProcessChangeView {
  readonly name: string
  readonly changed: boolean
  readonly seq: number | null
}

type Json = Readonly<Record<string, unknown>>

export interface ProcessHostShape {
  readonly add: (input: {
    readonly name: string
    readonly command: string
    readonly args: ReadonlyArray<string>
    readonly env: Readonly<Record<string, string>>
    readonly cwd: string | null
    readonly timeoutSeconds?: number
  }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly configure: (input: {
    readonly name: string
    readonly adminConfig?: Json
    readonly userConfig?: { readonly userId: string; readonly config: Json }
    readonly timeoutSeconds?: number
  }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly setCredentials: (input: { readonly name: string; readonly credentials: Json }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly setEnabled: (input: { readonly name: string; readonly enabled: boolean }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly remove: (input: { readonly name: string }, origin: Origin) => Effect.Effect<ProcessChangeView, EngineError>
  readonly list: Effect.Effect<ReadonlyArray<ProcessPluginView>, EngineError>
  readonly status: (input: { readonly name: string }) => Effect.Effect<ProcessPluginView & { readonly instances: ReadonlyArray<ProcessInstanceView> }, EngineError>
  readonly call: (input: { readonly name: string; readonly method: string; readonly params: unknown; readonly userId?: string }) => Effect.Effect<unknown, ProcessCallError | EngineError>
}

export class ProcessHost extends Context.Service<ProcessHost, ProcessHostShape>()("plugin-ledger/services/ProcessHost") {
  static readonly layer = (options: ProcessHostOptions = {}): Layer.Layer<ProcessHost, never, EventLog | LedgerConfig | Projector> =>
    Layer.effect(ProcessHost, makeProcessHost(options))
}

interface Instance {
  readonly peer: ProcessPeer
  readonly scope: Scope.Closeable
  readonly manifest: Manifest
  readonly startedAt: string
  readonly userId: string
}

const hostCause: EventCause = { actor: "host" }

const causeOf = (origin: Origin): EventCause => ({
  actor: origin.actor,
  ...(origin.requestId === undefined ? {} : { requestId: origin.requestId }),
  ...(origin.client === undefined ? {} : { client: origin.client })
})

const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v)

const viewOf = (p: ProcessPluginStatus, nowMs: number): ProcessPluginView => ({
  name: p.name,
  command: p.command,
  args: p.args,
  envKeys: [...Object.keys(p.env), ...p.secretEnvKeys].sort(),
  cwd: p.cwd,
  timeoutSeconds: p.timeoutSeconds,
  enabled: p.enabled,
  disabledReason: p.disabledReason,
  adminConfig: p.adminConfig,
  userIds: [...p.userConfigs.keys()].sort(),
  credentialKeys: p.credentialKeys,
  credentialsFingerprint: p.credentialsFingerprint,
  manifest: p.manifest === null
    ? null
    : { name: p.manifest.name, version: p.manifest.version, protocolVersion: p.manifest.protocolVersion, capabilities: p.manifest.capabilities },
  recentFailures: recentFailures(p, nowMs),
  lastSeq: p.lastSeq
})

const makeProcessHost = (options: ProcessHostOptions) =>
  Effect.gen(function*() {
    const paths = yield* LedgerConfig
    const log = yield* EventLog
    const projector = yield* Projector
    const hostEnv = options.env ?? process.env
    const graceMs = options.graceMs ?? 5000
    const healthIntervalMs = options.healthIntervalMs ?? 60_000
    const backoffBaseMs = options.backoffBaseMs ?? 1000
    const backoffMaxMs = options.backoffMaxMs ?? 60_000
    const fromEnv = (hostEnv["PLUGIN_LEDGER_PROCESS_FOLDERS"] ?? "").split(Path.delimiter).filter((f) => Path.isAbsolute(f))
    const folders = (options.allowedFolders ?? [Path.join(paths.codexHome, "process-plugins"), ...fromEnv]).map((f) => {
      try {
        return realpathSync(f)
      } catch {
        return Path.resolve(f)
      }
    })
    const secrets = makeSecretStore(nodeFs, Path.join(paths.ledgerDir, "process-credentials"), Path.join(paths.ledgerDir, "credentials.key"), hostEnv)
    const storage = yield* makeProcessStorage(nodeFs, Path.join(paths.ledgerDir, "process-storage"))
    const instances = new Map<string, Instance>()
    const spawnLocks = new Map<string, Semaphore.Semaphore>()
    /** consecutive crashes / failed starts per instance key, and when the next start may happen */
    const backoff = new Map<string, { readonly failures: number; readonly nextAtMs: number }>()
    const keyOf = (name: string, userId: string) => `${name}\u0000${userId}`

    let folded: { readonly seq: number; readonly state: ProcessState } = { seq: 0, state: initialProcessState }
    const fold = (records: ReadonlyArray<LogRecord>): ProcessState => {
      let state = folded.seq <= (records.at(-1)?.seq ?? 0) ? folded.state : initialProcessState
      const after = state === initialProcessState ? 0 : folded.seq
      for (const record of records) {
        if (record.seq <= after) continue
        const event = eventOf(record)
        state = event === undefined ? { ...state, seq: record.seq } : evolveProcess(state, event, record.seq)
      }
      folded = { seq: records.at(-1)?.seq ?? 0, state }
      return state
    }
    const current = log.refresh.pipe(
      Effect.andThen(log.live), // folded at once, not kept: no copy per call
      Effect.map(fold),
      Effect.mapError((e) => internalError(e.message))
    )

    /** Appends what `build` decides on the current state, under the log's lock; projections follow. */
    const record = (
      key: string,
      build: (state: ProcessState, nowMs: number, records: ReadonlyArray<LogRecord>) => Result.Result<ReadonlyArray<PluginEvent>, string>
    ): Effect.Effect<ReadonlyArray<LogRecord>, EngineError> =>
      Effect.gen(function*() {
        const nowMs = yield* Clock.currentTimeMillis
        const result = yield* log.transact(
          (records) => {
            const decided = build(fold(records), nowMs, records)
            if (Result.isFailure(decided)) return Effect.fail(invalidRequest(decided.failure))
            const ts = new Date(nowMs).toISOString()
            return Effect.succeed({ append: decided.success.map((e, i) => newRecordOf(e, `${key}:${i}`, ts)), value: undefined })
          },
          (appended, all) =>
            appended.length === 0
              ? Effect.void
              : projector.project(all, appended[0]?.seq).pipe(Effect.mapError((e) => internalError(`failed to project the ledger: ${e.message}`)))
        ).pipe(Effect.mapError((e) => (e._tag === "EngineError" ? e : internalError(e.message))))
        return result.appended
      })

    const stopInstances = (name: string) =>
      Effect.forEach([...instances.entries()].filter(([k]) => k.startsWith(`${name}\u0000`)), ([k, inst]) =>
        Effect.sync(() => instances.delete(k)).pipe(Effect.andThen(Scope.close(inst.scope, Exit.void))), { discard: true })

    /** The records of an earlier request with this idempotency key (`<key>:<index>`), as the Engine keys them. */
    const previousOf = (records: ReadonlyArray<LogRecord>, key: string | undefined): ReadonlyArray<LogRecord> =>
      key === undefined ? [] : records.filter((r) => r.id.startsWith(`${key}:`) && /^\d+$/.test(r.id.slice(key.length + 1)))
    /** A retried request: add and setCredentials then skip their checks and sealing, and the command replays. */
    const isRetry = (origin: Origin) =>
      origin.idempotencyKey === undefined
        ? Effect.succeed(false)
        : current.pipe(Effect.andThen(log.live), Effect.map((records) => previousOf(records, origin.idempotencyKey).length > 0))

    const commandEventType: Record<ProcessCommand["_tag"], string> = {
      Add: "ProcessPluginAdded",
      Configure: "ProcessPluginConfigured",
      SetCredentials: "ProcessPluginCredentialsSet",
      Enable: "ProcessPluginEnabled",
      Disable: "ProcessPluginDisabled",
      Remove: "ProcessPluginRemoved"
    }

    const command = (origin: Origin, cmd: ProcessCommand, stop: boolean) =>
      Effect.gen(function*() {
        let replayed: ReadonlyArray<LogRecord> = []
        const appended = yield* record(origin.idempotencyKey ?? randomUUID(), (state, _nowMs, records) => {
          // a retried request answers from the log; the same key on another command is refused
          const previous = previousOf(records, origin.idempotencyKey)
          if (previous.length === 0) return Result.mapError(decideProcess(state, cmd, causeOf(origin)), (e) => e.message)
          if (!previous.every((r) => r.type === commandEventType[cmd._tag] && typeof r.data === "object" && r.data !== null && Reflect.get(r.data, "processPlugin") === cmd.name)) {
            return Result.fail(`idempotency key \`${origin.idempotencyKey}\` was already used for a different command`)
          }
          replayed = previous
          return Result.succeed([])
        })
        if (replayed.length > 0) return { name: cmd.name, changed: true, seq: replayed.at(-1)?.seq ?? null }
        if (stop && appended.length > 0) yield* stopInstances(cmd.name)
        return { name: cmd.name, changed: appended.length > 0, seq: appended.at(-1)?.seq ?? null }
      })

    const resolveCommand = (cmd: string): Result.Result<string, string> => {
      let real: string | undefined
      if (Path.isAbsolute(cmd)) {
        try {
          real = realpathSync(cmd)
        } catch {
          real = undefined
        }
      }
      const checked = checkCommand(cmd, real, folders)
      if (checked._tag === "Refused") return Result.fail(checked.message)
      // `node` is the node running the ledger: no PATH lookup decides which interpreter runs a plugin
      return Result.succeed(checked.command === "node" ? process.execPath : checked.command)
    }

    const add: ProcessHostShape["add"] = (input, origin) =>
      Effect.gen(function*() {
        const resolved = resolveCommand(input.command)
        if (Result.isFailure(resolved)) return yield* invalidRequest(resolved.failure)
        const plain: Record<string, string> = {}
        const secret: Record<string, string> = {}
        for (const [k, v] of Object.entries(input.env)) (isSecretEnvKey(k) ? secret : plain)[k] = v
        const cmd: ProcessCommand = {
          _tag: "Add",
          name: input.name,
          command: input.command,
          args: input.args,
          env: plain,
          secretEnvKeys: Object.keys(secret).sort(),
          cwd: input.cwd,
          timeoutSeconds: input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS
        }
        if (yield* isRetry(origin)) return yield* command(origin, cmd, false)
        // checked before sealing: a refused registration leaves no file behind
        const state = yield* current
        const refused = decideProcess(state, cmd, causeOf(origin))
        if (Result.isFailure(refused)) return yield* invalidRequest(refused.failure.message)
        if (Object.keys(secret).length > 0) {
          yield* Effect.try({
            try: () => secrets.write(input.name, { credentials: {}, env: secret }),
            catch: (e) => internalError(`could not seal the plugin's secret environment: ${String(e)}`)
          })
        }
        return yield* command(origin, cmd, false)
      })

    const setCredentials: ProcessHostShape["setCredentials"] = (input, origin) =>
      Effect.gen(function*() {
        const retry = { _tag: "SetCredentials", name: input.name, keys: Object.keys(input.credentials).sort(), fingerprint: "" } as const
        if (yield* isRetry(origin)) return yield* command(origin, retry, true)
        const state = yield* current
        if (!state.plugins.has(input.name)) return yield* invalidRequest(`process plugin \`${input.name}\` is not registered`)
        const fingerprint = yield* Effect.try({
          try: () => secrets.write(input.name, { credentials: input.credentials, env: secrets.read(input.name).env }),
          catch: (e) => internalError(`could not seal the credentials: ${e instanceof Error ? e.message : String(e)}`)
        })
        return yield* command(origin, { _tag: "SetCredentials", name: input.name, keys: Object.keys(input.credentials).sort(), fingerprint }, true)
      })

    const remove: ProcessHostShape["remove"] = (input, origin) =>
      Effect.gen(function*() {
        const view = yield* command(origin, { _tag: "Remove", name: input.name }, true)
        yield* Effect.try({ try: () => secrets.remove(input.name), catch: (e) => internalError(String(e)) })
        yield* storage.removePlugin(input.name).pipe(Effect.catchDefect((e) => Effect.logWarning(`could not remove the storage of ${input.name}: ${String(e)}`)))
        return view
      })

    const logAt = (name: string) => (level: LogLevel, message: string): Effect.Effect<void> => {
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

    const bumpBackoff = (key: string, nowMs: number) => {
      const failures = (backoff.get(key)?.failures ?? 0) + 1
      backoff.set(key, { failures, nextAtMs: nowMs + Math.min(backoffMaxMs, backoffBaseMs * 2 ** (failures - 1)) })
    }

    /** Records a spawn/initialize failure, and the auto-disable when it is the third within the hour. */
    const recordFailure = (name: string, stage: "spawn" | "initialize", message: string) =>
      record(`failure:${randomUUID()}`, (state, nowMs) => {
        const plugin = state.plugins.get(name)
        if (plugin === undefined) return Result.succeed([])
        const failed = new ProcessPluginFailed({ processPlugin: name, stage, message, at: new Date(nowMs).toISOString(), cause: hostCause })
        const after = evolveProcess(state, failed, state.seq + 1).plugins.get(name)
        const count = after === undefined ? 0 : recentFailures(after, nowMs)
        return Result.succeed(
          plugin.enabled && count >= FAILURE_THRESHOLD
            ? [failed, new ProcessPluginDisabled({ processPlugin: name, reason: `auto-disabled after ${count} spawn/initialize failures within 1 hour`, cause: hostCause })]
            : [failed]
        )
      }).pipe(Effect.catch((e) => Effect.logError(`could not record the failure of ${name}: ${e.message}`)))

    const start = (plugin: ProcessPluginStatus, userId: string, key: string): Effect.Effect<Instance, ProcessCallError> =>
      Effect.gen(function*() {
        const nowMs = yield* Clock.currentTimeMillis
        const wait = (backoff.get(key)?.nextAtMs ?? 0) - nowMs
        if (wait > plugin.timeoutSeconds * 1000) {
          return yield* unavailable(`process plugin \`${plugin.name}\` is restarting after failures; next attempt in ${Math.ceil(wait / 1000)} s`)
        }
        if (wait > 0) yield* Effect.sleep(wait)
        const fail = (stage: "spawn" | "initialize", message: string) =>
          Effect.gen(function*() {
            bumpBackoff(key, yield* Clock.currentTimeMillis)
            yield* logAt(plugin.name)("Warning", `${stage} failed: ${message}`)
            yield* recordFailure(plugin.name, stage, message)
            return yield* unavailable(`process plugin \`${plugin.name}\` failed to start (${stage}): ${message}`)
          })
        const resolved = resolveCommand(plugin.command)
        if (Result.isFailure(resolved)) return yield* fail("spawn", resolved.failure)
        const sealed = yield* Effect.try({ try: () => secrets.read(plugin.name), catch: (e) => (e instanceof Error ? e.message : String(e)) }).pipe(
          Effect.catch((message) => fail("spawn", message))
        )
        const scope = yield* Scope.make()
        const env: Record<string, string> = {
          ...(hostEnv["PATH"] === undefined ? {} : { PATH: hostEnv["PATH"] }),
          ...plugin.env,
          ...sealed.env
        }
        const peer = yield* spawnPeer(
          { name: plugin.name, command: resolved.success, args: plugin.args, env, cwd: plugin.cwd ?? undefined, graceMs },
          {
            onRequest: (method, params) =>
              method.startsWith("storage/")
                ? storage.handle({ plugin: plugin.name, userId }, method, params)
                : Effect.fail(new ReverseRpcError({ code: ErrorCodes.methodNotFound, message: `unknown method \`${method}\` (no permission mapping)` })),
            onLog: logAt(plugin.name)
          }
        ).pipe(
          Scope.provide(scope),
          Effect.catch((e) => Scope.close(scope, Exit.void).pipe(Effect.andThen(fail("spawn", e.message))))
        )
        const userConfig = plugin.userConfigs.get(userId) ?? {}
        const dataDir = Path.join(paths.ledgerDir, "process-data", plugin.name)
        yield* Effect.sync(() => nodeFs.mkdirSync(dataDir, { recursive: true }))
        const params = {
          config: { ...plugin.adminConfig, ...userConfig },
          adminConfig: plugin.adminConfig,
          ...(Object.keys(userConfig).length === 0 ? {} : { userConfig }),
          ...(Object.keys(sealed.credentials).length === 0 ? {} : { credentials: sealed.credentials }),
          dataDir,
          userId,
          logLevel: "info"
        }
        const manifest = yield* peer.call("initialize", params, plugin.timeoutSeconds * 1000).pipe(
          Effect.mapError((e) => e.message),
          Effect.flatMap((result) => {
            const checked = validateManifest(result)
            return Result.isSuccess(checked) ? Effect.succeed({ manifest: checked.success, raw: result }) : Effect.fail(checked.failure)
          }),
          Effect.catch((message) => Scope.close(scope, Exit.void).pipe(Effect.andThen(fail("initialize", message))))
        )
        const manifestHash = createHash("sha256").update(canonicalJson(manifest.raw)).digest("hex")
        if (plugin.manifest?.manifestHash !== manifestHash) {
          const m = manifest.manifest
          yield* record(`manifest:${randomUUID()}`, (state) => {
            const latest = state.plugins.get(plugin.name)
            if (latest === undefined || latest.manifest?.manifestHash === manifestHash) return Result.succeed([])
            return Result.succeed([new ManifestObserved({
              processPlugin: plugin.name,
              name: m.name,
              displayName: m.displayName,
              version: m.version,
              protocolVersion: m.protocolVersion,
              capabilities: { ...m.capabilities },
              manifestHash,
              previousVersion: latest.manifest?.version ?? null,
              cause: hostCause
            })])
          }).pipe(Effect.catch((e) => Effect.logError(`could not record the manifest of ${plugin.name}: ${e.message}`)))
        }
        const startedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
        const instance: Instance = { peer, scope, manifest: manifest.manifest, startedAt, userId }
        // a crash ends the instance: the next call starts a new one, after the backoff delay
        yield* peer.exited.pipe(
          Effect.flatMap((exit) =>
            Effect.gen(function*() {
              if (instances.get(key) !== instance) return
              instances.delete(key)
              bumpBackoff(key, yield* Clock.currentTimeMillis)
              yield* logAt(plugin.name)("Warning", `exited unexpectedly (${exit.signal ?? `code ${exit.code}`}); it restarts on the next call`)
            })
          ),
          Effect.forkIn(scope)
        )
        if (healthIntervalMs > 0) {
          yield* peer.call("ping", undefined, Math.min(plugin.timeoutSeconds * 1000, 10_000)).pipe(
            Effect.delay(healthIntervalMs),
            Effect.repeat(Schedule.forever),
            Effect.catch((e) =>
              logAt(plugin.name)("Warning", `health check failed (${e.message}); stopping it`).pipe(
                Effect.andThen(Effect.sync(() => instances.get(key) === instance && instances.delete(key))),
                Effect.andThen(Effect.forkDetach(Scope.close(scope, Exit.void)))
              )
            ),
            Effect.forkIn(scope)
          )
        }
        return instance
      })

    const instanceFor = (plugin: ProcessPluginStatus, userId: string): Effect.Effect<Instance, ProcessCallError> => {
      const key = keyOf(plugin.name, userId)
      let lock = spawnLocks.get(key)
      if (lock === undefined) {
        lock = Semaphore.makeUnsafe(1)
        spawnLocks.set(key, lock)
      }
      return lock.withPermits(1)(Effect.suspend(() => {
        const existing = instances.get(key)
        if (existing !== undefined && existing.peer.alive()) return Effect.succeed(existing)
        return start(plugin, userId, key).pipe(Effect.tap((inst) => Effect.sync(() => instances.set(key, inst))))
      }))
    }

    const call: ProcessHostShape["call"] = (input) =>
      Effect.gen(function*() {
        const state = yield* current
        const plugin = state.plugins.get(input.name)
        if (plugin === undefined) return yield* unavailable(`process plugin \`${input.name}\` is not registered`)
        if (!plugin.enabled) {
          return yield* unavailable(`process plugin \`${input.name}\` is disabled${plugin.disabledReason === null ? "" : ` (${plugin.disabledReason})`}`)
        }
        const capability = capabilityFor(input.method)
        if (capability === undefined) {
          return yield* new ProcessCallError({ kind: "Unavailable", code: ErrorCodes.methodNotFound, message: `\`${input.method}\` is not a method the host routes to plugins` })
        }
        const userId = input.userId ?? "default"
        const instance = yield* instanceFor(plugin, userId)
        if (!capability.has(instance.manifest.capabilities)) {
          return yield* new ProcessCallError({
            kind: "Unavailable",
            code: ErrorCodes.methodNotFound,
            message: `process plugin \`${input.name}\` does not declare the capability \`${capability.name}\` that \`${input.method}\` needs`
          })
        }
        const result = yield* instance.peer.call(input.method, input.params ?? {}, plugin.timeoutSeconds * 1000)
        backoff.delete(keyOf(plugin.name, userId))
        return result
      })

    const nowMs = () => Clock.currentTimeMillis

    yield* Effect.addFinalizer(() =>
      Effect.forEach([...instances.values()], (inst) => Scope.close(inst.scope, Exit.void), { concurrency: "unbounded", discard: true }).pipe(
        Effect.andThen(Effect.sync(() => instances.clear()))
      )
    )

    return ProcessHost.of({
      add,
      configure: (input, origin) => {
        const { name, ...rest } = input
        return command(origin, { _tag: "Configure", name, ...rest }, true)
      },
      setCredentials,
      setEnabled: (input, origin) => command(origin, { _tag: input.enabled ? "Enable" : "Disable", name: input.name }, !input.enabled),
      remove,
      list: Effect.gen(function*() {
        const state = yield* current
        const now = yield* nowMs()
        return [...state.plugins.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((p) => viewOf(p, now))
      }),
      status: (input) =>
        Effect.gen(function*() {
          const state = yield* current
          const plugin = state.plugins.get(input.name)
          if (plugin === undefined) return yield* invalidRequest(`process plugin \`${input.name}\` is not registered`)
          const running = [...instances.entries()].filter(([k]) => k.startsWith(`${input.name}\u0000`)).map(([, inst]) => ({
            userId: inst.userId,
            pid: inst.peer.pid ?? null,
            running: inst.peer.alive(),
            startedAt: inst.startedAt
          }))
          return { ...viewOf(plugin, yield* nowMs()), instances: running }
        }),
      call
    })
  })
