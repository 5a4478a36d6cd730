import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { isValidPluginId, makePluginId, parsePluginId, pluginKey, validateSegment } from "../../src/domain/PluginId.ts"

const errorOf = <A>(r: Result.Result<A, { readonly message: string }>): string =>
  Result.isFailure(r) ? r.failure.message : "ok"

// `plugin/uninstall {"pluginId": key}` on codex 0.116.0 (all -32600 except the valid key, which returns `{}`)
const UNINSTALL_FIXTURES: ReadonlyArray<readonly [string, string]> = [
  ["sample", "invalid plugin key `sample`; expected <plugin>@<marketplace>"],
  ["", "invalid plugin key ``; expected <plugin>@<marketplace>"],
  ["@", "invalid plugin key `@`; expected <plugin>@<marketplace>"],
  ["a@", "invalid plugin key `a@`; expected <plugin>@<marketplace>"],
  ["@b", "invalid plugin key `@b`; expected <plugin>@<marketplace>"],
  ["@@", "invalid plugin key `@@`; expected <plugin>@<marketplace>"],
  ["a@@", "invalid plugin key `a@@`; expected <plugin>@<marketplace>"],
  ["../../etc@debug", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `../../etc@debug`"],
  ["sample@../../etc", "invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed in `sample@../../etc`"],
  ["a b@c", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `a b@c`"],
  ["a@b@c", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `a@b@c`"],
  ["a@b c", "invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed in `a@b c`"],
  ["é@x", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `é@x`"],
  ["x@é", "invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed in `x@é`"],
  ["a.b@c", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `a.b@c`"],
  ["a@b.c", "invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed in `a@b.c`"],
  ["@@b", "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `@@b`"],
  ["ok_-1@m-_2", "ok"]
]

describe("parsePluginId", () => {
  for (const [key, expected] of UNINSTALL_FIXTURES) {
    it(`given key ${JSON.stringify(key)} then ${expected === "ok" ? "it parses" : "it fails like the binary"}`, () => {
      assert.strictEqual(errorOf(parsePluginId(key)), expected)
    })
  }

  it("isValidPluginId answers exactly whether parsePluginId succeeds (fixtures and random keys)", () => {
    for (const [key, expected] of UNINSTALL_FIXTURES) assert.strictEqual(isValidPluginId(key), expected === "ok", key)
    const char = fc.constantFrom("a", "Z", "0", "_", "-", "@", ".", " ", "é", "/", "\n")
    fc.assert(fc.property(fc.array(char, { maxLength: 12 }).map((chars) => chars.join("")), (key) => {
      assert.strictEqual(isValidPluginId(key), Result.isSuccess(parsePluginId(key)), JSON.stringify(key))
    }), { numRuns: 2000 })
  })

  it("given a valid key when parsed then it splits at the last @", () => {
    const parsed = parsePluginId("sample-plugin@debug")
    assert.isTrue(Result.isSuccess(parsed))
    if (Result.isSuccess(parsed)) {
      assert.deepStrictEqual(
        { id: parsed.success.id, plugin: parsed.success.pluginName, marketplace: parsed.success.marketplaceName },
        { id: "sample-plugin@debug", plugin: "sample-plugin", marketplace: "debug" }
      )
    }
  })
})

describe("makePluginId", () => {
  // plugin/install on marketplaces named "" / "bad name" (binary, -32600, no ` in …` suffix)
  it("given an empty plugin name then the plugin name is reported first", () => {
    assert.strictEqual(errorOf(makePluginId("", "")), "invalid plugin name: must not be empty")
  })
  it("given an empty marketplace name then it must not be empty", () => {
    assert.strictEqual(errorOf(makePluginId("ok", "")), "invalid marketplace name: must not be empty")
  })
  it("given a marketplace name with a space then only the segment rule is reported", () => {
    assert.strictEqual(
      errorOf(makePluginId("b", "bad name")),
      "invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed"
    )
  })
  it("given valid names then the id is plugin@marketplace", () => {
    const made = makePluginId("sample-plugin", "debug")
    assert.strictEqual(Result.isSuccess(made) ? made.success.id : "", "sample-plugin@debug")
  })
})

describe("validateSegment / pluginKey", () => {
  it("checks one segment without a key suffix", () => {
    assert.strictEqual(errorOf(Result.mapError(validateSegment("plugin name", "x/y"), (message) => ({ message }))),
      "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed")
    assert.isTrue(Result.isSuccess(validateSegment("marketplace name", "A_z-09")))
  })
  it("pluginKey does not validate (listing prints `@` for empty names)", () => {
    assert.strictEqual(pluginKey("", ""), "@")
  })
})
