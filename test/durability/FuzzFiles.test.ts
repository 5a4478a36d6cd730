/**
 * R10, files the user or a marketplace author writes: a malformed-TOML corpus (hand-picked and generated) as
 * config.toml, and generated malformed marketplace.json, plugin.json, SKILL.md, agents/openai.yaml, .mcp.json and
 * .app.json files. Never a defect: every request answers or fails with a typed error. A config.toml that does not
 * parse makes every mutation fail and stays byte-identical (no event, no cache change); listing never fails
 * because of a bad marketplace (it is reported in `marketplaceLoadErrors`); events appended stay valid.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, ManagedRuntime } from "effect"
import { parse as parseToml } from "smol-toml"
import { segmentName } from "../../src/adapters/SegmentName.ts"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine, EngineError, type EngineShape, type Origin } from "../../src/services/EngineApi.ts"
import { EventLog } from "../../src/services/EventLog.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { DEEP_ARRAY_100K, DEEP_ARRAY_10K } from "../support/FuzzFrames.ts"
import {
  FUZZ_CONFIG,
  invalidEvents,
  makeFuzzWorld,
  MARKET,
  marketplaceFileOf,
  removeWorld,
  SECRET,
  writeFile,
  writeRichPlugin
} from "../support/FuzzWorld.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"
import { snapshotTree } from "../support/Trees.ts"

type Random = ReturnType<typeof makeRandom>

const origin: Origin = { actor: "rpc", requestId: "fuzz", client: "fuzz-files" }

/** Runs `f` and returns its Exit; a failure must be an EngineError (a defect fails the test). */
const typed = async <A>(effect: Effect.Effect<A, EngineError>, context: string): Promise<Exit.Exit<A, EngineError>> => {
  const exit = await Effect.runPromise(Effect.exit(effect))
  if (Exit.isFailure(exit)) {
    const failure = Cause.findErrorOption(exit.cause)
    if (failure._tag === "None" || !(failure.value instanceof EngineError)) {
      assert.fail(`${context}: not a typed failure: ${Cause.pretty(exit.cause)}`)
    }
    assert.notStrictEqual(failure.value.message, "", context)
    assert.notMatch(failure.value.message, /^failed to project the ledger/, `${context}: failed after its event was recorded`)
  }
  return exit
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true })
/** Does Codex's TOML reader accept these bytes (strict UTF-8, then a TOML 1.0 parse)? */
const tomlParses = (bytes: Buffer): boolean => {
  try {
    parseToml(STRICT_UTF8.decode(bytes))
    return true
  } catch {
    return false
  }
}

// ---- the TOML corpus

const HAND_PICKED: ReadonlyArray<string | Buffer> = [
  "[plugins.\"alpha@market\"\nenabled = true\n",
  "model = \"unterminated\n",
  "model = 'x\n",
  "a = 1\na = 2\n",
  "[features]\nplugins = true\n[features]\n",
  "key = \n",
  "= 1\n",
  "[plugins]\n\"alpha@market\" = 1\n[plugins.\"alpha@market\"]\nenabled = true\n",
  "x = [1, 2\n",
  "x = {a = 1\n",
  "x = 1979-05-27T\n",
  "x = 0x\n",
  "x = \"\\q\"\n",
  "x = \"\"\"abc\n",
  "[[plugins]]\nname = 1\n[plugins.\"alpha@market\"]\nenabled = true\n",
  "plugins = 5\n",
  "[plugins.\"alpha@market\"]\nenabled = \"yes\"\n",
  "[plugins.\"alpha@market\"]\nenabled = true\nenabled = false\n",
  "a = 1\r b = 2\n",
  "\u0000 = 1\n",
  "[plugins.\"alpha@market\"]]\n",
  "[ plugins . \"alpha@market\" ]\nenabled = true\n",
  "[plugins.\"alpha@market\".nested]\nx = 1\n",
  "x.y = 1\nx = 2\n",
  `x = ${"[".repeat(10_000)}${"]".repeat(10_000)}\n`,
  `x = ${"{a=".repeat(2_000)}1${"}".repeat(2_000)}\n`,
  `x = "${"y".repeat(3 * 1024 * 1024)}\n`,
  Buffer.from([0x61, 0x20, 0x3d, 0x20, 0x22, 0xff, 0xfe, 0x22, 0x0a]),
  Buffer.concat([Buffer.from(FUZZ_CONFIG), Buffer.from([0xc3, 0x28, 0x0a])]),
  Buffer.from("\uFEFF# bom\n[features]\nplugins = true\n")
]

const TOKENS = ["[", "]", "\"", "'", "=", "\n", "#", "\\", ",", "{", "}", ".", " ", "\t", "\r", "\u0000", "é", "[[", "]]", "\"\"\"", "'''", "\\u", "x"]

const mutateToml = (base: string, random: Random): string | Buffer => {
  const at = random.int(base.length + 1)
  const lines = base.split("\n")
  switch (random.int(7)) {
    case 0:
      return base.slice(0, at) + random.pick(TOKENS) + base.slice(at)
    case 1:
      return base.slice(0, at) + base.slice(at + 1 + random.int(10))
    case 2: {
      const k = random.int(lines.length)
      lines.splice(k, 0, lines[k] ?? "")
      return lines.join("\n")
    }
    case 3:
      return base.slice(0, at)
    case 4: {
      lines[random.int(lines.length)] = String(random.pick(HAND_PICKED.filter((h) => typeof h === "string" && h.length < 200)))
      return lines.join("\n")
    }
    case 5:
      return base.replace(/enabled = (true|false)/, `enabled = ${random.pick(["1", "\"true\"", "tru", "[true]", "{}", "TRUE", ""])}`)
    default: {
      const bytes = Buffer.from(base, "utf8")
      const cut = random.int(bytes.length + 1)
      return Buffer.concat([bytes.subarray(0, cut), Buffer.from([random.pick([0xff, 0xc3, 0x80, 0xed])]), bytes.subarray(cut)])
    }
  }
}

// ---- marketplace and plugin files

const JSON_POOL: ReadonlyArray<unknown> = [null, true, 0, -1, 1.5, "", "x", "../x", "/etc/passwd", "a".repeat(5_000), [], {}, [1, "a"], { a: 1 }, "ON_USE", "NOT_AVAILABLE", { source: "local", path: "./plugins/p2" }]

/** Replace, delete or add one node somewhere in a JSON document. */
const mutateJsonValue = (value: unknown, random: Random): unknown => {
  if (Array.isArray(value)) {
    if (value.length === 0 || random.next() < 0.25) return [...value, random.pick(JSON_POOL)]
    const i = random.int(value.length)
    const copy = [...value]
    if (random.next() < 0.2) copy.splice(i, 1)
    else copy[i] = random.next() < 0.5 ? mutateJsonValue(copy[i], random) : random.pick(JSON_POOL)
    return copy
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
    if (entries.length === 0 || random.next() < 0.15) return { ...value, [random.pick(["zzz", "Name", "name", "plugins", "source", "path", "policy"])]: random.pick(JSON_POOL) }
    const [key, inner] = random.pick(entries)
    const copy: Record<string, unknown> = { ...value }
    if (random.next() < 0.2) delete copy[key]
    else copy[key] = random.next() < 0.6 ? mutateJsonValue(inner, random) : random.pick(JSON_POOL)
    return copy
  }
  return random.pick(JSON_POOL)
}

const mutateText = (text: string, random: Random): string | Buffer => {
  const at = random.int(text.length + 1)
  switch (random.int(6)) {
    case 0:
      return text.slice(0, at) + random.pick([...TOKENS, ":", "-", "---", "  ", "\t", "|", ">", "&a", "*a", "!!str"]) + text.slice(at)
    case 1:
      return text.slice(0, at) + text.slice(at + 1 + random.int(20))
    case 2:
      return text.slice(0, at)
    case 3:
      return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff, 0xfe]), Buffer.from(text.slice(at))])
    case 4:
      return `\uFEFF${text}`
    default: {
      const lines = text.split("\n")
      const k = random.int(lines.length)
      lines.splice(k, 0, `${" ".repeat(random.int(9))}${lines[k] ?? ""}`)
      return lines.join("\n")
    }
  }
}

const FILES = ["marketplace.json", "plugin.json", "SKILL.md", "openai.yaml", ".mcp.json", ".app.json"] as const
type Target = (typeof FILES)[number]

const pathOf = (dir: string, target: Target): string => {
  const p1 = Path.join(dir, "plugins", "p1")
  switch (target) {
    case "marketplace.json":
      return marketplaceFileOf(dir)
    case "plugin.json":
      return Path.join(p1, ".codex-plugin", "plugin.json")
    case "SKILL.md":
      return Path.join(p1, "skills", "hello", "SKILL.md")
    case "openai.yaml":
      return Path.join(p1, "skills", "hello", "agents", "openai.yaml")
    case ".mcp.json":
      return Path.join(p1, ".mcp.json")
    case ".app.json":
      return Path.join(p1, ".app.json")
  }
}

const EXTREMES: ReadonlyArray<(path: string, outside: string) => void> = [
  (path) => writeFile(path, ""),
  (path) => writeFile(path, "null"),
  (path) => writeFile(path, DEEP_ARRAY_10K),
  (path) => writeFile(path, DEEP_ARRAY_100K),
  (path) => writeFile(path, `{"name":"${"n".repeat(3 * 1024 * 1024)}"}`),
  (path) => {
    NodeFs.rmSync(path, { force: true })
    NodeFs.mkdirSync(path, { recursive: true })
  },
  (path, outside) => {
    NodeFs.rmSync(path, { force: true })
    NodeFs.symlinkSync(outside, path)
  },
  (path) => {
    NodeFs.rmSync(path, { force: true })
    NodeFs.symlinkSync(`${path}.nowhere`, path)
  }
]

const deepBlock = (levels: number): string => Array.from({ length: levels }, (_, n) => `${" ".repeat(n)}k${n}:`).join("\n")
const frontmatter = (yaml: string): string => `---\n${yaml}\n---\nBody.\n`

const longName = (n: number): string => "a".repeat(n)
const marketplaceNamed = (market: string, plugin: string): string =>
  JSON.stringify({ name: market, plugins: [{ name: plugin, source: { source: "local", path: "./plugins/p1" } }] })

/**
 * Damage every run tries first (the YAML reader is hand-written: tabs, nesting, unterminated scalars), and names
 * valid by the rules but too long for a file name (the cache dir would fail after the event was recorded).
 */
/** files to write, and the plugin to install when it is not p1 */
interface Damage {
  readonly writes: ReadonlyArray<readonly [Target, string | Buffer]>
  readonly plugin?: string
}
const one = (target: Target, content: string | Buffer): Damage => ({ writes: [[target, content]] })
const named = (market: string, plugin: string): Damage => ({
  writes: [["marketplace.json", marketplaceNamed(market, plugin)], ["plugin.json", JSON.stringify({ name: plugin })]],
  plugin
})
const HAND_PICKED_BUNDLES: ReadonlyArray<Damage> = [
  named(longName(300), "p1"),
  named("m", longName(240)),
  named(longName(255), longName(255)),
  named(longName(200), longName(220)),
  one("openai.yaml", "interface:\n\tdisplay_name: Tab\n"),
  one("openai.yaml", `interface: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`),
  one("openai.yaml", `interface: ${"{a: ".repeat(5_000)}1${"}".repeat(5_000)}\n`),
  one("openai.yaml", `${deepBlock(10_000)} x\n`),
  one("openai.yaml", "interface:\n  display_name: \"unterminated\n"),
  one("openai.yaml", "interface:\n  display_name: *anchor\n"),
  one("openai.yaml", "interface:\n  display_name: \"\\q\"\n"),
  one("SKILL.md", frontmatter("name: tab\n\tdescription: x")),
  one("SKILL.md", frontmatter(`name: deep\ndescription: ${"[".repeat(100_000)}${"]".repeat(100_000)}`)),
  one("SKILL.md", frontmatter(`${deepBlock(10_000)} x`)),
  one("SKILL.md", `---\nname: never closed\ndescription: x\n`),
  one("SKILL.md", frontmatter(`name: big\ndescription: ${"d".repeat(3 * 1024 * 1024)}`)),
  one("SKILL.md", Buffer.concat([Buffer.from("---\nname: \""), Buffer.from([0xff, 0xfe]), Buffer.from("\"\ndescription: x\n---\n")])),
  one("plugin.json", `${"[".repeat(100_000)}${"]".repeat(100_000)}`),
  one(".mcp.json", `{"mcpServers":${"[".repeat(100_000)}${"]".repeat(100_000)}}`),
  one(".app.json", `{"apps":{"a":${"{\"b\":".repeat(10_000)}1${"}".repeat(10_000)}}}`),
  one("marketplace.json", `{"name":"deep","plugins":${"[".repeat(100_000)}${"]".repeat(100_000)}}`)
]

/** A fresh marketplace repo with plugins p1 (rich) and p2, one of its files damaged; returns what was done. */
const makeCase = (
  dir: string,
  index: number,
  random: Random,
  secret: string
): { readonly target: Target; readonly how: string; readonly plugin: string } => {
  const name = `m${index}`
  const marketplace = { name, plugins: [{ name: "p1", source: { source: "local", path: "./plugins/p1" } }, { name: "p2", source: { source: "local", path: "./plugins/p2" } }] }
  writeFile(marketplaceFileOf(dir), JSON.stringify(marketplace))
  writeRichPlugin(Path.join(dir, "plugins", "p1"), "p1")
  writeFile(Path.join(dir, "plugins", "p2", ".codex-plugin", "plugin.json"), JSON.stringify({ name: "p2" }))
  const target = random.pick(FILES)
  const picked = HAND_PICKED_BUNDLES[index]
  if (picked !== undefined) {
    for (const [file, content] of picked.writes) writeFile(pathOf(dir, file), content)
    return { target: picked.writes[0]?.[0] ?? "marketplace.json", how: `hand-picked ${index}`, plugin: picked.plugin ?? "p1" }
  }
  const path = pathOf(dir, target)
  const roll = random.next()
  if (roll < 0.08) {
    const extreme = random.int(EXTREMES.length)
    EXTREMES[extreme]?.(path, secret)
    return { target, how: `extreme ${extreme}`, plugin: "p1" }
  }
  const text = NodeFs.readFileSync(path, "utf8")
  if (target.endsWith(".json") && roll < 0.7) {
    let value: unknown = JSON.parse(text)
    for (let n = 1 + random.int(3); n > 0; n--) value = mutateJsonValue(value, random)
    writeFile(path, random.next() < 0.3 ? JSON.stringify(value, null, 2) : JSON.stringify(value) ?? "null")
    return { target, how: "json", plugin: "p1" }
  }
  writeFile(path, mutateText(text, random))
  return { target, how: "text", plugin: "p1" }
}

describe("R10: malformed config.toml", () => {
  it("an unparsable config.toml fails every mutation and stays byte-identical; nothing is ever a defect", async () => {
    const seed = seedFor("fuzz-toml")
    const random = makeRandom(seed)
    const count = scaled(60, 600)
    const world = makeFuzzWorld("fuzz-toml-")
    let unparsable = 0
    let refused = 0
    let applied = 0
    try {
      // the template: alpha installed and enabled, beta installed and disabled
      await Effect.runPromise(Engine.use((engine) =>
        Effect.gen(function*() {
          yield* engine.install({ marketplacePath: world.marketplacePath, pluginName: "alpha" }, origin)
          yield* engine.install({ marketplacePath: world.marketplacePath, pluginName: "beta" }, origin)
          yield* engine.setEnabled({ pluginId: `beta@${MARKET}`, enabled: false }, origin)
        })
      ).pipe(Effect.provide(appLayer(world.paths))))
      const templateConfig = NodeFs.readFileSync(world.paths.configPath, "utf8")
      const segment = (ledgerDir: string) => Path.join(ledgerDir, "events", segmentName(1))
      for (let i = 0; i < count; i++) {
        const config = i < HAND_PICKED.length ? HAND_PICKED[i] ?? "" : mutateToml(templateConfig, random)
        const bytes = typeof config === "string" ? Buffer.from(config, "utf8") : config
        const context = `config ${i} (seed ${seed}): ${JSON.stringify(bytes.subarray(0, 120).toString("utf8"))}`
        const home = Path.join(world.root, `home-${i}`)
        NodeFs.cpSync(world.paths.codexHome, home, { recursive: true })
        const paths = makeLedgerPaths({ codexHome: home, home: world.paths.home })
        NodeFs.writeFileSync(paths.configPath, bytes)
        const parses = tomlParses(bytes)
        if (!parses) unparsable++
        const runtime = ManagedRuntime.make(appLayer(paths))
        try {
          const engine = await runtime.runPromise(Engine.use((service) => Effect.succeed(service)))
          const requests: ReadonlyArray<readonly [string, (e: EngineShape) => Effect.Effect<unknown, EngineError>]> = [
            ["install beta", (e) => e.install({ marketplacePath: world.marketplacePath, pluginName: "beta" }, origin)],
            ["disable alpha", (e) => e.setEnabled({ pluginId: `alpha@${MARKET}`, enabled: false }, origin)],
            ["enable alpha", (e) => e.setEnabled({ pluginId: `alpha@${MARKET}`, enabled: true }, origin)],
            ["uninstall alpha", (e) => e.uninstall({ pluginId: `alpha@${MARKET}` }, origin)]
          ]
          await typed(engine.list({ cwds: [world.repo], forceRemoteSync: false }), `${context}, list`)
          for (const [label, request] of requests) {
            const before = NodeFs.readFileSync(paths.configPath)
            const events = NodeFs.readFileSync(segment(paths.ledgerDir))
            const cache = snapshotTree(paths.cacheDir)
            const exit = await typed(request(engine), `${context}, ${label}`)
            const after = NodeFs.readFileSync(paths.configPath)
            if (Exit.isFailure(exit)) {
              refused++
              assert.deepStrictEqual(after, before, `${context}, ${label}: config.toml changed by a failed request`)
              assert.deepStrictEqual(NodeFs.readFileSync(segment(paths.ledgerDir)), events, `${context}, ${label}: event appended`)
              assert.deepStrictEqual(snapshotTree(paths.cacheDir), cache, `${context}, ${label}: cache changed`)
            } else {
              applied++
              assert.isTrue(parses, `${context}, ${label}: succeeded on a config.toml Codex cannot read`)
              assert.isTrue(tomlParses(after), `${context}, ${label}: left a config.toml that does not parse`)
            }
          }
          if (!parses) assert.deepStrictEqual(NodeFs.readFileSync(paths.configPath), bytes, context)
        } finally {
          await runtime.dispose()
        }
        NodeFs.rmSync(home, { recursive: true, force: true })
      }
    } finally {
      removeWorld(world)
    }
    console.log(
      `[fuzz-toml] seed=${seed} configs=${count} (hand-picked ${HAND_PICKED.length}) unparsable=${unparsable} ` +
        `requests refused=${refused} applied=${applied} defects=0 unparsable-left-byte-identical=${unparsable}`
    )
  }, 600_000)
})

describe("R10: malformed marketplace and plugin files", () => {
  it("listing, reading and installing damaged marketplaces and plugins never crash; bad marketplaces are reported, not fatal", async () => {
    const seed = seedFor("fuzz-bundle")
    const random = makeRandom(seed)
    const count = scaled(150, 1_500)
    const world = makeFuzzWorld("fuzz-bundle-")
    const runtime = ManagedRuntime.make(appLayer(world.paths))
    const outcomes = new Map<string, number>()
    const note = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    try {
      const engine = await runtime.runPromise(Engine.use((service) => Effect.succeed(service)))
      const secretDir = Path.join(world.root, "outside")
      const segment = Path.join(world.paths.ledgerDir, "events", segmentName(1))
      for (let i = 0; i < count; i++) {
        const dir = Path.join(world.root, `case-${i}`)
        const { how, plugin, target } = makeCase(dir, i, random, secretDir)
        const context = `case ${i} (${target} ${how}, seed ${seed})`
        const marketplacePath = marketplaceFileOf(dir)
        const listed = await typed(engine.list({ cwds: [dir], forceRemoteSync: false }), `${context}, list`)
        if (Exit.isFailure(listed)) return assert.fail(`${context}: plugin/list failed: ${Cause.pretty(listed.cause)}`)
        const view = listed.value
        const inList = view.marketplaces.filter((m) => m.path === marketplacePath).length
        const inErrors = (view.marketplaceLoadErrors ?? []).filter((e) => e.marketplacePath === marketplacePath).length
        assert.isAtMost(inList + inErrors, 1, context)
        // only a damaged marketplace.json can keep it out of the list
        if (target !== "marketplace.json") assert.strictEqual(inList, 1, `${context}: ${JSON.stringify(view).slice(0, 500)}`)
        note(inList === 1 ? "listed" : inErrors === 1 ? "load error reported" : "not discovered")
        for (const pluginName of ["p1", "p2"]) {
          const read = await typed(engine.read({ marketplacePath, pluginName }), `${context}, read ${pluginName}`)
          if (Exit.isSuccess(read)) assert.notInclude(JSON.stringify(read.value), SECRET, context)
          note(`read ${Exit.isSuccess(read) ? "ok" : "refused"}`)
        }
        const eventsBefore = NodeFs.readFileSync(segment)
        const installed = await typed(engine.install({ marketplacePath, pluginName: plugin }, origin), `${context}, install`)
        // a refused install records nothing (an event whose projection then fails would wedge the ledger)
        if (Exit.isFailure(installed)) assert.deepStrictEqual(NodeFs.readFileSync(segment), eventsBefore, `${context}: refused, but logged`)
        note(`install ${Exit.isSuccess(installed) ? "ok" : "refused"}`)
        if (Exit.isSuccess(installed)) {
          // the marketplace's name as it was installed (its file may be damaged but readable); then clean up, so the
          // cache and config.toml stay small
          const name = String(JSON.parse(NodeFs.readFileSync(marketplacePath, "utf8")).name)
          for (const entry of snapshotTree(Path.join(world.paths.cacheDir, name, plugin))) assert.notMatch(entry, /^link /, context)
          const removed = await typed(engine.uninstall({ pluginId: `${plugin}@${name}` }, origin), `${context}, uninstall`)
          assert.isTrue(Exit.isSuccess(removed), context)
          assert.isFalse(NodeFs.existsSync(Path.join(world.paths.cacheDir, name, plugin)), context)
        }
        NodeFs.rmSync(dir, { recursive: true, force: true })
      }
      const { records, report } = await Effect.runPromise(
        EventLog.use((log) => Effect.all({ records: log.records, report: log.verify })).pipe(
          Effect.provide(EventLog.layer({ ledgerDir: world.paths.ledgerDir }))
        )
      )
      assert.isTrue(report.ok, report.problems.join("; "))
      assert.deepStrictEqual(invalidEvents(records), [])
      console.log(`[fuzz-bundle] seed=${seed} cases=${count} (hand-picked ${HAND_PICKED_BUNDLES.length}) outcomes ${JSON.stringify(Object.fromEntries(outcomes))} events=${records.length - 1} (all valid) defects=0`)
    } finally {
      await runtime.dispose()
      removeWorld(world)
    }
  }, 600_000)
})
