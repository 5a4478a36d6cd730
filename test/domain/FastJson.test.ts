import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import { parseJsonFast } from "../../src/domain/FastJson.ts"
import { decodeManifestName, decodeManifestText, decodeManifestTextExact } from "../../src/domain/Manifest.ts"
import { decodeMarketplaceText, decodeMarketplaceTextExact } from "../../src/domain/Marketplace.ts"
import { readJson, toPlain } from "../../src/domain/SerdeJson.ts"

const PATH = "/repo/.agents/plugins/marketplace.json"
const ROOT = "/repo/plugins/p"

/** The fast path may only answer when the serde emulation gives exactly the same answer. */
const sameOutcome = <A, E extends { readonly message: string }>(fast: Result.Result<A, E>, exact: Result.Result<A, E>) => {
  if (Result.isSuccess(exact)) assert.deepStrictEqual(fast, exact)
  else assert.strictEqual(Result.isFailure(fast) ? fast.failure.message : "accepted", exact.failure.message)
}
const agreeOnMarketplace = (text: string) =>
  sameOutcome(decodeMarketplaceText(PATH, text), decodeMarketplaceTextExact(PATH, text))
const agreeOnManifest = (text: string) => {
  const decoded = decodeManifestText(text, ROOT)
  sameOutcome(decoded, decodeManifestTextExact(text, ROOT))
  // what an install decodes of it: the same verdict, the same name
  sameOutcome(decodeManifestName(text, ROOT), Result.map(decoded, ({ manifest }) => manifest.name))
}

// JSON text with duplicate keys, escapes (lone surrogates too), odd numbers and whitespace: a document is a tree of
// entries written out by hand, so anything serde might object to can appear.
type Doc =
  | { readonly kind: "raw"; readonly text: string }
  | { readonly kind: "string"; readonly units: ReadonlyArray<number>; readonly escapeAll: boolean }
  | { readonly kind: "array"; readonly items: ReadonlyArray<Doc> }
  | { readonly kind: "object"; readonly entries: ReadonlyArray<readonly [Doc & { readonly kind: "string" }, Doc]> }

const KEYS = [
  "name", "plugins", "source", "path", "policy", "installation", "authentication", "products", "category", "interface",
  "displayName", "installPolicy", "authPolicy", "version", "description", "skills", "mcpServers", "apps",
  "websiteUrl", "websiteURL", "privacyPolicyURL", "capabilities", "screenshots", "defaultPrompt", "composerIcon",
  "logo", "brandColor", "__proto__", "constructor", "x"
]
const WORDS = [
  "local", "./p", "./plugins/a", "../x", "AVAILABLE", "NOT_AVAILABLE", "INSTALLED_BY_DEFAULT", "ON_USE", "ON_INSTALL",
  "CODEX", "codex", "ATLAS", "chatgpt", "Other", "./assets/icon.png", "#12ab34", "", " a  b ", "é", "😀"
]

const unitsOf = (s: string): ReadonlyArray<number> => [...s].flatMap((c) => Array.from({ length: c.length }, (_, i) => c.charCodeAt(i)))
const str = (s: string, escapeAll = false): Doc & { readonly kind: "string" } => ({ kind: "string", units: unitsOf(s), escapeAll })

const stringDoc: fc.Arbitrary<Doc & { readonly kind: "string" }> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...WORDS).map((w) => str(w)) },
  { weight: 1, arbitrary: fc.constantFrom(...WORDS).map((w) => str(w, true)) },
  {
    weight: 1,
    arbitrary: fc.record({
      units: fc.array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.constant(0x0a)), {
        maxLength: 4
      }),
      escapeAll: fc.boolean()
    }).map(({ escapeAll, units }) => ({ kind: "string" as const, units, escapeAll }))
  }
)
const scalarDoc: fc.Arbitrary<Doc> = fc.oneof(
  stringDoc,
  fc.constantFrom("null", "true", "false", "0", "-0", "1.5", "1e400", "-12", "123456789012345678901234567890", "2.50E-3")
    .map((text) => ({ kind: "raw" as const, text }))
)
const { doc } = fc.letrec<{ doc: Doc }>((tie) => ({
  doc: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalarDoc,
    fc.array(tie("doc"), { maxLength: 4 }).map((items) => ({ kind: "array" as const, items })),
    fc.array(fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...KEYS).map((k) => str(k)) }, { weight: 1, arbitrary: stringDoc }), tie("doc")), {
      maxLength: 5
    }).map((entries) => ({ kind: "object" as const, entries }))
  )
}))

const hex = (unit: number) => `\\u${unit.toString(16).padStart(4, "0")}`
const writeString = (d: Doc & { readonly kind: "string" }): string => {
  let out = "\""
  for (const unit of d.units) {
    const c = String.fromCharCode(unit)
    if (d.escapeAll || unit < 0x20 || (unit >= 0xd800 && unit <= 0xdfff)) out += hex(unit)
    else if (c === "\"" || c === "\\") out += `\\${c}`
    else out += c
  }
  return `${out}"`
}
const write = (d: Doc, ws: string): string => {
  switch (d.kind) {
    case "raw":
      return d.text
    case "string":
      return writeString(d)
    case "array":
      return `[${ws}${d.items.map((i) => write(i, ws)).join(`,${ws}`)}${ws}]`
    case "object":
      return `{${ws}${d.entries.map(([k, v]) => `${writeString(k)}${ws}:${ws}${write(v, ws)}`).join(`,${ws}`)}${ws}}`
  }
}
const whitespace = fc.constantFrom("", " ", "\n  ", "\t", "\r\n")

const policyDoc = fc.record({
  installation: fc.option(fc.oneof(stringDoc, doc), { nil: undefined }),
  authentication: fc.option(fc.oneof(stringDoc, doc), { nil: undefined }),
  products: fc.option(fc.oneof(fc.array(stringDoc, { maxLength: 3 }).map((items): Doc => ({ kind: "array", items })), doc), {
    nil: undefined
  })
}).map(({ authentication, installation, products }): Doc => ({
  kind: "object",
  entries: [
    ...(installation === undefined ? [] : [[str("installation"), installation] as const]),
    ...(authentication === undefined ? [] : [[str("authentication"), authentication] as const]),
    ...(products === undefined ? [] : [[str("products"), products] as const])
  ]
}))
/** Mostly well-formed marketplace entries, with extra (possibly repeated or mistyped) fields mixed in. */
const pluginDoc = fc.record({
  name: stringDoc,
  path: stringDoc,
  policy: fc.option(policyDoc, { nil: undefined }),
  extra: fc.array(fc.tuple(fc.constantFrom(...KEYS).map((k) => str(k)), doc), { maxLength: 2 })
}).map(({ extra, name, path, policy }): Doc => ({
  kind: "object",
  entries: [
    [str("name"), name],
    [str("source"), { kind: "object", entries: [[str("source"), str("local")], [str("path"), path]] }],
    ...(policy === undefined ? [] : [[str("policy"), policy] as const]),
    ...extra
  ]
}))
const marketplaceDoc = fc.record({
  name: stringDoc,
  plugins: fc.array(pluginDoc, { maxLength: 3 }),
  extra: fc.array(fc.tuple(fc.constantFrom(...KEYS).map((k) => str(k)), doc), { maxLength: 2 })
}).map(({ extra, name, plugins }): Doc => ({
  kind: "object",
  entries: [[str("name"), name], [str("plugins"), { kind: "array", items: plugins }], ...extra]
}))
const manifestDoc = fc.record({
  top: fc.array(fc.tuple(fc.constantFrom(...KEYS).map((k) => str(k)), doc), { maxLength: 4 }),
  iface: fc.array(fc.tuple(fc.constantFrom(...KEYS).map((k) => str(k)), fc.oneof(stringDoc, doc)), { maxLength: 5 })
}).map(({ iface, top }): Doc => ({ kind: "object", entries: [...top, [str("interface"), { kind: "object", entries: iface }]] }))

const RUNS = 2_000

describe("parseJsonFast", () => {
  it("given plain JSON then it is JSON.parse's value", () => {
    assert.deepStrictEqual(parseJsonFast(" {\"a\": [1, \"\\u00e9\\ud83d\\ude00\", null], \"b\": {}} "), {
      value: { a: [1, "é😀", null], b: {} }
    })
  })

  it("given colons, quotes and backslashes inside strings then only the keys written are counted", () => {
    for (const text of ["{\"a:b\":\"c:d\",\"e\\\"f:\":\"\\\\:\"}", "[\"::\",{\"k\":\"\\\\\\\":\"}]", "{\"\\\\\":{\":\":1}}"]) {
      assert.deepStrictEqual(parseJsonFast(text), { value: JSON.parse(text) }, text)
    }
    // a key repeated behind a string holding `\":` or ending in an escaped backslash is still seen
    for (const text of ["{\"x\":\"\\\":\",\"x\":1}", "{\"a\\\\\":1,\"a\\\\\":2}", "{\"a\" :1,\"a\":2}", "{\"a\":1,\"b\":{\"a\"\n:2,\"a\":3}}"]) {
      assert.strictEqual(parseJsonFast(text), undefined, text)
    }
  })

  it("given what serde would object to then it leaves the text to the emulation", () => {
    for (const text of [
      "{\"a\":1,\"a\":2}", // repeated key
      "{\"a\":{\"b\":1,\"b\":1}}",
      "[\"\\ud800\"]", // lone surrogates
      "[\"\\udc00\"]",
      "[\"\\ud800\\u0041\"]",
      "{\"\\ud800\":1}",
      `${"[".repeat(129)}${"]".repeat(129)}`, // serde's recursion limit
      "{not json",
      "[1,]",
      "\uFEFF{}"
    ]) {
      assert.strictEqual(parseJsonFast(text), undefined, text)
    }
    assert.notStrictEqual(parseJsonFast(`${"[".repeat(128)}${"]".repeat(128)}`), undefined)
  })

  it("property: whenever it answers, the serde emulation reads the same value", () => {
    fc.assert(
      fc.property(doc, whitespace, (d, ws) => {
        const text = write(d, ws)
        const fast = parseJsonFast(text)
        if (fast === undefined) return
        const exact = readJson(text)
        assert.isTrue(Result.isSuccess(exact), text)
        if (Result.isSuccess(exact)) assert.deepStrictEqual(fast.value, toPlain(exact.success))
      }),
      { numRuns: RUNS }
    )
  })
})

describe("fast path = serde emulation", () => {
  it("given the marketplace fixtures then both decoders agree", () => {
    for (const text of [
      "{\"name\":\"m\",\"plugins\":[]}",
      "{\"name\":\"m\",\"interface\":{\"displayName\":\"M\"},\"plugins\":[{\"name\":\"a\",\"source\":{\"source\":\"local\",\"path\":\"./a\"},\"policy\":{\"installation\":\"NOT_AVAILABLE\",\"authentication\":\"ON_USE\",\"products\":[\"codex\",\"ATLAS\"]},\"category\":\"Design\"}]}",
      "{\"name\":\"m\",\"plugins\":[{\"name\":\"a\",\"source\":{\"source\":\"local\",\"path\":\"./a\"},\"installPolicy\":\"NOT_AVAILABLE\",\"authPolicy\":\"ON_USE\"}]}",
      "{\"name\":\"m\",\"plugins\":[{\"name\":\"a\",\"source\":{\"source\":\"local\",\"path\":\"./a\"},\"policy\":{\"installation\":{\"AVAILABLE\":null}}}]}",
      "{\"name\":\"m\",\"plugins\":[{\"name\":\"a\",\"source\":{\"source\":\"local\",\"path\":\"./a\"},\"policy\":{\"installation\":\"nope\"}}]}",
      "{\"name\":\"m\",\"name\":\"n\",\"plugins\":[]}",
      "{\"name\":\"m\",\"interface\":null,\"plugins\":[],\"plugins\":[]}",
      "{\"name\":\"m\",\"interface\":[],\"plugins\":[]}",
      "{\"name\":\"m\",\"plugins\":[{\"name\":\"a\",\"source\":{\"source\":\"git\",\"path\":\"./a\"}}]}",
      "{\"name\":\"m\",\"plugins\":[{\"name\":\"a\",\"source\":[\"local\",\"./a\"]}]}",
      "{\"name\":\"m\",\"plugins\":[{\"name\":\"a\",\"source\":{\"source\":\"local\",\"path\":\"./a\"},\"policy\":null}]}"
    ]) {
      agreeOnMarketplace(text)
    }
  })

  it("given the manifest fixtures then both decoders agree", () => {
    for (const text of [
      "[]",
      " [ ] ",
      "{}",
      "{\"name\":\"p\",\"version\":\"1.0.0\",\"interface\":{\"displayName\":\"P\",\"websiteURL\":\"https://w/\",\"defaultPrompt\":[\"a\",5],\"composerIcon\":\"./i.png\",\"logo\":\"logo.png\",\"screenshots\":[\"./s.png\",\"../x\"]}}",
      "{\"name\":\"p\",\"interface\":{\"websiteURL\":\"https://A/\",\"websiteUrl\":\"https://B/\"}}",
      "{\"name\":null}",
      "{\"interface\":{\"capabilities\":null}}",
      "{\"interface\":5}",
      "{\"skills\":\"./skills/\",\"mcpServers\":\"./.mcp.json\",\"apps\":\"/abs\"}",
      "{\"name\":\"p\",\"name\":\"q\"}"
    ]) {
      agreeOnManifest(text)
    }
  })

  it("property: any marketplace text decodes the same through both", () => {
    fc.assert(fc.property(fc.oneof(marketplaceDoc, doc), whitespace, (d, ws) => agreeOnMarketplace(write(d, ws))), { numRuns: RUNS })
  })

  it("property: any manifest text decodes the same through both", () => {
    fc.assert(fc.property(fc.oneof(manifestDoc, doc), whitespace, (d, ws) => agreeOnManifest(write(d, ws))), { numRuns: RUNS })
  })
})
