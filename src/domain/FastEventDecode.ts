/**
 * A fast path in front of the Schema decoder of events, for folds over long logs (a replay, opening a ledger):
 * the four events almost every record holds are checked by hand. It answers only when it is sure: a shape it does
 * not know, or any doubt, gives undefined and the caller decodes with the Schema (`eventOf`), so the result is
 * the same either way (the test decodes both ways and compares). Unknown keys are dropped, as the Schema does.
 * The values are plain objects of the event types, not class instances: for folding (`evolve`), not for encoding.
 */
import { Actor, AuthPolicy, type EventCause, InstallPolicy, type PluginEvent } from "./Events.ts"

type Data = { readonly [key: string]: unknown }

const isObject = (value: unknown): value is Data => typeof value === "object" && value !== null && !Array.isArray(value)

/** An own string property (JSON data has no inherited ones, but `__proto__` and friends must not count). */
const stringAt = (data: Data, key: string): string | undefined => {
  if (!Object.hasOwn(data, key)) return undefined
  const value = data[key]
  return typeof value === "string" ? value : undefined
}

/** The cause, or undefined when it is not exactly what `EventCause` accepts. */
const causeOf = (value: unknown): EventCause | undefined => {
  if (!isObject(value)) return undefined
  const actor = Actor.literals.find((a) => a === stringAt(value, "actor"))
  if (actor === undefined) return undefined
  const cause: { -readonly [K in keyof EventCause]: EventCause[K] } = { actor }
  for (const key of ["requestId", "client", "syncId"] as const) {
    if (!Object.hasOwn(value, key)) continue
    const field = value[key]
    if (typeof field !== "string") return undefined
    cause[key] = field
  }
  return cause
}

/** The event a record holds, when it is one of the common kinds and valid; undefined: ask the Schema decoder. */
export const fastEventOf = (type: string, data: unknown): PluginEvent | undefined => {
  if (!isObject(data)) return undefined
  const pluginId = stringAt(data, "pluginId")
  if (pluginId === undefined) return undefined
  const cause = causeOf(Object.hasOwn(data, "cause") ? data["cause"] : undefined)
  if (cause === undefined) return undefined
  switch (type) {
    case "PluginEnabled":
    case "PluginDisabled":
    case "PluginUninstalled":
      return { _tag: type, pluginId, cause }
    case "PluginInstalled": {
      const pluginName = stringAt(data, "pluginName")
      const marketplaceName = stringAt(data, "marketplaceName")
      const marketplacePath = stringAt(data, "marketplacePath")
      const sourcePath = stringAt(data, "sourcePath")
      const version = stringAt(data, "version")
      const treeHash = stringAt(data, "treeHash")
      const installPolicy = InstallPolicy.literals.find((p) => p === stringAt(data, "installPolicy"))
      const authPolicy = AuthPolicy.literals.find((p) => p === stringAt(data, "authPolicy"))
      if (
        pluginName === undefined || marketplaceName === undefined || marketplacePath === undefined ||
        sourcePath === undefined || version === undefined || treeHash === undefined ||
        installPolicy === undefined || authPolicy === undefined
      ) return undefined
      return {
        _tag: "PluginInstalled",
        pluginId,
        pluginName,
        marketplaceName,
        marketplacePath,
        sourcePath,
        version,
        treeHash,
        installPolicy,
        authPolicy,
        cause
      }
    }
    default:
      return undefined
  }
}
