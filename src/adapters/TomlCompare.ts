import type { TomlTable, TomlValue } from "smol-toml"

export const isTable = (value: TomlValue | undefined): value is TomlTable =>
  typeof value === "object" && !Array.isArray(value) && !(value instanceof Date)

/**
 * Deep equality of parsed TOML values; key order does not matter, value types do. Loops rather than `every` and
 * `Object.keys`: it runs over the whole config.toml after every edit (`sameExceptPlugin`), and allocated per table.
 */
export const sameValue = (a: TomlValue | undefined, b: TomlValue | undefined): boolean => {
  // most values compared are leaves (a config.toml's tables end in strings and booleans): decided before the three
  // tests of the kinds of object. A leaf never equals an object, and Object.is is what the end of this compares by
  if (typeof a !== "object" || typeof b !== "object") return Object.is(a, b)
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false
    return true
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.toISOString() === b.toISOString()
  }
  if (isTable(a) || isTable(b)) {
    if (!isTable(a) || !isTable(b)) return false
    let keys = 0
    for (const k in a) {
      if (!(k in b) || !sameValue(a[k], b[k])) return false
      keys++
    }
    for (const _ in b) keys--
    return keys === 0
  }
  return Object.is(a, b)
}

/** Number of keys of `table` other than `key`. */
const keysBesides = (table: TomlTable, key: string): number => {
  let count = 0
  for (const k in table) if (k !== key) count++
  return count
}

/**
 * Whether `doc`'s `plugins` survives when `plugins.<id>` is taken out: a table left empty counts as absent, a
 * `plugins` that is not a table stays as it is.
 */
const keepsPlugins = (doc: TomlTable, pluginId: string): boolean => {
  const plugins = doc["plugins"]
  return isTable(plugins) ? keysBesides(plugins, pluginId) > 0 : "plugins" in doc
}

/**
 * Whether two documents are the same once `plugins.<id>` is taken out of both (a `plugins` table left empty counts
 * as absent). The check an edit of one plugin's table must pass, written without copying either document: the
 * documents are the whole config.toml, compared after every edit.
 */
export const sameExceptPlugin = (a: TomlTable, b: TomlTable, pluginId: string): boolean => {
  let keys = 0
  for (const key in a) {
    if (key === "plugins") continue
    if (!(key in b) || !sameValue(a[key], b[key])) return false
    keys++
  }
  if (keys !== keysBesides(b, "plugins")) return false
  const pluginsA = a["plugins"]
  const pluginsB = b["plugins"]
  if (isTable(pluginsA) && isTable(pluginsB)) {
    // the usual case, in two passes over the plugins (each `for in` of a table of 100 keys lists them all first):
    // the same other plugins, as many on each side. Nothing left on either side passes too (both count as absent)
    let plugins = 0
    for (const id in pluginsA) {
      if (id === pluginId) continue
      if (!(id in pluginsB) || !sameValue(pluginsA[id], pluginsB[id])) return false
      plugins++
    }
    return plugins === keysBesides(pluginsB, pluginId)
  }
  const keepsA = keepsPlugins(a, pluginId)
  return keepsA === keepsPlugins(b, pluginId) && (!keepsA || sameValue(pluginsA, pluginsB))
}
