/**
 * Param decoding with the reference's serde texts. Every expected string here was checked against
 * `codex app-server` 0.116.0 (`Invalid request: ` + the text), except the u32 forms (no reference method
 * takes an integer; they follow serde's primitive visitor). Not covered, because JSON.parse keeps no lexical
 * form: `1.0`/`1e2` (serde: floats, here integers) and integers beyond 2^53 (their digits are already rounded).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  absolutePath,
  boolean,
  decodeValue,
  describeUnexpected,
  formatFloat,
  integer,
  normalizeAbsolute,
  option,
  rustDebugString,
  sequence,
  string,
  struct,
  type WireType
} from "../../src/rpc/SerdeDecode.ts"
import { methodParams } from "../../src/rpc/WireParams.ts"

const failure = (type: WireType, value: unknown): string => {
  const decoded = decodeValue(type, value)
  if (Result.isSuccess(decoded)) return assert.fail(`expected a failure, got ${JSON.stringify(decoded.success)}`)
  return decoded.failure
}

const success = (type: WireType, value: unknown): unknown => {
  const decoded = decodeValue(type, value)
  if (Result.isFailure(decoded)) return assert.fail(`expected a success, got ${decoded.failure}`)
  return decoded.success
}

const params = (method: string): WireType => {
  const shape = methodParams.get(method)
  if (shape === undefined) return assert.fail(`no params for ${method}`)
  return shape
}

/** Parses JSON text first, as the server does, so numbers go through JSON.parse. */
const wire = (method: string, json: string) => decodeValue(params(method), JSON.parse(json))
const wireFailure = (method: string, json: string): string => {
  const decoded = wire(method, json)
  if (Result.isSuccess(decoded)) return assert.fail(`expected a failure, got ${JSON.stringify(decoded.success)}`)
  return decoded.failure
}
const wireSuccess = (method: string, json: string): unknown => {
  const decoded = wire(method, json)
  if (Result.isFailure(decoded)) return assert.fail(`expected a success, got ${decoded.failure}`)
  return decoded.success
}

describe("describeUnexpected", () => {
  it("null, booleans, sequences and maps", () => {
    assert.strictEqual(describeUnexpected(null), "null")
    assert.strictEqual(describeUnexpected(true), "boolean `true`")
    assert.strictEqual(describeUnexpected(false), "boolean `false`")
    assert.strictEqual(describeUnexpected([]), "sequence")
    assert.strictEqual(describeUnexpected([1, [2]]), "sequence")
    assert.strictEqual(describeUnexpected({}), "map")
    assert.strictEqual(describeUnexpected({ a: 1 }), "map")
  })

  it("integers in the i64/u64 range, with all their digits", () => {
    assert.strictEqual(describeUnexpected(5), "integer `5`")
    assert.strictEqual(describeUnexpected(-5), "integer `-5`")
    assert.strictEqual(describeUnexpected(0), "integer `0`")
    assert.strictEqual(describeUnexpected(JSON.parse("-9223372036854775808")), "integer `-9223372036854775808`")
    assert.strictEqual(describeUnexpected(2 ** 63), "integer `9223372036854775808`")
    assert.strictEqual(describeUnexpected(Number.MAX_SAFE_INTEGER), "integer `9007199254740991`")
  })

  it("floats as serde_json prints them", () => {
    assert.strictEqual(describeUnexpected(1.5), "floating point `1.5`")
    assert.strictEqual(describeUnexpected(JSON.parse("-0")), "floating point `-0.0`")
    assert.strictEqual(describeUnexpected(JSON.parse("-0.0")), "floating point `-0.0`")
    assert.strictEqual(describeUnexpected(JSON.parse("1e-7")), "floating point `1e-7`")
    assert.strictEqual(describeUnexpected(JSON.parse("1e21")), "floating point `1e+21`")
    assert.strictEqual(describeUnexpected(JSON.parse("1e300")), "floating point `1e+300`")
    assert.strictEqual(describeUnexpected(JSON.parse("18446744073709551616")), "floating point `1.8446744073709552e+19`")
    assert.strictEqual(describeUnexpected(JSON.parse("0.0001")), "floating point `0.0001`")
  })

  it("strings with Rust debug escapes", () => {
    assert.strictEqual(describeUnexpected("x"), "string \"x\"")
    assert.strictEqual(describeUnexpected(""), "string \"\"")
    assert.strictEqual(describeUnexpected("a\"b\\c"), "string \"a\\\"b\\\\c\"")
  })
})

describe("formatFloat (serde_json's shortest form)", () => {
  it("plain decimals for decimal exponents -5..=15", () => {
    assert.strictEqual(formatFloat(1), "1.0")
    assert.strictEqual(formatFloat(0), "0.0")
    assert.strictEqual(formatFloat(-0), "-0.0")
    assert.strictEqual(formatFloat(1e-5), "0.00001")
    assert.strictEqual(formatFloat(1.5e-5), "0.000015")
    assert.strictEqual(formatFloat(1e15), "1000000000000000.0")
    assert.strictEqual(formatFloat(9.999e15), "9999000000000000.0")
    assert.strictEqual(formatFloat(123456789012345.6), "123456789012345.6")
    assert.strictEqual(formatFloat(1.2345678901234567e15), "1234567890123456.8")
    assert.strictEqual(formatFloat(-2.5), "-2.5")
  })

  it("scientific with a signed exponent outside that range", () => {
    assert.strictEqual(formatFloat(1e-6), "1e-6")
    assert.strictEqual(formatFloat(1e16), "1e+16")
    assert.strictEqual(formatFloat(-9.223372036854776e18), "-9.223372036854776e+18")
    assert.strictEqual(formatFloat(6.62607015e-34), "6.62607015e-34")
    assert.strictEqual(formatFloat(5e-324), "5e-324")
    assert.strictEqual(formatFloat(1.7976931348623157e308), "1.7976931348623157e+308")
  })
})

describe("rustDebugString", () => {
  it("backslash escapes for quote, backslash, \\n, \\r, \\t and NUL; `'` stays", () => {
    assert.strictEqual(rustDebugString("'\0\t\"\\\r\n"), "\"'\\0\\t\\\"\\\\\\r\\n\"")
  })

  it("\\u{…} for controls, non-printables and grapheme extenders; printable non-ASCII kept", () => {
    // the exact text codex 0.116.0 returned for this value
    const value = "a\u0301\u0080\u00a0\u200b\u{1f600}\u0007\u007f'\u0000\t\"\\\u00ad\u2028\ue000\u0378\u3000 é\u001b\r\n\u0300x\u200d\ufeff\ufffd"
    assert.strictEqual(
      rustDebugString(value),
      "\"a\\u{301}\\u{80}\\u{a0}\\u{200b}😀\\u{7}\\u{7f}'\\0\\t\\\"\\\\\\u{ad}\\u{2028}\\u{e000}\\u{378}\\u{3000} é\\u{1b}\\r\\n\\u{300}x\\u{200d}\\u{feff}�\""
    )
  })
})

describe("decodeValue: scalars", () => {
  it("string", () => {
    assert.strictEqual(success(string, "x"), "x")
    assert.strictEqual(failure(string, null), "invalid type: null, expected a string")
    assert.strictEqual(failure(string, true), "invalid type: boolean `true`, expected a string")
    assert.strictEqual(failure(string, 5), "invalid type: integer `5`, expected a string")
    assert.strictEqual(failure(string, -5), "invalid type: integer `-5`, expected a string")
    assert.strictEqual(failure(string, 1.5), "invalid type: floating point `1.5`, expected a string")
    assert.strictEqual(failure(string, [1]), "invalid type: sequence, expected a string")
    assert.strictEqual(failure(string, { a: 1 }), "invalid type: map, expected a string")
  })

  it("boolean", () => {
    assert.strictEqual(success(boolean, false), false)
    assert.strictEqual(failure(boolean, null), "invalid type: null, expected a boolean")
    assert.strictEqual(failure(boolean, "true"), "invalid type: string \"true\", expected a boolean")
    assert.strictEqual(failure(boolean, 1e-6), "invalid type: floating point `1e-6`, expected a boolean")
  })

  it("u32: invalid value outside its range, invalid type for non-integers", () => {
    assert.strictEqual(success(integer, 0), 0)
    assert.strictEqual(success(integer, 4294967295), 4294967295)
    assert.strictEqual(failure(integer, -1), "invalid value: integer `-1`, expected u32")
    assert.strictEqual(failure(integer, 4294967296), "invalid value: integer `4294967296`, expected u32")
    assert.strictEqual(failure(integer, 1.5), "invalid type: floating point `1.5`, expected u32")
    assert.strictEqual(failure(integer, -0), "invalid type: floating point `-0.0`, expected u32")
    assert.strictEqual(failure(integer, "1"), "invalid type: string \"1\", expected u32")
  })

  it("absolute paths are normalised lexically; relative or empty ones have no base path", () => {
    assert.strictEqual(success(absolutePath, "/tmp/../x/./y//z/"), "/x/y/z")
    assert.strictEqual(success(absolutePath, "/.."), "/")
    assert.strictEqual(success(absolutePath, "//a"), "/a")
    assert.strictEqual(failure(absolutePath, "rel"), "AbsolutePathBuf deserialized without a base path")
    assert.strictEqual(failure(absolutePath, ""), "AbsolutePathBuf deserialized without a base path")
    assert.strictEqual(failure(absolutePath, "./x"), "AbsolutePathBuf deserialized without a base path")
    assert.strictEqual(failure(absolutePath, 1), "invalid type: integer `1`, expected path string")
  })

  it("normalizeAbsolute", () => {
    assert.strictEqual(normalizeAbsolute("/"), "/")
    assert.strictEqual(normalizeAbsolute("/a/b/../../.."), "/")
    assert.strictEqual(normalizeAbsolute("/a/./b/"), "/a/b")
  })
})

describe("decodeValue: options and sequences", () => {
  it("option: null and absent decode to null, anything else to the inner type", () => {
    assert.strictEqual(success(option(string), null), null)
    assert.strictEqual(success(option(string), undefined), null)
    assert.strictEqual(success(option(string), "x"), "x")
    assert.strictEqual(failure(option(string), 5), "invalid type: integer `5`, expected a string")
  })

  it("sequence: the first bad item decides", () => {
    assert.deepStrictEqual(success(sequence(string), ["a", "b"]), ["a", "b"])
    assert.deepStrictEqual(success(sequence(string), []), [])
    assert.strictEqual(failure(sequence(string), "x"), "invalid type: string \"x\", expected a sequence")
    assert.strictEqual(failure(sequence(string), { a: 1 }), "invalid type: map, expected a sequence")
    assert.strictEqual(failure(sequence(string), ["a", 1, null]), "invalid type: integer `1`, expected a string")
    assert.deepStrictEqual(success(sequence(absolutePath), ["/a/../b"]), ["/b"])
    assert.strictEqual(failure(sequence(absolutePath), ["/a", "b"]), "AbsolutePathBuf deserialized without a base path")
  })
})

describe("decodeValue: structs (map form)", () => {
  it("missing fields: options become null, defaults apply, others fail in declaration order", () => {
    assert.deepStrictEqual(wireSuccess("plugin/list", "{}"), { cwds: null, forceRemoteSync: false })
    assert.strictEqual(wireFailure("plugin/read", "{}"), "missing field `marketplacePath`")
    assert.strictEqual(wireFailure("plugin/read", "{\"marketplacePath\":\"/x\"}"), "missing field `pluginName`")
    assert.strictEqual(wireFailure("initialize", "{}"), "missing field `clientInfo`")
    assert.strictEqual(wireFailure("initialize", "{\"clientInfo\":{\"name\":\"a\"}}"), "missing field `version`")
  })

  it("unknown fields are ignored, even deep ones", () => {
    assert.deepStrictEqual(
      wireSuccess("plugin/list", "{\"cwds\":null,\"forceRemoteSync\":false,\"extra\":{\"deep\":[1,2]}}"),
      { cwds: null, forceRemoteSync: false }
    )
    const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`
    assert.deepStrictEqual(wireSuccess("plugin/list", `{"pad":${deep}}`), { cwds: null, forceRemoteSync: false })
  })

  it("fields are checked in input order", () => {
    assert.strictEqual(
      wireFailure("plugin/read", "{\"pluginName\":5,\"marketplacePath\":6}"),
      "invalid type: integer `5`, expected a string"
    )
  })

  it("a default field given null fails", () => {
    assert.strictEqual(wireFailure("plugin/list", "{\"forceRemoteSync\":null}"), "invalid type: null, expected a boolean")
  })

  it("nested struct and option errors", () => {
    assert.strictEqual(wireFailure("plugin/list", "{\"cwds\":\"x\"}"), "invalid type: string \"x\", expected a sequence")
    assert.strictEqual(wireFailure("plugin/list", "{\"cwds\":[1]}"), "invalid type: integer `1`, expected path string")
    assert.strictEqual(wireFailure("plugin/list", "{\"cwds\":[\"rel\"]}"), "AbsolutePathBuf deserialized without a base path")
    assert.strictEqual(wireFailure("plugin/list", "5"), "invalid type: integer `5`, expected struct PluginListParams")
    assert.strictEqual(wireFailure("plugin/list", "\"x\""), "invalid type: string \"x\", expected struct PluginListParams")
    assert.strictEqual(wireFailure("initialize", "{\"clientInfo\":5}"), "invalid type: integer `5`, expected struct ClientInfo")
    assert.strictEqual(
      wireFailure("initialize", "{\"clientInfo\":{\"name\":\"a\",\"version\":\"1\"},\"capabilities\":{\"experimentalApi\":1}}"),
      "invalid type: integer `1`, expected a boolean"
    )
    assert.strictEqual(
      wireFailure("plugin/history", "{\"limit\":-1}"),
      "invalid value: integer `-1`, expected u32"
    )
  })

  it("paths are normalised in decoded params", () => {
    assert.deepStrictEqual(
      wireSuccess("plugin/read", "{\"marketplacePath\":\"/tmp/../x/./y//z\",\"pluginName\":\"p\"}"),
      { marketplacePath: "/x/y/z", pluginName: "p" }
    )
  })

  it("our idempotencyKey extension is read by key", () => {
    assert.deepStrictEqual(wireSuccess("plugin/uninstall", "{\"pluginId\":\"a@b\",\"idempotencyKey\":\"k\"}"), {
      pluginId: "a@b",
      idempotencyKey: "k",
      forceRemoteSync: false
    })
  })
})

describe("decodeValue: structs (sequence form)", () => {
  it("fields in declaration order", () => {
    assert.deepStrictEqual(wireSuccess("plugin/read", "[\"/a/../b\",\"p\"]"), { marketplacePath: "/b", pluginName: "p" })
  })

  it("a missing trailing element takes the field's default, else fails with its index", () => {
    assert.deepStrictEqual(wireSuccess("plugin/list", "[null]"), { cwds: null, forceRemoteSync: false })
    assert.strictEqual(wireFailure("plugin/list", "[]"), "invalid length 0, expected struct PluginListParams with 2 elements")
    assert.strictEqual(wireFailure("plugin/read", "[\"/a\"]"), "invalid length 1, expected struct PluginReadParams with 2 elements")
    assert.strictEqual(
      wireFailure("initialize", "[[\"n\",null,\"v\"]]"),
      "invalid length 1, expected struct InitializeParams with 2 elements"
    )
    assert.strictEqual(wireFailure("initialize", "[[\"n\",\"v\"]]"), "invalid length 2, expected struct ClientInfo with 3 elements")
    // experimentalApi has a default, optOutNotificationMethods (index 1) has none
    assert.strictEqual(
      wireFailure("initialize", "[[\"n\",null,\"v\"],[]]"),
      "invalid length 1, expected struct InitializeCapabilities with 2 elements"
    )
  })

  it("extra elements fail after the fields are read", () => {
    assert.strictEqual(wireFailure("plugin/read", "[\"/a\",\"b\",\"c\"]"), "invalid length 3, expected 2 elements in sequence")
    assert.strictEqual(wireFailure("plugin/list", "[null,false,1,2]"), "invalid length 4, expected 2 elements in sequence")
    assert.strictEqual(wireFailure("plugin/read", "[1,\"b\",\"c\"]"), "invalid type: integer `1`, expected path string")
    assert.strictEqual(
      failure(struct("One", [{ key: "a", type: string }]), ["x", "y"]),
      "invalid length 2, expected 1 element in sequence"
    )
    assert.strictEqual(failure(struct("One", [{ key: "a", type: string }]), []), "invalid length 0, expected struct One with 1 element")
    assert.strictEqual(wireFailure("plugin/enable", "[]"), "invalid length 0, expected struct PluginEnableParams with 1 element")
  })

  it("extension fields are not positions: the reference's shapes are kept", () => {
    assert.deepStrictEqual(wireSuccess("plugin/install", "[\"/x\",\"p\"]"), {
      marketplacePath: "/x",
      pluginName: "p",
      forceRemoteSync: false,
      idempotencyKey: null
    })
    assert.strictEqual(
      wireFailure("plugin/install", "[\"/x\"]"),
      "invalid length 1, expected struct PluginInstallParams with 3 elements"
    )
    assert.deepStrictEqual(wireSuccess("plugin/uninstall", "[\"a@b\"]"), {
      pluginId: "a@b",
      forceRemoteSync: false,
      idempotencyKey: null
    })
    assert.strictEqual(wireFailure("plugin/uninstall", "[\"a@b\",false,1]"), "invalid length 3, expected 2 elements in sequence")
  })
})
