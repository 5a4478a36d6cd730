/**
 * Checks on the params the host sends, with the protocol's messages: a failure is a -32602
 * `Invalid params: <message>` with `data: {field}`. Typed params are rebuilt from checked fields only.
 */
import { InvalidParamsError } from "./PluginErrors.ts"

export type Params = Readonly<Record<string, unknown>>

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** params must be an object; absent is refused (the metadata and dismiss methods need fields). */
export const requireParams = (params: unknown): Params => {
  if (params === undefined || params === null) throw new InvalidParamsError("params", "params is required")
  if (!isRecord(params)) throw new InvalidParamsError("params", "params must be an object")
  return params
}

/** params may be absent (`sync/getUserInfo`, `sync/status`, ...), but if present must be an object. */
export const optionalParams = (params: unknown): Params => {
  if (params === undefined || params === null) return {}
  if (!isRecord(params)) throw new InvalidParamsError("params", "params must be an object")
  return params
}

export const requireString = (params: Params, field: string): string => {
  const value = params[field]
  if (value === undefined || value === null) throw new InvalidParamsError(field, `${field} is required`)
  if (typeof value !== "string") throw new InvalidParamsError(field, `${field} must be a string`)
  if (value.trim() === "") throw new InvalidParamsError(field, `${field} cannot be empty`)
  return value
}

export const optionalString = (params: Params, field: string): string | undefined => {
  const value = params[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== "string") throw new InvalidParamsError(field, `${field} must be a string`)
  return value
}

export const optionalNumber = (params: Params, field: string): number | undefined => {
  const value = params[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== "number" || !Number.isFinite(value)) throw new InvalidParamsError(field, `${field} must be a number`)
  return value
}

export const optionalStringArray = (params: Params, field: string): ReadonlyArray<string> | undefined => {
  const value = params[field]
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new InvalidParamsError(field, `${field} must be an array of strings`)
  }
  return value
}

/** An array of objects, each checked by `item` (which gets the element and its index for error messages). */
export const requireObjectArray = <T>(params: Params, field: string, item: (entry: Params, path: string) => T): ReadonlyArray<T> => {
  const value = params[field]
  if (value === undefined || value === null) throw new InvalidParamsError(field, `${field} is required`)
  if (!Array.isArray(value)) throw new InvalidParamsError(field, `${field} must be an array`)
  return value.map((entry, index) => {
    const path = `${field}[${index}]`
    if (!isRecord(entry)) throw new InvalidParamsError(path, `${path} must be an object`)
    return item(entry, path)
  })
}
