/**
 * R2 at the Engine level: `plugin-ledger serve` children get a random script of install / enable / disable /
 * uninstall requests, each with its own idempotencyKey, pipelined; the server is SIGKILLed after a random number
 * of answers; then a fresh server gets every request again, in order, with the same keys. Nothing is applied
 * twice (exactly one event per key), the answers to acknowledged requests repeat, and config.toml, the cache and
 * the event sequence equal a clean run of the same script.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine, type EngineError, type Origin } from "../../src/services/EngineApi.ts"
import { EventLog, type LogRecord } from "../../src/services/EventLog.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { sleep } from "../support/LineChild.ts"
import { ServeChild } from "../support/ServeChild.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"
import { snapshotTree } from "../support/Trees.ts"

const MARKET = "market"
const PLUGINS = ["alpha", "beta", "gamma"] as const
const CONFIG = "# my settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n"

interface ScriptStep {
  readonly method: "plugin/install" | "plugin/uninstall" | "plugin/enable" | "plugin/disable"
  readonly plugin: string
  readonly key: string
}

/** A random command sequence in which every command changes state, so each one records exactly one event. */
const makeScript = (random: ReturnType<typeof makeRandom>, length: number, trial: number): ReadonlyArray<ScriptStep> => {
  const state = new Map<string, "absent" | "enabled" | "disabled">(PLUGINS.map((p) => [p, "absent"]))
  const steps: Array<ScriptStep> = []
  for (let i = 0; i < length; i++) {
    const plugin = random.pick(PLUGINS)
    const now = state.get(plugin) ?? "absent"
    const options: ReadonlyArray<ScriptStep["method"]> = now === "absent"
      ? ["plugin/install"]
      : now === "enabled"
      ? ["plugin/disable", "plugin/uninstall", "plugin/install"]
      : ["plugin/enable", "plugin/uninstall", "plugin/install"]
    const method = random.pick(options)
    state.set(plugin, method === "plugin/uninstall" ? "absent" : method === "plugin/disable" ? "disabled" : "enabled")
    steps.push({ method, plugin, key: `t${trial}-step${i}-${random.int(1e9)}` })
  }
  return steps
}

interface World {
  readonly root: string
  readonly marketplacePath: string
  readonly userHome: string
}

const writeFile = (path: string, content: string): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
}

const makeWorld = (): World => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "crash-serve-")))
  const repo = Path.join(root, "repo")
  for (const name of PLUGINS) {
    writeFile(Path.join(repo, "plugins", name, ".codex-plugin", "plugin.json"), JSON.stringify({ name, version: "1.0.0" }))
    writeFile(Path.join(repo, "plugins", name, "skills", "hello", "SKILL.md"), `---\nname: hello\ndescription: ${name} says hello\n---\n`)
    writeFile(Path.join(repo, "plugins", name, "README.md"), `# ${name}\n`)
  }
  const marketplacePath = Path.join(repo, ".agents", "plugins", "marketplace.json")
  writeFile(marketplacePath, JSON.stringify({
    name: MARKET,
    plugins: PLUGINS.map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } }))
  }))
  const userHome = Path.join(root, "userhome")
  NodeFs.mkdirSync(userHome)
  return { root, marketplacePath, userHome }
}

const makeHome = (world: World, name: string): string => {
  const home = Path.join(world.root, name)
  writeFile(Path.join(home, "config.toml"), CONFIG)
  return home
}

const paramsOf = (world: World, step: ScriptStep): Record<string, string> =>
  step.method === "plugin/install"
    ? { marketplacePath: world.marketplacePath, pluginName: step.plugin, idempotencyKey: step.key }
    : { pluginId: `${step.plugin}@${MARKET}`, idempotencyKey: step.key }

/** The same script run once, in this process, on a fresh home: what the crashed-and-retried home must equal. */
const cleanRun = (world: World, codexHome: string, script: ReadonlyArray<ScriptStep>) =>
  Engine.use((engine) =>
    Effect.forEach(script, (step, index): Effect.Effect<unknown, EngineError> => {
      const origin: Origin = { actor: "rpc", requestId: String(index), client: "durability", idempotencyKey: step.key }
      const pluginId = `${step.plugin}@${MARKET}`
      switch (step.method) {
        case "plugin/install":
          return engine.install({ marketplacePath: world.marketplacePath, pluginName: step.plugin }, origin)
        case "plugin/uninstall":
          return engine.uninstall({ pluginId }, origin)
        case "plugin/enable":
        case "plugin/disable":
          return engine.setEnabled({ pluginId, enabled: step.method === "plugin/enable" }, origin)
      }
    })
  ).pipe(Effect.provide(appLayer(makeLedgerPaths({ codexHome, home: world.userHome }))))

const pluginEventsOf = (records: ReadonlyArray<LogRecord>) =>
  records.filter((r) => r.type !== "LogCreated" && r.type !== "LogTailRepaired").map((r) => ({
    id: r.id,
    type: r.type,
    pluginId: typeof r.data === "object" && r.data !== null ? Reflect.get(r.data, "pluginId") : undefined
  }))

const readLog = (codexHome: string) =>
  EventLog.use((log) => Effect.all({ records: log.records, report: log.verify })).pipe(
    Effect.provide(EventLog.layer({ ledgerDir: Path.join(codexHome, "ledger") }))
  )

const resultOf = (response: unknown): unknown =>
  typeof response === "object" && response !== null && "result" in response ? Reflect.get(response, "result") : undefined

describe("R2: plugin-ledger serve killed mid-stream, every request retried with its idempotencyKey", () => {
  it("applies nothing twice: one event per key; config.toml and cache equal a clean run; acked answers repeat", async () => {
    const seed = seedFor("crash-serve")
    const random = makeRandom(seed)
    const trials = scaled(10, 100)
    const world = makeWorld()
    const started = Date.now()
    let acked = 0
    let retried = 0
    try {
      for (let trial = 0; trial < trials; trial++) {
        const script = makeScript(random, 8 + random.int(9), trial)
        const context = `trial ${trial} (seed ${seed})`
        const home = makeHome(world, `home-${trial}`)
        const env = { codexHome: home, home: world.userHome, cwd: world.root }
        // the first server gets the whole script at once and is killed after a random number of answers
        const first = await ServeChild.start(env)
        const killAfter = random.int(script.length + 1)
        script.forEach((step, index) => first.send({ id: index, method: step.method, params: paramsOf(world, step) }))
        if (killAfter > 0) await first.waitFor(killAfter - 1)
        await sleep(random.int(15))
        await first.process.kill()
        const firstAnswers = new Map(script.map((_, index) => [index, first.responseTo(index)] as const))
        assert.deepStrictEqual(first.nonProtocol, [], context)
        // a fresh server gets every request again, in order, with the same keys
        const second = await ServeChild.start(env)
        script.forEach((step, index) => second.send({ id: index, method: step.method, params: paramsOf(world, step) }))
        await second.waitFor(script.length - 1)
        const exit = await second.close()
        assert.deepStrictEqual(exit, { code: 0, signal: null }, `${context}: ${second.process.stderr}`)
        assert.deepStrictEqual(second.nonProtocol, [], context)

        const cleanHome = makeHome(world, `clean-${trial}`)
        const cleanAnswers = await Effect.runPromise(cleanRun(world, cleanHome, script))
        const { records, report } = await Effect.runPromise(readLog(home))
        assert.isTrue(report.ok, `${context}: ${report.problems.join("; ")}`)
        const repaired = records.some((r) => r.type === "LogTailRepaired")
        script.forEach((step, index) => {
          const answer = resultOf(second.responseTo(index))
          assert.isDefined(answer, `${context}: step ${index} ${step.method} failed: ${JSON.stringify(second.responseTo(index))}`)
          const before = firstAnswers.get(index)
          if (before !== undefined) {
            acked++
            assert.deepStrictEqual(answer, resultOf(before), `${context}: the retry of acknowledged step ${index} answered differently`)
          }
          if (!repaired) assert.deepStrictEqual(answer, JSON.parse(JSON.stringify(cleanAnswers[index])), `${context}: step ${index}`)
          // exactly one event per key
          assert.deepStrictEqual(records.filter((r) => r.id.startsWith(`${step.key}:`)).map((r) => r.id), [`${step.key}:0`], context)
        })
        retried += script.length
        const clean = await Effect.runPromise(readLog(cleanHome))
        assert.deepStrictEqual(pluginEventsOf(records), pluginEventsOf(clean.records), context)
        assert.strictEqual(NodeFs.readFileSync(Path.join(home, "config.toml"), "utf8"), NodeFs.readFileSync(Path.join(cleanHome, "config.toml"), "utf8"), context)
        const cache = (h: string) => (NodeFs.existsSync(Path.join(h, "plugins")) ? snapshotTree(Path.join(h, "plugins")) : [])
        assert.deepStrictEqual(cache(home), cache(cleanHome), context)
      }
    } finally {
      NodeFs.rmSync(world.root, { recursive: true, force: true })
    }
    console.log(
      `[crash-serve] seed=${seed} trials=${trials} requests-retried=${retried} acknowledged-before-kill=${acked} ` +
        `applied-twice=0 wall=${Date.now() - started}ms`
    )
  }, 900_000)
})
