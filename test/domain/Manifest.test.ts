import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  collapseWhitespace,
  decodeManifest,
  decodeManifestText,
  normalizeDefaultPrompt,
  toWireInterface
} from "../../src/domain/Manifest.ts"

interface Fixture {
  readonly name: string
  /** marketplace entry `category` */
  readonly category: string | null
  /** `.codex-plugin/plugin.json` text (null: the plugin directory does not exist) */
  readonly manifest: string | null
  /** `interface` of the plugin in codex 0.116.0's plugin/list output; `<root>` = the plugin directory */
  readonly wire: unknown
}

// Captured from `codex app-server` 0.116.0 (plugin/list on one marketplace holding these plugins).
const LISTED: ReadonlyArray<Fixture> = [
  {"name":"full","category":"Design","manifest":"{\"name\":\"full\",\"version\":\"1.0.0\",\"description\":\"Longer manifest description\",\"interface\":{\n \"displayName\":\"Plugin Display Name\",\"shortDescription\":\"short\",\"longDescription\":\"long\",\"developerName\":\"OpenAI\",\n \"category\":\"Productivity\",\"capabilities\":[\"Interactive\",\"Write\"],\"websiteURL\":\"https://openai.com/\",\"privacyPolicyURL\":\"https://p/\",\"termsOfServiceURL\":\"https://t/\",\n \"defaultPrompt\":[\"Starter prompt for trying a plugin\",\"Find my next action\"],\"brandColor\":\"#3B82F6\",\"composerIcon\":\"./assets/icon.png\",\"logo\":\"./assets/logo.png\",\"screenshots\":[\"./assets/s1.png\",\"./assets/s2.png\"]}}\n","wire":{"displayName":"Plugin Display Name","shortDescription":"short","longDescription":"long","developerName":"OpenAI","category":"Design","capabilities":["Interactive","Write"],"websiteUrl":"https://openai.com/","privacyPolicyUrl":"https://p/","termsOfServiceUrl":"https://t/","defaultPrompt":["Starter prompt for trying a plugin","Find my next action"],"brandColor":"#3B82F6","composerIcon":"<root>/assets/icon.png","logo":"<root>/assets/logo.png","screenshots":["<root>/assets/s1.png","<root>/assets/s2.png"]}},
  {"name":"lower","category":null,"manifest":"{\"name\":\"lower\",\"interface\":{\"websiteUrl\":\"https://w/\",\"privacyPolicyUrl\":\"https://p/\",\"termsOfServiceUrl\":\"https://t/\"}}\n","wire":{"displayName":null,"shortDescription":null,"longDescription":null,"developerName":null,"category":null,"capabilities":[],"websiteUrl":"https://w/","privacyPolicyUrl":"https://p/","termsOfServiceUrl":"https://t/","defaultPrompt":null,"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}},
  {"name":"both","category":null,"manifest":"{\"name\":\"both\",\"interface\":{\"websiteURL\":\"https://A/\",\"websiteUrl\":\"https://B/\"}}\n","wire":null},
  {"name":"both2","category":null,"manifest":"{\"name\":\"both2\",\"interface\":{\"websiteUrl\":\"https://B/\",\"websiteURL\":\"https://A/\"}}\n","wire":null},
  {"name":"legacy","category":null,"manifest":"{\"name\":\"legacy\",\"interface\":{\"defaultPrompt\":\"  Summarize   my\\n\\tinbox  \"}}\n","wire":{"displayName":null,"shortDescription":null,"longDescription":null,"developerName":null,"category":null,"capabilities":[],"websiteUrl":null,"privacyPolicyUrl":null,"termsOfServiceUrl":null,"defaultPrompt":["Summarize my inbox"],"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}},
  {"name":"many","category":null,"manifest":"{\"name\":\"many\",\"interface\":{\"defaultPrompt\":[\"one\",\"two\",\"three\",\"four\",\"five\"]}}\n","wire":{"displayName":null,"shortDescription":null,"longDescription":null,"developerName":null,"category":null,"capabilities":[],"websiteUrl":null,"privacyPolicyUrl":null,"termsOfServiceUrl":null,"defaultPrompt":["one","two","three"],"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}},
  {"name":"mixed","category":null,"manifest":"{\"name\":\"mixed\",\"interface\":{\"defaultPrompt\":[\"\", \"  \", 5, null, \"a\", {\"x\":1}, \"b\", \"c\"]}}\n","wire":{"displayName":null,"shortDescription":null,"longDescription":null,"developerName":null,"category":null,"capabilities":[],"websiteUrl":null,"privacyPolicyUrl":null,"termsOfServiceUrl":null,"defaultPrompt":["a","b","c"],"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}},
  {"name":"badprompt","category":null,"manifest":"{\"name\":\"badprompt\",\"interface\":{\"defaultPrompt\":5}}\n","wire":null},
  {"name":"emptyif","category":null,"manifest":"{\"name\":\"emptyif\",\"interface\":{}}\n","wire":null},
  {"name":"emptystr","category":null,"manifest":"{\"name\":\"emptystr\",\"interface\":{\"displayName\":\"\",\"capabilities\":[],\"screenshots\":[],\"defaultPrompt\":[]}}\n","wire":{"displayName":"","shortDescription":null,"longDescription":null,"developerName":null,"category":null,"capabilities":[],"websiteUrl":null,"privacyPolicyUrl":null,"termsOfServiceUrl":null,"defaultPrompt":null,"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}},
  {"name":"catonly","category":null,"manifest":"{\"name\":\"catonly\",\"interface\":{\"category\":\"Productivity\"}}\n","wire":{"displayName":null,"shortDescription":null,"longDescription":null,"developerName":null,"category":"Productivity","capabilities":[],"websiteUrl":null,"privacyPolicyUrl":null,"termsOfServiceUrl":null,"defaultPrompt":null,"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}},
  {"name":"nointerface","category":"Design","manifest":"{\"name\":\"nointerface\"}\n","wire":{"displayName":null,"shortDescription":null,"longDescription":null,"developerName":null,"category":"Design","capabilities":[],"websiteUrl":null,"privacyPolicyUrl":null,"termsOfServiceUrl":null,"defaultPrompt":null,"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}},
  {"name":"missingdir","category":"Design","manifest":null,"wire":{"displayName":null,"shortDescription":null,"longDescription":null,"developerName":null,"category":"Design","capabilities":[],"websiteUrl":null,"privacyPolicyUrl":null,"termsOfServiceUrl":null,"defaultPrompt":null,"brandColor":null,"composerIcon":null,"logo":null,"screenshots":[]}}
]

const wireOf = (text: string | null, category: string | null) => {
  const decoded = text === null ? undefined : decodeManifestText(text, "<root>")
  return toWireInterface(decoded !== undefined && Result.isSuccess(decoded) ? decoded.success.manifest : null, category)
}

describe("toWireInterface (binary fixtures)", () => {
  for (const fixture of LISTED) {
    it(`given the ${fixture.name} manifest then the listed interface matches the binary`, () => {
      assert.deepStrictEqual(wireOf(fixture.manifest, fixture.category), fixture.wire)
    })
  }

  it("prints the keys in the binary's order", () => {
    const full = LISTED.find((f) => f.name === "full")
    assert.deepStrictEqual(Object.keys(wireOf(full?.manifest ?? null, null) ?? {}), [
      "displayName", "shortDescription", "longDescription", "developerName", "category", "capabilities", "websiteUrl",
      "privacyPolicyUrl", "termsOfServiceUrl", "defaultPrompt", "brandColor", "composerIcon", "logo", "screenshots"
    ])
  })
})

describe("defaultPrompt", () => {
  it("given 129, 2, 128 and padded chars then only entries of at most 128 chars after collapsing survive", () => {
    const manifest = JSON.stringify({ interface: { defaultPrompt: ["x".repeat(129), "ok", "y".repeat(128), `  z  ${"y".repeat(126)}  `] } })
    const decoded = decodeManifestText(manifest, "/p")
    assert.isTrue(Result.isSuccess(decoded))
    if (Result.isSuccess(decoded)) {
      assert.deepStrictEqual(decoded.success.manifest.interface?.defaultPrompt, ["ok", "y".repeat(128), `z ${"y".repeat(126)}`])
      // binary WARN: ignoring interface.defaultPrompt[0]: prompt must be at most 128 characters
      assert.deepStrictEqual(decoded.success.warnings, ["ignoring interface.defaultPrompt[0]: prompt must be at most 128 characters"])
    }
  })
  it("given 3 accepted prompts then the next entry stops the scan without its own warning", () => {
    // binary: ["a","b","c",5,""] → [a,b,c] and only the maximum warning
    assert.deepStrictEqual(normalizeDefaultPrompt(["a", "b", "c", 5, ""]), {
      prompts: ["a", "b", "c"],
      warnings: ["ignoring interface.defaultPrompt: maximum of 3 prompts is supported"]
    })
  })
  it("given bad entries then they are dropped by raw index and do not count toward the limit", () => {
    assert.deepStrictEqual(normalizeDefaultPrompt([true, [], "a"]), {
      prompts: ["a"],
      warnings: [
        "ignoring interface.defaultPrompt[0]: expected a string, found boolean",
        "ignoring interface.defaultPrompt[1]: expected a string, found array"
      ]
    })
  })
  it("given a legacy string then it is one prompt; blank is a warning; null is silent", () => {
    assert.deepStrictEqual(normalizeDefaultPrompt("  Summarize   my\n\tinbox  ").prompts, ["Summarize my inbox"])
    assert.deepStrictEqual(normalizeDefaultPrompt("  "), {
      prompts: null,
      warnings: ["ignoring interface.defaultPrompt: prompt must not be empty"]
    })
    assert.deepStrictEqual(normalizeDefaultPrompt(null), { prompts: null, warnings: [] })
    assert.deepStrictEqual(normalizeDefaultPrompt({}).warnings, [
      "ignoring interface.defaultPrompt: expected a string or array of strings, found object"
    ])
  })
  it("counts characters, not UTF-16 units (128 emoji are accepted by the binary)", () => {
    assert.deepStrictEqual(normalizeDefaultPrompt(["😀".repeat(128)]).prompts, ["😀".repeat(128)])
    assert.strictEqual(normalizeDefaultPrompt(["😀".repeat(129)]).prompts, null)
  })
  it("collapses Unicode White_Space like Rust (U+00A0, U+0085, U+3000 yes; U+FEFF no)", () => {
    assert.strictEqual(collapseWhitespace("x\u00a0\u00a0y\u0085z\ufeffw\u3000v"), "x y z\ufeffw v")
  })
})

describe("decodeManifestText", () => {
  const error = (text: string) => {
    const r = decodeManifestText(text, "/p")
    return Result.isFailure(r) ? r.failure.message : "ok"
  }
  // binary WARN "failed to parse plugin manifest: …" (plugin/read then says "missing or invalid .codex-plugin/plugin.json")
  it("given wrong types then the whole manifest is invalid with serde's message", () => {
    assert.strictEqual(error('{"name":5}'), "invalid type: integer `5`, expected a string at line 1 column 9")
    assert.strictEqual(error('{"interface":5}'), "invalid type: integer `5`, expected struct RawPluginManifestInterface at line 1 column 14")
    assert.strictEqual(error('{"interface":{"capabilities":"x"}}'), 'invalid type: string "x", expected a sequence at line 1 column 32')
    assert.strictEqual(error('{"interface":{"capabilities":null,"screenshots":null,"displayName":"x"}}'), "invalid type: null, expected a sequence at line 1 column 33")
    assert.strictEqual(error('{"description":null,"version":null,"name":null}'), "invalid type: null, expected a string at line 1 column 46")
    assert.strictEqual(error("{bad"), "key must be a string at line 1 column 2")
    assert.strictEqual(error(""), "EOF while parsing a value at line 1 column 0")
  })
  it("given both URL spellings or a repeated field then it is a duplicate field", () => {
    assert.strictEqual(error('{"interface":{"privacyPolicyURL":"a","privacyPolicyUrl":"b"}}'), "duplicate field `privacyPolicyUrl` at line 1 column 55")
    assert.strictEqual(error('{"interface":{"defaultPrompt":null,"defaultPrompt":"x"}}'), "duplicate field `defaultPrompt` at line 1 column 50")
    assert.strictEqual(error('{"name":"a","name":"b"}'), "duplicate field `name` at line 1 column 18")
  })
  it("given unknown keys, a non-string version or []  then it is valid (0.116.0 does not read version)", () => {
    assert.strictEqual(error('{"version":5,"author":5,"keywords":5,"x":1,"x":2}'), "ok")
    assert.strictEqual(error("[]"), "ok")
  })
  it("given a blank name then the plugin directory name is used", () => {
    const r = decodeManifestText('{"name":"  "}', "/r/plugins/demo")
    assert.strictEqual(Result.isSuccess(r) ? r.success.manifest.name : "", "demo")
  })
  it("given bad component paths then they are ignored with the binary's warnings, interface first", () => {
    const r = decodeManifestText(JSON.stringify({ skills: "x", mcpServers: "./", apps: "./../a", interface: { displayName: "d", composerIcon: ".//i", logo: "./l.png", screenshots: ["./a.png", "bad", "./a.png"] } }), "/p")
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) {
      const { interface: iface, skills, mcpServers, apps } = r.success.manifest
      assert.deepStrictEqual({ skills, mcpServers, apps }, { skills: null, mcpServers: null, apps: null })
      assert.deepStrictEqual([iface?.composerIcon, iface?.logo, iface?.screenshots], [null, "/p/l.png", ["/p/a.png", "/p/a.png"]])
      assert.deepStrictEqual(r.success.warnings, [
        "ignoring interface.composerIcon: path must stay within the plugin root",
        "ignoring interface.screenshots: path must start with `./` relative to plugin root",
        "ignoring skills: path must start with `./` relative to plugin root",
        "ignoring mcpServers: path must not be `./`",
        "ignoring apps: path must not contain '..'"
      ])
    }
  })
  it("decodeManifest accepts an already-parsed value", () => {
    const r = decodeManifest({ name: "n", skills: "./custom/" }, "/p")
    assert.strictEqual(Result.isSuccess(r) ? r.success.manifest.skills : "", "/p/custom")
  })
})

describe("toWireInterface", () => {
  it("given only capabilities or screenshots then an interface exists; only invalid paths then null", () => {
    const wire = (m: unknown) => {
      const r = decodeManifest(m, "/p")
      return Result.isSuccess(r) ? toWireInterface(r.success.manifest) : null
    }
    assert.deepStrictEqual(wire({ interface: { capabilities: ["b", "a", "b"] } })?.capabilities, ["b", "a", "b"])
    assert.isNull(wire({ interface: { capabilities: [] } }))
    assert.isNull(wire({ interface: { screenshots: ["bad"] } }))
    assert.isNull(wire({ interface: { composerIcon: "bad" } }))
  })
  it("given a marketplace category and no manifest then an interface with only the category", () => {
    assert.strictEqual(toWireInterface(null, "")?.category, "")
    assert.isNull(toWireInterface(null, null))
    assert.isNull(toWireInterface(undefined))
  })
})
