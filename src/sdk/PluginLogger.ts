/**
 * Levelled logger for process plugins. It writes to stderr only: stdout carries the protocol, and the host reads
 * stderr line by line, taking the level from the `[LEVEL]` tag (so the format is `ISO [LEVEL] [name] message`).
 */

export type LogLevel = "debug" | "info" | "warn" | "error"

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 }

export const isLogLevel = (value: unknown): value is LogLevel =>
  value === "debug" || value === "info" || value === "warn" || value === "error"

export interface Logger {
  readonly debug: (message: string, data?: unknown) => void
  readonly info: (message: string, data?: unknown) => void
  readonly warn: (message: string, data?: unknown) => void
  readonly error: (message: string, data?: unknown) => void
  readonly setLevel: (level: LogLevel) => void
  readonly level: () => LogLevel
}

export interface LoggerOptions {
  readonly name: string
  readonly level?: LogLevel
  readonly timestamps?: boolean
  /** Where finished lines go; stderr unless a test captures them. */
  readonly write?: (line: string) => void
}

const render = (data: unknown): string => {
  if (data instanceof Error) return data.stack ?? data.message
  if (typeof data === "string") return data
  try {
    return JSON.stringify(data) ?? String(data)
  } catch {
    return String(data)
  }
}

export const createLogger = (options: LoggerOptions): Logger => {
  let current: LogLevel = options.level ?? "info"
  const timestamps = options.timestamps ?? true
  const write = options.write ?? ((line: string) => void process.stderr.write(line))
  const emit = (level: LogLevel) => (message: string, data?: unknown) => {
    if (RANK[level] < RANK[current]) return
    const stamp = timestamps ? `${new Date().toISOString()} ` : ""
    const tail = data === undefined ? "" : ` - ${render(data)}`
    // One protocol-safe line: embedded newlines would be read by the host as separate, level-less log lines.
    write(`${stamp}[${level.toUpperCase()}] [${options.name}] ${message}${tail}`.replace(/\r?\n/g, "\\n") + "\n")
  }
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    setLevel: (level) => {
      current = level
    },
    level: () => current
  }
}
