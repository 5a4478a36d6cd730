/**
 * Errors a process plugin throws from its handlers, and their JSON-RPC wire form. The codes are the protocol's
 * (Codex library server `protocol.rs`; see README "Process plugin SDK"), not the JSON-RPC spec's.
 */

/** Standard JSON-RPC 2.0 codes. */
export const JSON_RPC_ERROR_CODES = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603
} as const

/** Plugin-specific codes; the host maps each to its own error (rate limit, not found, ...). */
export const PLUGIN_ERROR_CODES = {
  RATE_LIMITED: -32001,
  NOT_FOUND: -32002,
  AUTH_FAILED: -32003,
  API_ERROR: -32004,
  CONFIG_ERROR: -32005
} as const

/** The `error` member of a JSON-RPC response. `data` is left out of the wire line when undefined. */
export interface JsonRpcErrorObject {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/** Base class: anything thrown that extends it goes on the wire with its own code, message and data. */
export abstract class PluginError extends Error {
  abstract readonly code: number
  readonly data: unknown

  constructor(message: string, data?: unknown) {
    super(message)
    this.name = new.target.name
    this.data = data
  }

  toJsonRpcError(): JsonRpcErrorObject {
    return { code: this.code, message: this.message, data: this.data }
  }
}

/** -32001. The host retries after `retryAfterSeconds` (it assumes 60 when the data is missing). */
export class RateLimitedError extends PluginError {
  readonly code = PLUGIN_ERROR_CODES.RATE_LIMITED
  readonly retryAfterSeconds: number

  constructor(retryAfterSeconds: number, message?: string) {
    super(message ?? `Rate limited, retry after ${retryAfterSeconds}s`, { retryAfterSeconds })
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** -32002: the external id / entry does not exist upstream. */
export class NotFoundError extends PluginError {
  readonly code = PLUGIN_ERROR_CODES.NOT_FOUND
}

/** -32003: credentials missing, expired or rejected. */
export class AuthFailedError extends PluginError {
  readonly code = PLUGIN_ERROR_CODES.AUTH_FAILED

  constructor(message?: string, data?: unknown) {
    super(message ?? "Authentication failed", data)
  }
}

/** -32004: the upstream API failed; `statusCode` travels as `data.statusCode`. */
export class ApiError extends PluginError {
  readonly code = PLUGIN_ERROR_CODES.API_ERROR
  readonly statusCode: number | undefined

  constructor(message: string, statusCode?: number) {
    super(message, statusCode === undefined ? undefined : { statusCode })
    this.statusCode = statusCode
  }
}

/** -32005: the admin or user configuration is missing something the plugin needs. */
export class ConfigError extends PluginError {
  readonly code = PLUGIN_ERROR_CODES.CONFIG_ERROR
}

/** -32602, raised by the SDK's own parameter checks; `data.field` names the offending field. */
export class InvalidParamsError extends PluginError {
  readonly code = JSON_RPC_ERROR_CODES.INVALID_PARAMS
  readonly field: string

  constructor(field: string, reason: string) {
    super(`Invalid params: ${reason}`, { field })
    this.field = field
  }
}

/** Any other JSON-RPC error with an explicit code (the SDK uses it for -32600 and -32601). */
export class JsonRpcError extends PluginError {
  readonly code: number

  constructor(code: number, message: string, data?: unknown) {
    super(message, data)
    this.code = code
  }
}

/** The wire form of anything a handler throws: plugin errors keep their code, the rest become -32603. */
export const toJsonRpcError = (error: unknown): JsonRpcErrorObject => {
  if (error instanceof PluginError) return error.toJsonRpcError()
  const message = error instanceof Error && error.message !== "" ? error.message : "Unknown error"
  return { code: JSON_RPC_ERROR_CODES.INTERNAL_ERROR, message }
}
