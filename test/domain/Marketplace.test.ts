import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  decodeMarketplaceText,
  findPlugin,
  isListedForProduct,
  type MarketplaceFile,
  marketplaceRootOf,
  parseMarketplace,
  resolveInstallTarget,
  resolveInstallTargetIn,
  resolveMarketplace
} from "../../src/domain/Marketplace.ts"
import { readJson } from "../../src/domain/SerdeJson.ts"

const PATH = "/repo/.agents/plugins/marketplace.json"
const messageOf = <A>(r: Result.Result<A, { readonly message: string }>): string => (Result.isFailure(r) ? r.failure.message : "ok")
const valueOf = <A, E>(r: Result.Result<A, E>): A | "failed" => (Result.isSuccess(r) ? r.success : "failed")
const decoded = (text: string): MarketplaceFile => {
  const r = decodeMarketplaceText(PATH, text)
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  return r.success
}
const entry = (name: string, extra = "", path = "./plugins/" + name) =>
  `{"name":"${name}","source":{"source":"local","path":"${path}"}${extra}}`
const file = (name: string, ...entries: ReadonlyArray<string>) => `{"name":"${name}","plugins":[${entries.join(",")}]}`

// [marketplace.json text, text after "invalid marketplace file `{path}`: "] from codex 0.116.0 plugin/read (-32600).
// serde_json positions are reproduced, including "type error before a later syntax error" (`[1,]`).
const SERDE_FIXTURES: ReadonlyArray<readonly [string, string]> = [
  ["{not json", "key must be a string at line 1 column 2"],
  ["{\"plugins\":[]}", "missing field `name` at line 1 column 14"],
  ["{\"name\":\"m\"}", "missing field `plugins` at line 1 column 12"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\"}]}", "missing field `source` at line 1 column 35"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"git\",\"path\":\"./x\"}}]}", "unknown variant `git`, expected `local` at line 1 column 59"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":\"./x\"}]}", "invalid type: string \"./x\", expected internally tagged enum RawMarketplaceManifestPluginSource at line 1 column 49"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\"}}]}", "missing field `path` at line 1 column 63"],
  ["{\"name\":5,\"plugins\":[]}", "invalid type: integer `5`, expected a string at line 1 column 9"],
  ["\n", "EOF while parsing a value at line 2 column 0"],
  ["[]", "invalid length 0, expected struct RawMarketplaceManifest with 3 elements at line 1 column 2"],
  ["{\"name\":\"m\",}", "trailing comma at line 1 column 13"],
  ["{\"name\":\"m\" \"plugins\":[]}", "expected `,` or `}` at line 1 column 13"],
  ["{\"name\":\"m\",\"plugins\":[],}", "trailing comma at line 1 column 26"],
  ["{\"name\":\"m\",\"plugins\":[1,]}", "invalid type: integer `1`, expected struct RawMarketplaceManifestPlugin at line 1 column 24"],
  ["{\"name\":\"m\",\"plugins\":[]} x", "trailing characters at line 1 column 27"],
  ["{\"name\":\"m\",\"plugins\":[]", "EOF while parsing an object at line 1 column 24"],
  ["{\"name\":\"m\",\"plugins\":[", "EOF while parsing a list at line 1 column 23"],
  ["{\"name\":\"m", "EOF while parsing a string at line 1 column 10"],
  ["{\"name\":\"m\\q\"}", "invalid escape at line 1 column 12"],
  ["{\"name\":", "EOF while parsing a value at line 1 column 8"],
  ["{\"name\":tru}", "expected ident at line 1 column 12"],
  ["{\"name\":01}", "invalid number at line 1 column 10"],
  ["{\"name\":-}", "invalid number at line 1 column 10"],
  ["{\"name\":1.}", "invalid number at line 1 column 11"],
  ["{\"name\":\"m\",\"plugins\":[]}}", "trailing characters at line 1 column 26"],
  ["  ", "EOF while parsing a value at line 1 column 2"],
  ["{\"name\"", "EOF while parsing an object at line 1 column 7"],
  ["{\"name\" 1}", "expected `:` at line 1 column 9"],
  ["{\"name\":\"a\\u12\"}", "invalid escape at line 1 column 16"],
  ["nul", "EOF while parsing a value at line 1 column 3"],
  ["{\"name\":\"m\",\"plugins\":[1 2]}", "invalid type: integer `1`, expected struct RawMarketplaceManifestPlugin at line 1 column 24"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"}} {}]}", "expected `,` or `]` at line 1 column 78"],
  ["{\"name\":\"m\",\"interface\":5,\"plugins\":[]}", "invalid type: integer `5`, expected struct RawMarketplaceManifestInterface at line 1 column 25"],
  ["{\"name\":\"m\",\"interface\":{\"displayName\":5},\"plugins\":[]}", "invalid type: integer `5`, expected a string at line 1 column 40"],
  ["{\"name\":\"m\",\"plugins\":{}}", "invalid type: map, expected a sequence at line 1 column 22"],
  ["{\"name\":\"m\",\"plugins\":[[]]}", "invalid length 0, expected struct RawMarketplaceManifestPlugin with 4 elements at line 1 column 25"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"category\":5}]}", "invalid type: integer `5`, expected a string at line 1 column 88"],
  ["{\"name\":null,\"plugins\":[]}", "invalid type: null, expected a string at line 1 column 12"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":5}]}", "invalid type: integer `5`, expected internally tagged enum RawMarketplaceManifestPluginSource at line 1 column 45"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":5}}]}", "invalid type: integer `5`, expected variant identifier at line 1 column 55"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{}}]}", "missing field `source` at line 1 column 46"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":5}}]}", "invalid type: integer `5`, expected a string at line 1 column 72"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"products\":\"x\"}}]}", "invalid type: string \"x\", expected a sequence at line 1 column 100"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"installation\":5}}]}", "expected value at line 1 column 102"],
  ["{\"name\":\"m\",\"plugins\":[{\"source\":{\"source\":\"local\",\"path\":\"./x\"}}]}", "missing field `name` at line 1 column 65"],
  ["5", "invalid type: integer `5`, expected struct RawMarketplaceManifest at line 1 column 1"],
  ["\"x\"", "invalid type: string \"x\", expected struct RawMarketplaceManifest at line 1 column 3"],
  ["null", "invalid type: null, expected struct RawMarketplaceManifest at line 1 column 4"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":[]}]}", "missing field `source` at line 1 column 46"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"path\":\"./x\"}}]}", "missing field `source` at line 1 column 58"],
  ["{\"name\":\"m\",\"plugins\":[5],\"name\":\"n\"}", "invalid type: integer `5`, expected struct RawMarketplaceManifestPlugin at line 1 column 24"],
  ["{\"name\":\"m\",\"name\":\"n\",\"plugins\":[]}", "duplicate field `name` at line 1 column 18"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":true,\"source\":{\"source\":\"local\",\"path\":\"./x\"}}]}", "invalid type: boolean `true`, expected a string at line 1 column 35"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":1.5,\"source\":{\"source\":\"local\",\"path\":\"./x\"}}]}", "invalid type: floating point `1.5`, expected a string at line 1 column 34"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":-3,\"source\":{\"source\":\"local\",\"path\":\"./x\"}}]}", "invalid type: integer `-3`, expected a string at line 1 column 33"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":{},\"source\":{\"source\":\"local\",\"path\":\"./x\"}}]}", "invalid type: map, expected a string at line 1 column 31"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"installation\":\"available\"}}]}", "unknown variant `available`, expected one of `NOT_AVAILABLE`, `AVAILABLE`, `INSTALLED_BY_DEFAULT` at line 1 column 112"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"authentication\":\"on_use\"}}]}", "unknown variant `on_use`, expected `ON_INSTALL` or `ON_USE` at line 1 column 111"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"products\":[5]}}]}", "expected value at line 1 column 99"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"products\":null,\"installation\":null,\"authentication\":null}}]}", "invalid type: null, expected a sequence at line 1 column 101"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"products\":[\"CODEX\"],\"products\":[]}}]}", "duplicate field `products` at line 1 column 117"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"products\":[\"BOGUS\"]}}]}", "unknown variant `BOGUS`, expected one of `CHATGPT`, `chatgpt`, `CODEX`, `codex`, `ATLAS`, `atlas` at line 1 column 105"],
  ["{\"name\":\"m\",\"plugins\":null}", "invalid type: null, expected a sequence at line 1 column 26"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":null}]}", "invalid type: null, expected internally tagged enum RawMarketplaceManifestPluginSource at line 1 column 48"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\",\"path\":\"./y\"}}]}", "duplicate field `path` at line 1 column 89"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"source\":\"local\",\"path\":\"./y\"}}]}", "duplicate field `source` at line 1 column 70"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":null}}]}", "invalid type: null, expected a string at line 1 column 75"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"category\":\"a\",\"category\":\"b\"}]}", "duplicate field `category` at line 1 column 101"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{},\"policy\":{}}]}", "duplicate field `policy` at line 1 column 96"],
  ["{\"name\":\"m\",\"interface\":{\"displayName\":\"a\",\"displayName\":\"b\"},\"plugins\":[]}", "duplicate field `displayName` at line 1 column 56"],
  ["{\"name\":\"m\",\"plugins\":[],\"plugins\":[]}", "duplicate field `plugins` at line 1 column 34"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"name\":\"q\",\"source\":{\"source\":\"local\",\"path\":\"./x\"}}]}", "duplicate field `name` at line 1 column 41"],
  ["{\"name\":\"m\\n\",\"plugins\":[1.5e3]}", "invalid type: floating point `1500.0`, expected struct RawMarketplaceManifestPlugin at line 1 column 30"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"LOCAL\",\"path\":\"./x\"}}]}", "unknown variant `LOCAL`, expected `local` at line 1 column 61"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":\"x\"}]}", "invalid type: string \"x\", expected struct RawMarketplaceManifestPluginPolicy at line 1 column 88"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":null}]}", "invalid type: null, expected struct RawMarketplaceManifestPluginPolicy at line 1 column 89"],
  ["{\"name\":\"m\",\"plugins\":[{\"name\":\"p\",\"source\":{\"source\":\"local\",\"path\":\"./x\"},\"policy\":{\"installation\":null}}]}", "expected value at line 1 column 102"]
]

describe("decodeMarketplaceText: serde_json error texts (binary fixtures)", () => {
  for (const [text, expected] of SERDE_FIXTURES) {
    it(`given ${JSON.stringify(text).slice(0, 90)} then ${expected}`, () => {
      assert.strictEqual(messageOf(decodeMarketplaceText(PATH, text)), `invalid marketplace file \`${PATH}\`: ${expected}`)
    })
  }
  it("counts lines and UTF-8 bytes like serde_json (binary fixtures)", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["\ufeff{\"name\":\"m\",\"plugins\":[]}", "expected value at line 1 column 1"],
      ['{"name":"é" ü}', "expected `,` or `}` at line 1 column 14"],
      ['{"name":"é","plugins":5}', "invalid type: integer `5`, expected a sequence at line 1 column 24"],
      ['{"name":"m",\n  "plugins": [\n    {"name": "p", "source": {"source": "local"}}\n  ]\n}', "missing field `path` at line 3 column 48"],
      ['{"name":"m","plugins":[{"name":"p","source":{"source":"local","path":5},"category":"x"}]}', "invalid type: integer `5`, expected a string at line 1 column 71"],
      ['{"name":"m","plugins":[{"name":"p","source":{"source":"local","path":5}  ,"category":"x"}]}', "invalid type: integer `5`, expected a string at line 1 column 73"]
    ]
    for (const [text, expected] of cases) {
      assert.strictEqual(messageOf(decodeMarketplaceText(PATH, text)), `invalid marketplace file \`${PATH}\`: ${expected}`)
    }
  })
  it("readJson keeps offsets and the last value of a repeated key", () => {
    const node = readJson('{"a":1,"a":[true]}')
    assert.isTrue(Result.isSuccess(node) && node.success.kind === "object" && node.success.entries.length === 2)
  })
})

describe("policies", () => {
  it("given only top-level installPolicy/authPolicy then they are honoured (deliberate: 0.116.0 reads policy{} only)", () => {
    const m = decoded(file("m", entry("a", ',"installPolicy":"NOT_AVAILABLE","authPolicy":"ON_USE"'), entry("f", ',"installPolicy":"BOGUS"')))
    // an unknown top-level value stays ignored, as the reference ignores the key entirely
    assert.deepStrictEqual(m.plugins.map((p) => [p.installPolicy, p.authPolicy]), [["NOT_AVAILABLE", "ON_USE"], ["AVAILABLE", "ON_INSTALL"]])
  })
  it("given the nested form then it wins over a top-level value", () => {
    const m = decoded(file("m",
      entry("b", ',"policy":{"installation":"NOT_AVAILABLE","authentication":"ON_USE"}'),
      entry("c", ',"installPolicy":"INSTALLED_BY_DEFAULT","policy":{"installation":"NOT_AVAILABLE"}'),
      entry("k", ',"policy":{"installation":"AVAILABLE"},"installPolicy":"NOT_AVAILABLE"'),
      entry("e", ',"policy":{}')))
    assert.deepStrictEqual(m.plugins.map((p) => [p.name, p.installPolicy, p.authPolicy]), [
      ["b", "NOT_AVAILABLE", "ON_USE"], ["c", "NOT_AVAILABLE", "ON_INSTALL"], ["k", "AVAILABLE", "ON_INSTALL"], ["e", "AVAILABLE", "ON_INSTALL"]
    ])
  })
  it("given products then only lists naming CODEX (any case) or empty lists are listed by the app-server", () => {
    const m = decoded(file("m",
      entry("a", ',"policy":{"products":["CODEX"]}'), entry("b", ',"policy":{"products":["CHATGPT","codex"]}'),
      entry("c", ',"policy":{"products":["ATLAS"]}'), entry("d", ',"policy":{"products":["CHATGPT"]}'),
      entry("e", ',"policy":{"products":[]}'), entry("f")))
    // binary plugin/list showed a, b, e, f; c and d were hidden (but plugin/read and plugin/install still work)
    assert.deepStrictEqual(m.plugins.filter((p) => isListedForProduct(p)).map((p) => p.name), ["a", "b", "e", "f"])
  })
})

describe("unit enums in serde's map form", () => {
  it("given {\"VARIANT\": null} then it is that variant (binary lists p as NOT_AVAILABLE; CODEX product listed)", () => {
    const m = decoded(file("m", entry("p", ',"policy":{"installation":{"NOT_AVAILABLE":null},"products":[{"CODEX":null}]}')))
    assert.deepStrictEqual(m.plugins.map((p) => [p.installPolicy, p.products]), [["NOT_AVAILABLE", ["CODEX"]]])
  })
  it("given other maps then serde's errors (binary fixtures)", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['{"installation":{"BAD":null}}', "unknown variant `BAD`, expected one of `NOT_AVAILABLE`, `AVAILABLE`, `INSTALLED_BY_DEFAULT` at line 1 column 107"],
      ['{"installation":{"AVAILABLE":5}}', "invalid type: integer `5`, expected unit at line 1 column 115"],
      ['{"installation":{"AVAILABLE":null,"x":1}}', "expected value at line 1 column 118"],
      ['{"installation":{}}', "expected value at line 1 column 103"],
      ['{"products":[{"CODEX":[]}]}', "invalid type: sequence, expected unit at line 1 column 107"],
      ['{"installation":{"AVAILABLE":{}}}', "invalid type: map, expected unit at line 1 column 114"]
    ]
    for (const [json, expected] of cases) {
      const text = file("m", `{"name":"p","source":{"source":"local","path":"./x"},"policy":${json}}`)
      assert.strictEqual(messageOf(decodeMarketplaceText(PATH, text)), `invalid marketplace file \`${PATH}\`: ${expected}`)
    }
  })
})

describe("marketplace interface and category", () => {
  it("given interface {} then null; displayName \"\" is kept", () => {
    assert.isNull(decoded('{"name":"a","interface":{},"plugins":[]}').interface)
    assert.isNull(decoded('{"name":"a","interface":{"displayName":null},"plugins":[]}').interface)
    assert.deepStrictEqual(decoded('{"name":"b","interface":{"displayName":"","extra":1},"plugins":[]}').interface, { displayName: "" })
  })
  it("given category \"\" then it is kept; null is absent", () => {
    const m = decoded(file("m", entry("a", ',"category":""'), entry("b", ',"category":null')))
    assert.deepStrictEqual(m.plugins.map((p) => p.category), ["", undefined])
  })
})

describe("marketplaceRootOf", () => {
  it("given <root>/.agents/plugins/<any file> then the root (the file name is not checked)", () => {
    assert.strictEqual(valueOf(marketplaceRootOf("/r/.agents/plugins/other.json")), "/r")
  })
  it("given any other location then the binary's error", () => {
    for (const p of ["/r/foo/marketplace.json", "/r/x/plugins/marketplace.json"]) {
      assert.strictEqual(messageOf(marketplaceRootOf(p)),
        `invalid marketplace file \`${p}\`: marketplace file must live under \`<root>/.agents/plugins/\``)
    }
  })
})

describe("resolveMarketplace (plugin/list, plugin/read)", () => {
  it("given entries then each source dir is under the marketplace root", () => {
    const m = parseMarketplace(PATH, file("m", entry("a"), entry("b", "", "./x/")))
    assert.deepStrictEqual(valueOf(Result.map(m, (x) => x.plugins.map((p) => [p.id, p.sourceDir]))),
      [["a@m", "/repo/plugins/a"], ["b@m", "/repo/x"]])
  })
  it("given one bad entry then the whole file fails (even when reading another plugin)", () => {
    const text = file("m", entry("p1", "", "x"), entry("p2"))
    assert.strictEqual(messageOf(parseMarketplace(PATH, text)),
      `invalid marketplace file \`${PATH}\`: local plugin source path must start with \`./\``)
  })
  it("given a misplaced file then a bad relative path is reported before the location; no plugins → no error", () => {
    const misplaced = "/r/baz/marketplace.json"
    assert.strictEqual(messageOf(parseMarketplace(misplaced, file("m", entry("p", "", "x")))),
      `invalid marketplace file \`${misplaced}\`: local plugin source path must start with \`./\``)
    assert.strictEqual(messageOf(parseMarketplace(misplaced, file("m", entry("p")))),
      `invalid marketplace file \`${misplaced}\`: marketplace file must live under \`<root>/.agents/plugins/\``)
    assert.isNull(valueOf(Result.map(parseMarketplace(misplaced, file("m")), (m) => m.root)))
  })
  it("findPlugin takes the first entry with the name, else the not-found text", () => {
    const m = parseMarketplace(PATH, file("m", entry("p3", ',"policy":{"installation":"NOT_AVAILABLE"}'), entry("p3")))
    assert.strictEqual(valueOf(Result.map(Result.flatMap(m, (x) => findPlugin(x, "p3")), (p) => p.installPolicy)), "NOT_AVAILABLE")
    assert.strictEqual(messageOf(Result.flatMap(m, (x) => findPlugin(x, "missing-plugin"))), "plugin `missing-plugin` was not found in marketplace `m`")
  })
})

describe("resolveInstallTarget (plugin/install)", () => {
  // binary plugin/install results on marketplace "bad name" with entries a (NOT_AVAILABLE, path "x"), b (path "x"), "c d"
  const bad = decoded(file("bad name", entry("a", ',"policy":{"installation":"NOT_AVAILABLE"}', "x"), entry("b", "", "x"), entry("c d")))
  it("given NOT_AVAILABLE then not available, before name and path checks", () => {
    assert.strictEqual(messageOf(resolveInstallTarget(bad, "a")), "plugin `a` is not available for install in marketplace `bad name`")
  })
  it("given an invalid marketplace or plugin name then the segment error, before the path", () => {
    assert.strictEqual(messageOf(resolveInstallTarget(bad, "b")), "invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed")
    assert.strictEqual(messageOf(resolveInstallTarget(bad, "c d")), "invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed")
  })
  it("given other bad entries then only the requested one matters; products are not checked", () => {
    const m = decoded(file("m", entry("p1", "", "x"), entry("p2", ',"policy":{"products":["CHATGPT"]}')))
    assert.deepStrictEqual(valueOf(Result.map(resolveInstallTarget(m, "p2"), (t) => [t.pluginId.id, t.entry.sourceDir])),
      ["p2@m", "/repo/plugins/p2"])
    assert.strictEqual(messageOf(resolveInstallTarget(m, "nope")), "plugin `nope` was not found in marketplace `m`")
  })
})

describe("resolveInstallTargetIn (plugin/install from a listing's parse)", () => {
  // files every entry of which resolves (the only ones a listing's parse hands over), with the cases that matter here
  const files = [
    file("m", entry("p1"), entry("p2", ',"policy":{"installation":"NOT_AVAILABLE"}'), entry("p3", ',"policy":{"products":["CHATGPT"]}')),
    file("bad name", entry("a"), entry("b", ',"policy":{"installation":"NOT_AVAILABLE"}')),
    file("m", entry("c d"), entry("dup"), entry("dup", ',"policy":{"installation":"NOT_AVAILABLE"}', "./other")),
    file("m", entry("x", ',"category":"Tools","policy":{"authentication":"ON_USE"}', "./nested/deep/x"))
  ]
  it("given any name then the same target or the same error as resolveInstallTarget on the file", () => {
    for (const text of files) {
      const marketplace = parseMarketplace(PATH, text)
      if (Result.isFailure(marketplace)) throw new Error(`not a whole parse: ${marketplace.failure.message}`)
      for (const name of ["p1", "p2", "p3", "a", "b", "c d", "dup", "x", "missing"]) {
        const fromFile = resolveInstallTarget(decoded(text), name)
        const fromListing = resolveInstallTargetIn(marketplace.success, name)
        assert.deepStrictEqual(fromListing, fromFile, `${text} / ${name}`)
      }
    }
  })
})

describe("resolveMarketplace on a decoded file", () => {
  it("keeps name, path and interface", () => {
    const m = resolveMarketplace(decoded('{"name":"c","interface":{"displayName":"Shown"},"plugins":[]}'))
    assert.deepStrictEqual(valueOf(Result.map(m, (x) => [x.name, x.path, x.interface, x.root])), ["c", PATH, { displayName: "Shown" }, "/repo"])
  })
})
