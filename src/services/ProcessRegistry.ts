/**
 * Process plugins as the log records them: the registration commands (decided on the fold of the log, under its
 * lock, with their causes and idempotency keys), and what the host itself records about them (spawn/initialize
 * failures with the auto-disable they lead to, manifests when they change). Secrets are sealed before the command
 * that refers to them is recorded; a refused command leaves nothing behind.
 */
import { randomUUID } from "node:crypto"
import { realpathSync } from "node:fs"
import * as Path from "node:path"
import { Clock, Effect, Result } from "effect"
import type { SecretStore } from "../adapters/CredentialCipher.ts"
import { type EventCause, ManifestObserved, type PluginEvent, ProcessPluginDisabled, ProcessPluginFailed } from "../domain/Events.ts"
import { checkCommand, isSecretEnvKey } from "../domain/ProcessAllowlist.ts"
import { decideProcess, evolveProcess, FAILURE_THRESHOLD, initialProcessState, type ProcessCommand, type ProcessState, recentFailures } from "../domain/ProcessPluginState.ts"
import { type Manifest, requiresAuthentication } from "../domain/ProcessProtocol.ts"
import { type EngineError, internalError, invalidRequest, type Origin } from "./EngineApi.ts"
import type { EventLog, LogRecord } from "./EventLog.ts"
import { eventOf, newRecordOf, recordsOfKey } from "./EventRecords.ts"
import type { ProcessStorage } from "./ProcessStorage.ts"
import type { Projector } from "./Projector.ts"

/** A process plugin to register: how to start it, and its own call timeout and rate limit (absent: the host's). */
export interface ProcessAddInput {
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | null
  readonly timeoutSeconds?: number
  readonly rateLimitPerMinute?: number
}

export interface ProcessChangeView {
  readonly name: string
  readonly changed: boolean
  readonly seq: number | null
}

const hostCause: EventCause = { actor: "host" }

const causeOf = (origin: Origin): EventCause => ({
  actor: origin.actor,
  ...(origin.requestId === undefined ? {} : { requestId: origin.requestId }),
  ...(origin.client === undefined ? {} : { client: origin.client })
})

const commandEventType: Record<ProcessCommand["_tag"], string> = {
  Add: "ProcessPluginAdded",
  Configure: "ProcessPluginConfigured",
  SetCredentials: "ProcessPluginCredentialsSet",
  Enable: "ProcessPluginEnabled",
  Disable: "ProcessPluginDisabled",
  Remove: "ProcessPluginRemoved"
}

/** The records of an earlier request with this idempotency key (`<key>:<index>`), as the Engine keys them. */
const previousOf = (recordById: (id: string) => LogRecord | undefined, key: string | undefined): ReadonlyArray<LogRecord> =>
  key === undefined ? [] : recordsOfKey(recordById, key)

/** A command's path checked against the allowlist; `node` is the node running the ledger (no PATH lookup). */
export const makeCommandResolver = (folders: ReadonlyArray<string>) => (cmd: string): Result.Result<string, string> => {
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
  return Result.succeed(checked.command === "node" ? process.execPath : checked.command)
}

export const makeProcessRegistry = (deps: {
  readonly log: EventLog["Service"]
  readonly projector: Projector["Service"]
  readonly secrets: SecretStore
  readonly storage: ProcessStorage
  readonly resolveCommand: (cmd: string) => Result.Result<string, string>
  /** stops the running processes of a plugin whose registration changed (they restart with the new one) */
  readonly stopInstances: (name: string) => Effect.Effect<void>
}) => {
  const { log, projector, secrets } = deps
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
  const current: Effect.Effect<ProcessState, EngineError> = log.refresh.pipe(
    Effect.andThen(log.live), // folded at once, not kept: no copy per call
    Effect.map(fold),
    Effect.mapError((e) => internalError(e.message))
  )

  /** Appends what `build` decides on the current state, under the log's lock; projections follow. */
  const record = (
    key: string,
    build: (state: ProcessState, nowMs: number) => Result.Result<ReadonlyArray<PluginEvent>, string>
  ): Effect.Effect<ReadonlyArray<LogRecord>, EngineError> =>
    Effect.gen(function*() {
      const nowMs = yield* Clock.currentTimeMillis
      const result = yield* log.transact(
        (records) => {
          const decided = build(fold(records), nowMs)
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

  /** A retried request: add and setCredentials then skip their checks and sealing, and the command replays. */
  const isRetry = (origin: Origin) =>
    origin.idempotencyKey === undefined
      ? Effect.succeed(false)
      : log.refresh.pipe(
        Effect.map(() => previousOf(log.recordById, origin.idempotencyKey).length > 0),
        Effect.mapError((e) => internalError(e.message))
      )

  const command = (origin: Origin, cmd: ProcessCommand, stop: boolean) =>
    Effect.gen(function*() {
      let replayed: ReadonlyArray<LogRecord> = []
      const appended = yield* record(origin.idempotencyKey ?? randomUUID(), (state) => {
        // a retried request answers from the log; the same key on another command is refused
        const previous = previousOf(log.recordById, origin.idempotencyKey)
        if (previous.length === 0) return Result.mapError(decideProcess(state, cmd, causeOf(origin)), (e) => e.message)
        if (!previous.every((r) => r.type === commandEventType[cmd._tag] && typeof r.data === "object" && r.data !== null && Reflect.get(r.data, "processPlugin") === cmd.name)) {
          return Result.fail(`idempotency key \`${origin.idempotencyKey}\` was already used for a different command`)
        }
        replayed = previous
        return Result.succeed([])
      })
      if (replayed.length > 0) return { name: cmd.name, changed: true, seq: replayed.at(-1)?.seq ?? null }
      if (stop && appended.length > 0) yield* deps.stopInstances(cmd.name)
      return { name: cmd.name, changed: appended.length > 0, seq: appended.at(-1)?.seq ?? null }
    })

  const add = (input: ProcessAddInput, origin: Origin): Effect.Effect<ProcessChangeView, EngineError> =>
    Effect.gen(function*() {
      const resolved = deps.resolveCommand(input.command)
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
        // 0: the host's default, resolved at call time (so a changed default applies)
        timeoutSeconds: input.timeoutSeconds ?? 0,
        ...(input.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: input.rateLimitPerMinute })
      }
      if (yield* isRetry(origin)) return yield* command(origin, cmd, false)
      // checked before sealing: a refused registration leaves no file behind
      const refused = decideProcess(yield* current, cmd, causeOf(origin))
      if (Result.isFailure(refused)) return yield* invalidRequest(refused.failure.message)
      if (Object.keys(secret).length > 0) {
        yield* Effect.try({
          try: () => secrets.write(input.name, { credentials: {}, env: secret }),
          catch: (e) => internalError(`could not seal the plugin's secret environment: ${String(e)}`)
        })
      }
      return yield* command(origin, cmd, false)
    })

  const setCredentials = (input: { readonly name: string; readonly credentials: Readonly<Record<string, unknown>> }, origin: Origin) =>
    Effect.gen(function*() {
      const keys = Object.keys(input.credentials).sort()
      if (yield* isRetry(origin)) return yield* command(origin, { _tag: "SetCredentials", name: input.name, keys, fingerprint: "" }, true)
      if (!(yield* current).plugins.has(input.name)) return yield* invalidRequest(`process plugin \`${input.name}\` is not registered`)
      const fingerprint = yield* Effect.try({
        try: () => secrets.write(input.name, { credentials: input.credentials, env: secrets.read(input.name).env }),
        catch: (e) => internalError(`could not seal the credentials: ${e instanceof Error ? e.message : String(e)}`)
      })
      return yield* command(origin, { _tag: "SetCredentials", name: input.name, keys, fingerprint }, true)
    })

  const remove = (input: { readonly name: string }, origin: Origin) =>
    Effect.gen(function*() {
      const view = yield* command(origin, { _tag: "Remove", name: input.name }, true)
      yield* Effect.try({ try: () => secrets.remove(input.name), catch: (e) => internalError(String(e)) })
      yield* deps.storage.removePlugin(input.name).pipe(Effect.catchDefect((e) => Effect.logWarning(`could not remove the storage of ${input.name}: ${String(e)}`)))
      return view
    })

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

  /** Records the manifest an initialize returned, when it differs from the last one recorded. */
  const recordManifest = (name: string, manifest: Manifest, manifestHash: string) =>
    record(`manifest:${randomUUID()}`, (state) => {
      const latest = state.plugins.get(name)
      if (latest === undefined || latest.manifest?.manifestHash === manifestHash) return Result.succeed([])
      return Result.succeed([new ManifestObserved({
        processPlugin: name,
        name: manifest.name,
        displayName: manifest.displayName,
        version: manifest.version,
        protocolVersion: manifest.protocolVersion,
        capabilities: { ...manifest.capabilities },
        requiresAuthentication: requiresAuthentication(manifest),
        manifestHash,
        previousVersion: latest.manifest?.version ?? null,
        cause: hostCause
      })])
    }).pipe(Effect.catch((e) => Effect.logError(`could not record the manifest of ${name}: ${e.message}`)))

  return {
    current,
    add,
    configure: (input: Omit<Extract<ProcessCommand, { _tag: "Configure" }>, "_tag">, origin: Origin) => command(origin, { _tag: "Configure", ...input }, true),
    setCredentials,
    setEnabled: (input: { readonly name: string; readonly enabled: boolean }, origin: Origin) =>
      command(origin, { _tag: input.enabled ? "Enable" : "Disable", name: input.name }, !input.enabled),
    remove,
    recordFailure,
    recordManifest
  }
}
export type ProcessRegistry = ReturnType<typeof makeProcessRegistry>
