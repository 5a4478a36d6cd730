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
  readonly timeoutSeconds: number
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

export const DEFAULT_TIMEOUT_SECONDS = 30
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
        ...(event.timeoutSeconds === undefined ? {} : { timeoutSeconds: event.timeoutSeconds })
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

/** The admin-entered name rule of the reference: 1-100 of [a-z0-9-], not starting or ending with '-'. */
export const checkName = (name: string): string | undefined =>
  /^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$/.test(name)
    ? undefined
    : `invalid process plugin name \`${name}\`: use 1-100 lowercase letters, digits and hyphens, not starting or ending with a hyphen`

/** Variables a plugin may not set: they change how the interpreter or the loader runs (the reference's list). */
const blockedEnv: ReadonlySet<string> = new Set([
  "LD_LIBRARY_PATH", "LD_PRELOAD", "LD_AUDIT", "LD_DEBUG", "LD_PROFILE", "LD_DEBUG_OUTPUT", "DYLD_LIBRARY_PATH",
  "DYLD_INSERT_LIBRARIES", "DYLD_FALLBACK_LIBRARY_PATH", "PATH", "IFS", "HOME", "USER", "LOGNAME", "USERNAME", "SHELL",
  "BASH_ENV", "ENV", "CDPATH", "PROMPT_COMMAND", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "NODE_PATH",
  "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "RUBYLIB", "RUBYOPT", "PERL5LIB", "PERL5OPT", "MALLOC_CHECK_", "MALLOC_PERTURB_",
  "GIT_SSH", "GIT_SSH_COMMAND", "SSH_AUTH_SOCK", "SSH_ASKPASS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
  "LC_ALL", "LANG", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"
])

export const checkEnvKey = (key: string): string | undefined => {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `invalid environment variable name \`${key}\``
  if (blockedEnv.has(key.toUpperCase())) return `environment variable \`${key}\` may not be set for a plugin (it changes how the interpreter or loader runs)`
  return undefined
}

/** Variables whose values are kept sealed with the credentials instead of in the log. */
export const isSecretEnvKey = (key: string): boolean => /KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH|BEARER|COOKIE|SESSION/i.test(key)

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
  }
  | {
    readonly _tag: "Configure"
    readonly name: string
    readonly adminConfig?: Readonly<Record<string, unknown>>
    readonly userConfig?: { readonly userId: string; readonly config: Readonly<Record<string, unknown>> }
    readonly timeoutSeconds?: number
  }
  | { readonly _tag: "SetCredentials"; readonly name: string; readonly keys: ReadonlyArray<string>; readonly fingerprint: string }
  | { readonly _tag: "Enable"; readonly name: string }
  | { readonly _tag: "Disable"; readonly name: string }
  | { readonly _tag: "Remove"; readonly name: string }

const checkTimeout = (seconds: number): string | undefined =>
  Number.isFinite(seconds) && seconds > 0 && seconds <= 3600 ? undefined : `timeout must be between 0 and 3600 seconds, got ${seconds}`

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
    const problem = Object.keys(command.env).map(checkEnvKey).find((p) => p !== undefined) ?? checkTimeout(command.timeoutSeconds)
    if (problem !== undefined) return refuse(problem)
    const { _tag, name, ...fields } = command
    return Result.succeed([new ProcessPluginAdded({ processPlugin: name, ...fields, cause })])
  }
  if (current === undefined) return refuse(`process plugin \`${command.name}\` is not registered`)
  const processPlugin = command.name
  switch (command._tag) {
    case "Configure": {
      if (command.adminConfig === undefined && command.userConfig === undefined && command.timeoutSeconds === undefined) {
        return refuse("nothing to configure: give an admin config, a user config or a timeout")
      }
      const problem = command.timeoutSeconds === undefined ? undefined : checkTimeout(command.timeoutSeconds)
      if (problem !== undefined) return refuse(problem)
      if (command.userConfig !== undefined && command.userConfig.userId === "") return refuse("a user config needs a user id")
      return Result.succeed([new ProcessPluginConfigured({
        processPlugin,
        ...(command.adminConfig === undefined ? {} : { adminConfig: command.adminConfig }),
        ...(command.userConfig === undefined ? {} : { userConfig: command.userConfig }),
        ...(command.timeoutSeconds === undefined ? {} : { timeoutSeconds: command.timeoutSeconds }),
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
