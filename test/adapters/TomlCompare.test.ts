import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { TomlDate, type TomlTable, type TomlValue } from "smol-toml"
import { sameExceptPlugin, sameValue } from "../../src/adapters/TomlCompare.ts"
import { scaled, seedFor } from "../support/Soak.ts"

const ID = "x@y"
const RUNS = scaled(2_000, 50_000)

// The check the edit made before `sameExceptPlugin`: both documents copied without the plugin, then compared whole.
const isTable = (value: TomlValue | undefined): value is TomlTable =>
  typeof value === "object" && !Array.isArray(value) && !(value instanceof Date)
const fullSameValue = (a: TomlValue | undefined, b: TomlValue | undefined): boolean => {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => fullSameValue(x, b[i]))
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.toISOString() === b.toISOString()
  }
  if (isTable(a) || isTable(b)) {
    if (!isTable(a) || !isTable(b)) return false
    const keys = Object.keys(a)
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && fullSameValue(a[k], b[k]))
  }
  return Object.is(a, b)
}
const withoutPlugin = (doc: TomlTable, pluginId: string): TomlTable => {
  const { plugins, ...rest } = doc
  if (!isTable(plugins)) return doc
  const others = Object.entries(plugins).filter(([id]) => id !== pluginId)
  return others.length === 0 ? rest : { ...rest, plugins: Object.fromEntries(others) }
}
const fullCheck = (a: TomlTable, b: TomlTable, pluginId: string): boolean =>
  fullSameValue(withoutPlugin(a, pluginId), withoutPlugin(b, pluginId))

/** a table as smol-toml makes them: no prototype */
const table = (entries: ReadonlyArray<readonly [string, TomlValue]>): TomlTable => {
  const out: TomlTable = Object.create(null)
  for (const [key, value] of entries) out[key] = value
  return out
}

const KEYS = ["plugins", "features", "enabled", ID, "a@b", "model", "toString", "constructor"] as const
const leaf: fc.Arbitrary<TomlValue> = fc.oneof(
  fc.boolean(),
  fc.constantFrom(0, -0, 1, 1.5, Number.NaN, "", "a", "1", new TomlDate("1979-05-27T07:32:00Z"), new TomlDate("1979-05-27"))
)
const { value } = fc.letrec<{ value: TomlValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.array(fc.tuple(fc.constantFrom(...KEYS), tie("value")), { maxLength: 4 }).map(table)
  )
}))
const doc = fc.array(fc.tuple(fc.constantFrom(...KEYS), value), { maxLength: 5 }).map(table)

/** a second document close to the first, so that equal pairs are common */
const variant = (base: TomlTable): fc.Arbitrary<TomlTable> => {
  const entries = Object.entries(base)
  const plugins = base["plugins"]
  const pluginEntries = isTable(plugins) ? Object.entries(plugins) : []
  const withPlugins = (next: TomlValue | undefined) =>
    table([...entries.filter(([k]) => k !== "plugins"), ...(next === undefined ? [] : [["plugins", next] as const])])
  return fc.oneof(
    fc.constant(table(entries)),
    fc.constant(table([...entries].reverse())),
    value.map((v) => withPlugins(table([...pluginEntries.filter(([k]) => k !== ID), [ID, v]]))),
    fc.constant(withPlugins(table(pluginEntries.filter(([k]) => k !== ID)))),
    fc.constant(withPlugins(table([...pluginEntries].reverse()))),
    fc.constant(withPlugins(undefined)),
    value.map((v) => withPlugins(v)),
    fc.tuple(fc.constantFrom(...KEYS), value).map(([k, v]) => withPlugins(table([...pluginEntries, [k, v]]))),
    fc.tuple(fc.constantFrom(...KEYS), value).map(([k, v]) => table([...entries.filter(([key]) => key !== k), [k, v]])),
    fc.constantFrom(...KEYS).map((k) => table(entries.filter(([key]) => key !== k)))
  )
}

describe("sameExceptPlugin", () => {
  it("property: agrees with comparing copies of both documents without the plugin", () => {
    let equal = 0
    fc.assert(
      fc.property(doc.chain((a) => fc.tuple(fc.constant(a), variant(a))), ([a, b]) => {
        const full = fullCheck(a, b, ID)
        if (full) equal++
        assert.strictEqual(sameExceptPlugin(a, b, ID), full)
        assert.strictEqual(sameExceptPlugin(b, a, ID), fullCheck(b, a, ID))
        assert.strictEqual(sameValue(a, b), fullSameValue(a, b))
      }),
      { seed: seedFor("TomlCompare"), numRuns: RUNS }
    )
    // the pairs are not all different: the equal case is exercised too
    assert.isAbove(equal, RUNS / 10)
  })

  it("ignores only the plugin's own table, and a `plugins` left empty", () => {
    const a = table([["plugins", table([[ID, table([["enabled", true]])]])], ["model", "o3"]])
    assert.isTrue(sameExceptPlugin(a, table([["model", "o3"]]), ID))
    assert.isFalse(sameExceptPlugin(a, table([["model", "o3"]]), "a@b"))
    assert.isFalse(sameExceptPlugin(a, table([["model", "o3"], ["plugins", table([])]]), "a@b"))
    assert.isFalse(sameExceptPlugin(table([["plugins", "x"]]), table([]), ID))
    assert.isFalse(sameExceptPlugin(table([["model", 1]]), table([["model", 1.5]]), ID))
  })
})
