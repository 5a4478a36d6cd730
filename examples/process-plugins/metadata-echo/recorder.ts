/**
 * Payload recorder of the metadata echo plugin (the reference echo plugin's debug helper, same file names and
 * envelope): each call's request and answer are written as a pair of JSON files under `<dataDir>/payloads/`,
 *
 *   {yyyy-MM-dd-HH-mm-ss}-{id}-{method}-request.json
 *   {yyyy-MM-dd-HH-mm-ss}-{id}-{method}-response.json
 *
 * UTC time, so names sort by time; `{id}` is a zero-padded counter per process that pairs the two files and breaks
 * ties within a second. Each file holds `{timestamp, plugin, method, direction, id, config, payload}`, `config`
 * being the admin and user config with secret-looking values replaced by "[REDACTED]". Recording is best effort:
 * a disk problem is logged, never turned into a failed call. The oldest files beyond `maxFiles` are pruned.
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface RecorderLogger {
  readonly warn: (message: string) => void
  readonly debug: (message: string) => void
}

export interface PayloadRecorderOptions {
  readonly pluginName: string
  /** the host's `dataDir`; without it, a folder under the system temp dir */
  readonly dataDir?: string
  readonly enabled?: boolean
  /** files kept (two per call); 0 keeps all */
  readonly maxFiles?: number
  /** the config written into every file: pass it through `redactConfig` */
  readonly configSnapshot: unknown
  readonly logger: RecorderLogger
  readonly now?: () => Date
}

const SECRET_KEY = /token|secret|password|api[-_]?key|credential/i
const REDACTED = "[REDACTED]"

const pad = (value: number, width: number): string => String(value).padStart(width, "0")

const utcStamp = (d: Date): string =>
  `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}-${pad(d.getUTCHours(), 2)}-${pad(d.getUTCMinutes(), 2)}-${pad(d.getUTCSeconds(), 2)}`

/** `metadata/series/search` -> `metadata_series_search`: safe in a file name. */
const fileSafe = (method: string): string => method.replace(/[^a-z0-9]+/gi, "_").replace(/^_+|_+$/g, "")

const redact = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(redact)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, SECRET_KEY.test(key) ? REDACTED : redact(v)]))
  }
  return value
}

/** The configs as written to disk: values under secret-looking keys (at any depth) replaced. */
export const redactConfig = (input: { readonly adminConfig?: unknown; readonly userConfig?: unknown }) => ({
  adminConfig: redact(input.adminConfig ?? {}),
  userConfig: redact(input.userConfig ?? {})
})

export class PayloadRecorder {
  readonly directory: string
  private readonly options: PayloadRecorderOptions
  private seq = 0
  private ready: Promise<boolean> | undefined

  constructor(options: PayloadRecorderOptions) {
    this.options = options
    this.directory = options.dataDir === undefined
      ? join(tmpdir(), `plugin-ledger-${options.pluginName}`, "payloads")
      : join(options.dataDir, "payloads")
  }

  /** Writes the pair of files of one call; never throws. */
  async record(method: string, request: unknown, response: unknown): Promise<void> {
    if (this.options.enabled === false || !(await this.ensureDirectory())) return
    const id = ++this.seq
    const date = (this.options.now ?? (() => new Date()))()
    const base = `${utcStamp(date)}-${pad(id, 4)}-${fileSafe(method)}`
    const envelope = (direction: "request" | "response", payload: unknown) =>
      ({ timestamp: date.toISOString(), plugin: this.options.pluginName, method, direction, id, config: this.options.configSnapshot, payload })
    await this.write(`${base}-request.json`, envelope("request", request))
    await this.write(`${base}-response.json`, envelope("response", response))
    await this.prune()
  }

  private ensureDirectory(): Promise<boolean> {
    this.ready ??= mkdir(this.directory, { recursive: true }).then(
      () => true,
      (error: unknown) => {
        this.options.logger.warn(`cannot create the payload folder ${this.directory}: ${error instanceof Error ? error.message : String(error)}`)
        return false
      }
    )
    return this.ready
  }

  private async write(name: string, envelope: unknown): Promise<void> {
    try {
      await writeFile(join(this.directory, name), JSON.stringify(envelope, null, 2), "utf8")
    } catch (error) {
      this.options.logger.warn(`cannot write the payload file ${name}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private async prune(): Promise<void> {
    const max = this.options.maxFiles ?? 500
    if (max <= 0) return
    try {
      const files = (await readdir(this.directory)).filter((f) => f.endsWith(".json")).sort()
      for (const file of files.slice(0, Math.max(0, files.length - max))) await rm(join(this.directory, file), { force: true })
    } catch (error) {
      this.options.logger.warn(`cannot prune ${this.directory}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
}
