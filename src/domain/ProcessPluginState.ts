/**
 * Process plugins as the log records them: registration, configs, credential keys, enabled state, failures and the
 * last manifest. `evolveProcess` folds events; `decideProcess` turns a command into events or a refusal. Pure.
 */
import { Data, Result } from "effect"
import {
  type EventCause,
  ManifestObserved,
  type PluginEvent,
  ProcessPluginAdded,
  ProcessPluginConfigured,
  ProcessPluginCredentialsSet,
  ProcessPluginDisabled,
  ProcessPluginEnabled,
  ProcessPluginRemoved
} from "./Events.ts"
import { checkEnvKey, checkName } from "./ProcessAllowlist.ts"

export interface ProcessFailure {
  readonly at: string
  readonly stage: "spawn" | "initialize"
  readonly message: string
}

export interface ProcessPluginStatus {
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly secretEnvKeys: ReadonlyArray<string>
  readonly cwd: string | null
  /** 0: the host's default */
  readonly timeoutSeconds: number
  /** null: the host's default; 0: no limit */
  readonly rateLimitPerMinute: number | null
  readonly enabled: boolean
  readonly disabledReason: string | null
  readonly adminConfig: Readonly<Record<string, unknown>>
  readonly userConfigs: ReadonlyMap<string, Readonly<Record<string, unknown>>>
  readonly credentialKeys: ReadonlyArray<string>
  readonly credentialsFingerprint: string | null
  readonly manifest: ManifestObserved | null
  readonly failures: ReadonlyArray<ProcessFailure>
  readonly lastSeq: number
}

export interface ProcessState {
  readonly plugins: ReadonlyMap<string, ProcessPluginStatus>
  readonly seq: number
}

export const initialProcessState: ProcessState = { plugins: new Map(), seq: 0 }

/** auto-disable after this many spawn/initialize failures within the window */
export const FAILURE_THRESHOLD = 3
export const FAILURE_WINDOW_MS = 3_600_000

const change = (
  state: ProcessState,
  seq: number,
  name: string,
  f: (p: ProcessPluginStatus) => ProcessPluginStatus
): ProcessState => {
  const current = state.plugins.get(name)
  if (current === undefined) return { ...state, seq }
  return { plugins: new Map(state.plugins).set(name, { ...f(current), lastSeq: seq }), seq }
}

/** Folds one event; events about bundle plugins only advance seq. Total over event tags. */
export const evolveProcess = (state: ProcessState, event: PluginEvent, seq: number): ProcessState => {
  switch (event._tag) {
    case "ProcessPluginAdded":
      return {
        plugins: new Map(state.plugins).set(event.processPlugin, {
          name: event.processPlugin,
          command: event.command,
          args: event.args,
          env: event.env,
          secretEnvKeys: event.secretEnvKeys,
          cwd: event.cwd,
          timeoutSeconds: event.timeoutSeconds,
          rateLimitPerMinute: event.rateLimitPerMinute ?? null,
          enabled: true,
          disabledReason: null,
          adminConfig: {},
          userConfigs: new Map(),
          credentialKeys: [],
          credentialsFingerprint: null,
          manifest: null,
          failures: [],
          lastSeq: seq
        }),
        seq
      }
    case "ProcessPluginConfigured":
      return change(state, seq, event.processPlugin, (p) => ({
        ...p,
        ...(event.adminConfig === undefined ? {} : { adminConfig: event.adminConfig }),
        ...(event.userConfig === undefined
          ? {}
          : { userConfigs: new Map(p.userConfigs).set(event.userConfig.userId, event.userConfig.config) }),
        ...(event.timeoutSeconds === undefined ? {} : { timeoutSeconds: event.timeoutSeconds }),
        ...(event.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: event.rateLimitPerMinute })
      }))
    case "ProcessPluginCredentialsSet":
      return change(state, seq, event.processPlugin, (p) => ({
        ...p,
        credentialKeys: event.keys,
        credentialsFingerprint: event.fingerprint
      }))
    case "ProcessPluginEnabled":
      // enabling starts a fresh failure window: old failures must not disable it again at once
      return change(state, seq, event.processPlugin, (p) => ({ ...p, enabled: true, disabledReason: null, failures: [] }))
    case "ProcessPluginDisabled":
      return change(state, seq, event.processPlugin, (p) => ({ ...p, enabled: false, disabledReason: event.reason }))
    case "ProcessPluginRemoved": {
      const plugins = new Map(state.plugins)
      plugins.delete(event.processPlugin)
      return { plugins, seq }
    }
    case "ProcessPluginFailed":
      return change(state, seq, event.processPlugin, (p) => ({
        ...p,
        failures: [...p.failures, { at: event.at, stage: event.stage, message: event.message }].slice(-10)
      }))
    case "ManifestObserved":
      return change(state, seq, event.processPlugin, (p) => ({ ...p, manifest: event }))
    case "PluginInstalled":
    case "PluginEnabled":
    case "PluginDisabled":
    case "PluginUninstalled":
    case "LogTailRepaired":
    case "PluginStateChangedExternally":
    case "ConfigUnreadable":
    case "ProjectionRepaired":
    case "RemoteSyncRecorded":
    case "CuratedMirrorUpdated":
    case "PluginRolledBack":
      return { ...state, seq }
  }
}

/** Failures recorded within the window before `nowMs` (the auto-disable counts these). */
export const recentFailures = (plugin: ProcessPluginStatus, nowMs: number): number =>
  plugin.failures.filter((f) => nowMs - Date.parse(f.at) < FAILURE_WINDOW_MS).length

export class ProcessRefused extends Data.TaggedError("ProcessRefused")<{ readonly message: string }> {}

export type ProcessCommand =
  | {
    readonly _tag: "Add"
    readonly name: string
    readonly command: string
    readonly args: ReadonlyArray<string>
    readonly env: Readonly<Record<string, string>>
    readonly secretEnvKeys: ReadonlyArray<string>
    readonly cwd: string | null
    readonly timeoutSeconds: number
    readonly rateLimitPerMinute?: number
  }
  | {
    readonly _tag: "Configure"
    readonly name: string
    readonly adminConfig?: Readonly<Record<string, unknown>>
    readonly userConfig?: { readonly userId: string; readonly config: Readonly<Record<string, unknown>> }
    readonly timeoutSeconds?: number
    readonly rateLimitPerMinute?: number
  }
  | { readonly _tag: "SetCredentials"; readonly name: string; readonly keys: ReadonlyArray<string>; readonly fingerprint: string }
  | { readonly _tag: "Enable"; readonly name: string }
  | { readonly _tag: "Disable"; readonly name: string }
  | { readonly _tag: "Remove"; readonly name: string }

/** 0 stands for the host's default timeout (the reference's "0 or less: the default"); negatives are refused. */
const checkTimeout = (seconds: number): string | undefined =>
  Number.isFinite(seconds) && seconds >= 0 && seconds <= 3600
    ? undefined
    : `timeout must be between 0 (the host's default) and 3600 seconds, got ${seconds}`

const checkRateLimit = (perMinute: number | undefined): string | undefined =>
  perMinute === undefined || (Number.isInteger(perMinute) && perMinute >= 0 && perMinute <= 1_000_000)
    ? undefined
    : `rate limit must be a whole number of calls per minute between 0 (no limit) and 1000000, got ${perMinute}`

/** The events a command records; an already-enabled plugin enabled again records nothing. */
export const decideProcess = (
  state: ProcessState,
  command: ProcessCommand,
  cause: EventCause
): Result.Result<ReadonlyArray<PluginEvent>, ProcessRefused> => {
  const refuse = (message: string) => Result.fail(new ProcessRefused({ message }))
  const nameProblem = checkName(command.name)
  if (nameProblem !== undefined) return refuse(nameProblem)
  const current = state.plugins.get(command.name)
  if (command._tag === "Add") {
    if (current !== undefined) return refuse(`process plugin \`${command.name}\` is already registered`)
    const problem = Object.keys(command.env).map(checkEnvKey).find((p) => p !== undefined) ?? checkTimeout(command.timeoutSeconds) ??
      checkRateLimit(command.rateLimitPerMinute)
    if (problem !== undefined) return refuse(problem)
    const { _tag, name, ...fields } = command
    return Result.succeed([new ProcessPluginAdded({ processPlugin: name, ...fields, cause })])
  }
  if (current === undefined) return refuse(`process plugin \`${command.name}\` is not registered`)
  const processPlugin = command.name
  switch (command._tag) {
    case "Configure": {
      if (
        command.adminConfig === undefined && command.userConfig === undefined && command.timeoutSeconds === undefined &&
        command.rateLimitPerMinute === undefined
      ) {
        return refuse("nothing to configure: give an admin config, a user config, a timeout or a rate limit")
      }
      const problem = (command.timeoutSeconds === undefined ? undefined : checkTimeout(command.timeoutSeconds)) ??
        checkRateLimit(command.rateLimitPerMinute)
      if (problem !== undefined) return refuse(problem)
      if (command.userConfig !== undefined && command.userConfig.userId === "") return refuse("a user config needs a user id")
      return Result.succeed([new ProcessPluginConfigured({
        processPlugin,
        ...(command.adminConfig === undefined ? {} : { adminConfig: command.adminConfig }),
        ...(command.userConfig === undefined ? {} : { userConfig: command.userConfig }),
        ...(command.timeoutSeconds === undefined ? {} : { timeoutSeconds: command.timeoutSeconds }),
        ...(command.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: command.rateLimitPerMinute }),
        cause
      })])
    }
    case "SetCredentials":
      return Result.succeed([new ProcessPluginCredentialsSet({ processPlugin, keys: command.keys, fingerprint: command.fingerprint, cause })])
    case "Enable":
      return Result.succeed(current.enabled ? [] : [new ProcessPluginEnabled({ processPlugin, cause })])
    case "Disable":
      return Result.succeed(current.enabled ? [new ProcessPluginDisabled({ processPlugin, reason: null, cause })] : [])
    case "Remove":
      return Result.succeed([new ProcessPluginRemoved({ processPlugin, cause })])
  }
}
