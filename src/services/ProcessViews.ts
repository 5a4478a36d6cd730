/**
 * What the process-plugin host shows of a plugin (its registration resolved against the host's settings, its last
 * recorded manifest, its recent failures), of its running processes, and of a `process test` run.
 */
import { type ProcessPluginStatus, recentFailures } from "../domain/ProcessPluginState.ts"
import { type ProcessSettings, resolveRateLimit, resolveTimeoutSeconds } from "../domain/ProcessSettings.ts"

export interface ProcessPluginView {
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly envKeys: ReadonlyArray<string>
  readonly cwd: string | null
  /** the timeout calls get (the plugin's own, else the host's default) */
  readonly timeoutSeconds: number
  /** the limit calls get (the plugin's own, else the host's default); 0: none */
  readonly rateLimitPerMinute: number
  readonly enabled: boolean
  readonly disabledReason: string | null
  readonly adminConfig: Readonly<Record<string, unknown>>
  readonly userIds: ReadonlyArray<string>
  readonly credentialKeys: ReadonlyArray<string>
  readonly credentialsFingerprint: string | null
  readonly manifest: {
    readonly name: string
    readonly version: string
    readonly protocolVersion: string
    readonly capabilities: unknown
    readonly requiresAuthentication: boolean | null
  } | null
  readonly recentFailures: number
  readonly lastSeq: number
}

export interface ProcessInstanceView {
  /** null: the plugin's own process (calls without a user) */
  readonly userId: string | null
  readonly pid: number | null
  readonly running: boolean
  readonly startedAt: string
}

export interface ProcessTestView {
  readonly name: string
  readonly ok: boolean
  readonly error: string | null
  readonly manifest: { readonly name: string; readonly version: string; readonly protocolVersion: string; readonly capabilities: unknown } | null
  readonly pingMs: number | null
}

export const viewOf = (p: ProcessPluginStatus, nowMs: number, settings: ProcessSettings): ProcessPluginView => ({
  name: p.name,
  command: p.command,
  args: p.args,
  envKeys: [...Object.keys(p.env), ...p.secretEnvKeys].sort(),
  cwd: p.cwd,
  timeoutSeconds: resolveTimeoutSeconds(p.timeoutSeconds, settings.requestTimeoutSeconds),
  rateLimitPerMinute: resolveRateLimit(p.rateLimitPerMinute ?? undefined, settings.rateLimitPerMinute),
  enabled: p.enabled,
  disabledReason: p.disabledReason,
  adminConfig: p.adminConfig,
  userIds: [...p.userConfigs.keys()].sort(),
  credentialKeys: p.credentialKeys,
  credentialsFingerprint: p.credentialsFingerprint,
  manifest: p.manifest === null ? null : {
    name: p.manifest.name,
    version: p.manifest.version,
    protocolVersion: p.manifest.protocolVersion,
    capabilities: p.manifest.capabilities,
    requiresAuthentication: p.manifest.requiresAuthentication ?? null
  },
  recentFailures: recentFailures(p, nowMs),
  lastSeq: p.lastSeq
})

