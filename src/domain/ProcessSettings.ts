/**
 * The process-plugin host's settings: their defaults (the reference's `PluginConfig` / `PluginManagerConfig`
 * defaults where it has one), the environment variables that change them, and how a plugin's own timeout and rate
 * limit are resolved against them. Pure.
 */
import { Result } from "effect"

export interface ProcessSettings {
  /** per-call timeout of a plugin that sets none, in seconds */
  readonly requestTimeoutSeconds: number
  /** after `shutdown`, how long a plugin may take to exit before it is killed */
  readonly graceMs: number
  /** ping interval of running plugins; 0 disables */
  readonly healthIntervalMs: number
  /** first restart delay after a crash or a failed start, doubled per consecutive failure up to `backoffMaxMs` */
  readonly backoffBaseMs: number
  readonly backoffMaxMs: number
  /** a running process whose calls fail this many times in a row (timeout, unusable answer) is replaced */
  readonly maxConsecutiveFailures: number
  /** how long a plugin's own request (storage) waits for the plugin's capabilities, i.e. its initialize answer */
  readonly readinessTimeoutMs: number
  /** host->plugin calls per minute for a plugin that sets no limit of its own; 0 = no limit */
  readonly rateLimitPerMinute: number
}

export const DEFAULT_PROCESS_SETTINGS: ProcessSettings = {
  requestTimeoutSeconds: 30,
  graceMs: 5_000,
  healthIntervalMs: 60_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  maxConsecutiveFailures: 3,
  readinessTimeoutMs: 5_000,
  rateLimitPerMinute: 60
}

/** Environment variables that change a setting, and the unit they are given in. */
export const SETTINGS_ENV = {
  PLUGIN_LEDGER_PROCESS_TIMEOUT: { setting: "requestTimeoutSeconds", unit: "seconds", scale: 1, zero: false },
  PLUGIN_LEDGER_PROCESS_RATE_LIMIT: { setting: "rateLimitPerMinute", unit: "calls per minute", scale: 1, zero: true },
  PLUGIN_LEDGER_PROCESS_HEALTH_INTERVAL: { setting: "healthIntervalMs", unit: "seconds", scale: 1000, zero: true },
  PLUGIN_LEDGER_PROCESS_GRACE: { setting: "graceMs", unit: "seconds", scale: 1000, zero: true },
  PLUGIN_LEDGER_PROCESS_READINESS_TIMEOUT: { setting: "readinessTimeoutMs", unit: "seconds", scale: 1000, zero: true }
} as const satisfies Record<string, { readonly setting: keyof ProcessSettings; readonly unit: string; readonly scale: number; readonly zero: boolean }>

/** The settings the environment changes; a value that is not a number in range names the variable. */
export const settingsFromEnv = (env: Readonly<Record<string, string | undefined>>): Result.Result<Partial<ProcessSettings>, string> => {
  const out: Partial<Record<keyof ProcessSettings, number>> = {}
  for (const [name, spec] of Object.entries(SETTINGS_ENV)) {
    const raw = env[name]
    if (raw === undefined || raw.trim() === "") continue
    const value = Number(raw)
    const wholeOnly = spec.setting === "rateLimitPerMinute"
    if (!Number.isFinite(value) || value < 0 || (!spec.zero && value === 0) || (wholeOnly && !Number.isInteger(value)) || value > 86_400) {
      const range = spec.zero ? ">= 0" : "> 0"
      return Result.fail(`${name} must be a ${wholeOnly ? "whole number" : "number"} of ${spec.unit} ${range}, got \`${raw}\``)
    }
    out[spec.setting] = value * spec.scale
  }
  return Result.succeed(out)
}

/** A plugin's own timeout when it is positive; 0 (or an older negative value) means the host's default. */
export const resolveTimeoutSeconds = (pluginSeconds: number | undefined, defaultSeconds: number): number =>
  pluginSeconds !== undefined && pluginSeconds > 0 ? pluginSeconds : defaultSeconds

/** A plugin's own rate limit when it set one (0 = none), else the host's default. */
export const resolveRateLimit = (pluginPerMinute: number | undefined, defaultPerMinute: number): number =>
  pluginPerMinute ?? defaultPerMinute
