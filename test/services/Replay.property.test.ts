/**
 * Model-based property test of the engine: random sequences of install / enable / disable / uninstall /
 * restart (plus source edits, so reinstalls copy new content, and idempotency keys drawn from a small pool)
 * over three plugins in two marketplaces, one plugin name shared by both, starting from one of several
 * user config.toml files (LF, CRLF, no final newline, other plugin tables, empty, absent). After every step:
 *   (a) the projection (config.toml bytes + every path, mode and byte under `plugins/cache`) equals what a
 *       fresh replay of the same log produces in a separate, empty CODEX_HOME (only `ledger/events` and
 *       `ledger/blobs` copied, same initial config.toml; start-up catch-up projects everything);
 *   (b) the state matches a simple model: installed/enabled per plugin (as `plugin/list` reports it and as
 *       config.toml says), the cached tree is the source as it was at the last applied install, each answer
 *       is the expected one, and each step appended exactly the events the model expects.
 *
 * LEDGER_PROPERTY_RUNS (default 100), LEDGER_PROPERTY_STEPS (max steps per run, default 25),
 * LEDGER_PROPERTY_SEED and LEDGER_PROPERTY_PATH (fast-check's counterexample path) replay a failure;
 * LEDGER_PROPERTY_TMPDIR picks where the temp dirs go.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Result, Scope } from "effect"
import * as fc from "fast-check"
import { parseConfig } from "../../src/adapters/ConfigToml.ts"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine, type EngineShape, type Origin } from "../../src/services/EngineApi.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerConfig.ts"

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got ${raw}`)
  return value
}
const RUNS = envInt("LEDGER_PROPERTY_RUNS", 100)
const MAX_STEPS = envInt("LEDGER_PROPERTY_STEPS", 25)
const SEED = envInt("LEDGER_PROPERTY_SEED", Math.floor(Math.random() * 2 ** 31))
const PATH = process.env["LEDGER_PROPERTY_PATH"]
/**
 * Where the temp worlds live: LEDGER_PROPERTY_TMPDIR, else /dev/shm when writable (tmpfs: the engine fsyncs every
 * file and dir it writes, which on a disk turns ~1,200 steps with a fresh replay each into minutes), else the OS
 * temp dir.
 */
const TMP_BASE = (() => {
  const fromEnv = process.env["LEDGER_PROPERTY_TMPDIR"]
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  try {
    NodeFs.accessSync("/dev/shm", NodeFs.constants.W_OK)
    return NodeFs.statSync("/dev/shm").isDirectory() ? "/dev/shm" : Os.tmpdir()
  } catch {
    return Os.tmpdir()
  }
})()
const stats = { runs: 0, steps: 0, replays: 0, events: 0, keyedReplays: 0, keyConflicts: 0 }

const CANONICAL_CONFIG = "# user settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n\n[profiles.fast]\nmodel = \"o3\" # fast\n"

interface InitialConfig {
  readonly name: string
  /** undefined: no config.toml at all */
  readonly text: string | undefined
  /** `[features] plugins = true`: only then does `plugin/list` report `enabled` */
  readonly featuresOn: boolean
}
const CONFIGS: ReadonlyArray<InitialConfig> = [
  { name: "canonical", text: CANONICAL_CONFIG, featuresOn: true },
  { name: "crlf", text: CANONICAL_CONFIG.replaceAll("\n", "\r\n"), featuresOn: true },
  { name: "no-final-newline", text: "[features]\nplugins = true", featuresOn: true },
  {
    name: "other-plugins",
    text: "[features]\nplugins = true\n\n# set by hand\n[plugins.\"other@elsewhere\"]\nenabled = false\n\n[mcp_servers.docs]\ncommand = \"docs\"\n",
    featuresOn: true
  },
  { name: "empty", text: "", featuresOn: false },
  { name: "absent", text: undefined, featuresOn: false }
]

interface PluginSpec {
  readonly name: string
  readonly marketplace: string
  /** index into the world's marketplace roots */
  readonly root: 0 | 1
}
const PLUGINS: ReadonlyArray<PluginSpec> = [
  { name: "tool", marketplace: "m-one", root: 0 },
  { name: "kit", marketplace: "m-one", root: 0 },
  { name: "tool", marketplace: "m-two", root: 1 }
]
const idOf = (p: PluginSpec): string => `${p.name}@${p.marketplace}`

interface World {
  readonly root: string
  readonly roots: readonly [string, string]
  readonly config: InitialConfig
  readonly paths: LedgerPaths
}

const writeFile = (path: string, content: string, mode = 0o644): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
  NodeFs.chmodSync(path, mode)
}
const marketplaceFile = (root: string): string => Path.join(root, ".agents", "plugins", "marketplace.json")
const sourceDir = (world: World, p: PluginSpec): string => Path.join(world.roots[p.root], "plugins", p.name)
const writeInitialConfig = (paths: LedgerPaths, config: InitialConfig): void => {
  NodeFs.mkdirSync(paths.codexHome, { recursive: true })
  if (config.text !== undefined) writeFile(paths.configPath, config.text)
}

const makeWorld = (config: InitialConfig): World => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(TMP_BASE, "replay-prop-")))
  const roots: readonly [string, string] = [Path.join(root, "repo-one"), Path.join(root, "repo-two")]
  roots.forEach((dir, index) => {
    const own = PLUGINS.filter((p) => p.root === index)
    writeFile(marketplaceFile(dir), JSON.stringify({
      name: own[0]?.marketplace ?? "",
      plugins: own.map((p) => ({ name: p.name, source: { source: "local", path: `./plugins/${p.name}` } }))
    }))
  })
  for (const p of PLUGINS) {
    const dir = Path.join(roots[p.root], "plugins", p.name)
    writeFile(Path.join(dir, ".codex-plugin", "plugin.json"), JSON.stringify({ name: p.name, description: idOf(p) }))
    writeFile(Path.join(dir, "skills", "s", "SKILL.md"), `---\nname: s\ndescription: ${idOf(p)}\n---\n`)
    writeFile(Path.join(dir, ".mcp.json"), "{\"mcpServers\":{}}\n")
    writeFile(Path.join(dir, "bin", "run"), `#!/bin/sh\necho ${idOf(p)}\n`, 0o755)
    writeFile(Path.join(dir, "data", "version.txt"), "v0\n")
  }
  const paths = makeLedgerPaths({ codexHome: Path.join(root, "home"), home: Path.join(root, "userhome") })
  NodeFs.mkdirSync(paths.home, { recursive: true })
  writeInitialConfig(paths, config)
  return { root, roots, config, paths }
}

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(3, "0")

const listTree = (root: string): ReadonlyArray<string> => {
  if (!NodeFs.existsSync(root)) return []
  const out: Array<string> = []
  const walk = (rel: string): void => {
    for (const name of NodeFs.readdirSync(rel === "" ? root : Path.join(root, rel)).sort()) {
      const childRel = rel === "" ? name : `${rel}/${name}`
      const full = Path.join(root, childRel)
      const stat = NodeFs.lstatSync(full)
      if (stat.isSymbolicLink()) out.push(`symlink ${childRel} -> ${NodeFs.readlinkSync(full)}`)
      else if (stat.isDirectory()) {
        out.push(`dir ${childRel} ${octal(stat.mode)}`)
        walk(childRel)
      } else out.push(`file ${childRel} ${octal(stat.mode)} ${NodeFs.readFileSync(full).toString("base64")}`)
    }
  }
  walk("")
  return out
}

interface Projection {
  /** undefined: no config.toml */
  readonly config: string | undefined
  readonly configMode: string | undefined
  readonly cache: ReadonlyArray<string>
}
const projectionOf = (paths: LedgerPaths): Projection => {
  const present = NodeFs.existsSync(paths.configPath)
  return {
    config: present ? NodeFs.readFileSync(paths.configPath, "utf8") : undefined,
    configMode: present ? octal(NodeFs.statSync(paths.configPath).mode) : undefined,
    cache: listTree(paths.cacheDir)
  }
}

const countRecords = (paths: LedgerPaths): number => {
  const dir = Path.join(paths.ledgerDir, "events")
  return NodeFs.readdirSync(dir)
    .filter((name) => name.endsWith(".jsonl"))
    .reduce((n, name) => n + NodeFs.readFileSync(Path.join(dir, name), "utf8").split("\n").filter((l) => l.length > 0).length, 0)
}

/** Copies the log and the blobs into a new CODEX_HOME with the initial config.toml, opens it, returns its projection. */
const freshReplay = Effect.fnUntraced(function*(world: World, n: number) {
  const paths = makeLedgerPaths({ codexHome: Path.join(world.root, `replay-${n}`), home: world.paths.home })
  writeInitialConfig(paths, world.config)
  NodeFs.cpSync(Path.join(world.paths.ledgerDir, "events"), Path.join(paths.ledgerDir, "events"), { recursive: true })
  if (NodeFs.existsSync(world.paths.blobsDir)) NodeFs.cpSync(world.paths.blobsDir, paths.blobsDir, { recursive: true })
  yield* Engine.use(() => Effect.void).pipe(Effect.provide(appLayer(paths)))
  const projection = projectionOf(paths)
  NodeFs.rmSync(paths.codexHome, { recursive: true, force: true })
  stats.replays += 1
  return projection
})

type CommandTag = "Install" | "Enable" | "Disable" | "Uninstall"
const EVENT_OF: Record<CommandTag, string> = {
  Install: "PluginInstalled",
  Enable: "PluginEnabled",
  Disable: "PluginDisabled",
  Uninstall: "PluginUninstalled"
}
type Step =
  | { readonly _tag: CommandTag; readonly plugin: number; readonly key: string | undefined }
  | { readonly _tag: "EditSource"; readonly plugin: number }
  | { readonly _tag: "Restart" }
  /** the client retries its last command, same key (if it had one) */
  | { readonly _tag: "Retry" }

const pluginIndex = fc.integer({ min: 0, max: PLUGINS.length - 1 })
/** mostly no key; sometimes one of four, so retries (same key; the same command or another) happen */
const keyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  { arbitrary: fc.constantFrom("key-a", "key-b", "key-c", "key-d"), weight: 1 }
)
const command = (tag: CommandTag) =>
  fc.record({ plugin: pluginIndex, key: keyArb }).map(({ key, plugin }): Step => ({ _tag: tag, plugin, key }))
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: command("Install"), weight: 4 },
  { arbitrary: command("Enable"), weight: 3 },
  { arbitrary: command("Disable"), weight: 3 },
  { arbitrary: command("Uninstall"), weight: 2 },
  { arbitrary: pluginIndex.map((plugin): Step => ({ _tag: "EditSource", plugin })), weight: 1 },
  { arbitrary: fc.constant<Step>({ _tag: "Restart" }), weight: 2 },
  { arbitrary: fc.constant<Step>({ _tag: "Retry" }), weight: 2 }
)
const scenarioArb = fc.record({
  config: fc.integer({ min: 0, max: CONFIGS.length - 1 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: MAX_STEPS, size: "max" })
})

interface ModelPlugin {
  readonly installed: boolean
  readonly enabled: boolean
  /** the cached tree: the source as it was at the last applied install */
  readonly tree: ReadonlyArray<string> | undefined
}
const notInstalled: ModelPlugin = { installed: false, enabled: false, tree: undefined }

const originFor = (key: string | undefined): Origin => ({
  actor: "rpc",
  requestId: "prop",
  client: "replay-property",
  ...(key === undefined ? {} : { idempotencyKey: key })
})

interface Session {
  readonly scope: Scope.Closeable
  readonly engine: EngineShape
}
const openSession = Effect.fnUntraced(function*(paths: LedgerPaths) {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(appLayer(paths), scope).pipe(
    Effect.onError(() => Scope.close(scope, Exit.void))
  )
  return { scope, engine: Context.get(context, Engine) }
})

const spec = (index: number): PluginSpec => {
  const p = PLUGINS[index]
  if (p === undefined) throw new Error(`no plugin ${index}`)
  return p
}

const runScenario = (scenario: { readonly config: number; readonly steps: ReadonlyArray<Step> }) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeWorld(CONFIGS[scenario.config] ?? CONFIGS[0] ?? { name: "none", text: undefined, featuresOn: false })),
    (world) =>
      Effect.gen(function*() {
        let session: Session = yield* openSession(world.paths)
        yield* Effect.addFinalizer(() => Scope.close(session.scope, Exit.void))
        const model: Array<ModelPlugin> = PLUGINS.map(() => notInstalled)
        /** idempotency keys whose command appended events: what it recorded, and the seq of its last event */
        const usedKeys = new Map<string, { readonly type: string; readonly pluginId: string; readonly seq: number }>()
        let edits = 0
        let lastCommand: Step | undefined
        let records = countRecords(world.paths)
        stats.runs += 1

        for (const [n, generated] of scenario.steps.entries()) {
          const step: Step = generated._tag === "Retry" ? lastCommand ?? generated : generated
          if (step._tag === "Install" || step._tag === "Enable" || step._tag === "Disable" || step._tag === "Uninstall") lastCommand = step
          const where = `[${world.config.name}] step ${n} ${JSON.stringify(generated)}${step === generated ? "" : ` = ${JSON.stringify(step)}`}`
          let appended = 0
          if (step._tag === "Retry") {
            // nothing to retry yet
          } else if (step._tag === "Restart") {
            yield* Scope.close(session.scope, Exit.void)
            session = yield* openSession(world.paths)
          } else if (step._tag === "EditSource") {
            const dir = sourceDir(world, spec(step.plugin))
            edits += 1
            writeFile(Path.join(dir, "data", "version.txt"), `v${edits}\n`)
            const extra = Path.join(dir, "extra")
            if (NodeFs.existsSync(extra)) NodeFs.rmSync(extra, { recursive: true })
            else writeFile(Path.join(extra, `edit-${edits}.txt`), `edit ${edits}\n`, 0o600)
          } else {
            const p = spec(step.plugin)
            const origin = originFor(step.key)
            const eventType = EVENT_OF[step._tag]
            const used = step.key === undefined ? undefined : usedKeys.get(step.key)
            // a key reused for the same command replays it; for another command it is refused
            const replayOf = used !== undefined && used.type === eventType && used.pluginId === idOf(p) ? used.seq : undefined
            const current = model[step.plugin] ?? notInstalled
            if (used !== undefined && replayOf === undefined) {
              const result = yield* Effect.result(
                step._tag === "Install"
                  ? Effect.asVoid(session.engine.install({ marketplacePath: marketplaceFile(world.roots[p.root]), pluginName: p.name }, origin))
                  : step._tag === "Uninstall"
                  ? Effect.asVoid(session.engine.uninstall({ pluginId: idOf(p) }, origin))
                  : Effect.asVoid(session.engine.setEnabled({ pluginId: idOf(p), enabled: step._tag === "Enable" }, origin))
              )
              if (Result.isSuccess(result)) return assert.fail(`${where}: a key reused for another command was accepted`)
              assert.strictEqual(result.failure.kind, "InvalidRequest", where)
              assert.strictEqual(result.failure.message, `idempotency key \`${step.key}\` was already used for a different command`, where)
              stats.keyConflicts += 1
            } else switch (step._tag) {
              case "Install": {
                const view = yield* session.engine.install(
                  { marketplacePath: marketplaceFile(world.roots[p.root]), pluginName: p.name },
                  origin
                )
                assert.deepStrictEqual(view, { authPolicy: "ON_INSTALL", appsNeedingAuth: [] }, where)
                if (replayOf === undefined) {
                  model[step.plugin] = { installed: true, enabled: true, tree: listTree(sourceDir(world, p)) }
                  appended = 1
                }
                break
              }
              case "Enable":
              case "Disable": {
                const enabled = step._tag === "Enable"
                const result = yield* Effect.result(session.engine.setEnabled({ pluginId: idOf(p), enabled }, origin))
                if (replayOf !== undefined) {
                  // a retry: the recorded outcome, nothing new
                  if (Result.isFailure(result)) return assert.fail(`${where}: unexpected ${result.failure.message}`)
                  assert.deepStrictEqual(result.success, { pluginId: idOf(p), enabled, changed: true, seq: replayOf }, where)
                } else if (!current.installed) {
                  assert.isTrue(Result.isFailure(result), `${where}: expected a rejection`)
                  if (Result.isFailure(result)) {
                    assert.strictEqual(result.failure.kind, "InvalidRequest", where)
                    assert.strictEqual(result.failure.message, `plugin \`${idOf(p)}\` is not installed`, where)
                  }
                } else {
                  if (Result.isFailure(result)) return assert.fail(`${where}: unexpected ${result.failure.message}`)
                  const changed = current.enabled !== enabled
                  assert.deepStrictEqual(
                    result.success,
                    { pluginId: idOf(p), enabled, changed, seq: changed ? records + 1 : null },
                    where
                  )
                  model[step.plugin] = { ...current, enabled }
                  appended = changed ? 1 : 0
                }
                break
              }
              case "Uninstall": {
                assert.deepStrictEqual(yield* session.engine.uninstall({ pluginId: idOf(p) }, origin), {}, where)
                if (replayOf === undefined) {
                  appended = current.installed ? 1 : 0
                  model[step.plugin] = notInstalled
                }
                break
              }
            }
            if (replayOf !== undefined) stats.keyedReplays += 1
            if (step.key !== undefined && used === undefined && appended > 0) {
              usedKeys.set(step.key, { type: eventType, pluginId: idOf(p), seq: records + appended })
            }
          }

          // the log grew by exactly what the model expects
          const now = countRecords(world.paths)
          assert.strictEqual(now - records, appended, `${where}: events appended`)
          records = now
          stats.steps += 1
          stats.events += appended

          // (a) the live projection equals a fresh replay of the log
          const live = projectionOf(world.paths)
          const replayed = yield* freshReplay(world, n)
          assert.deepStrictEqual(replayed.config, live.config, `${where}: config.toml differs from a fresh replay`)
          assert.deepStrictEqual(replayed.configMode, live.configMode, `${where}: config.toml mode differs from a fresh replay`)
          assert.deepStrictEqual(replayed.cache, live.cache, `${where}: plugins/cache differs from a fresh replay`)

          // (b) the state matches the model: the read side, config.toml and the cached trees
          const listed = yield* session.engine.list({ cwds: [...world.roots], forceRemoteSync: false })
          const parsed = parseConfig(live.config ?? "")
          if (Result.isFailure(parsed)) return assert.fail(`${where}: config.toml does not parse: ${parsed.failure.message}`)
          PLUGINS.forEach((p, index) => {
            const expected = model[index] ?? notInstalled
            const summary = listed.marketplaces.find((m) => m.name === p.marketplace)?.plugins.find((s) => s.id === idOf(p))
            assert.deepStrictEqual(
              { installed: summary?.installed, enabled: summary?.enabled },
              { installed: expected.installed, enabled: expected.enabled && world.config.featuresOn },
              `${where}: plugin/list of ${idOf(p)}`
            )
            const entry = parsed.success.plugins.get(idOf(p))
            assert.deepStrictEqual(
              entry === undefined ? undefined : entry.enabled,
              expected.installed ? expected.enabled : undefined,
              `${where}: config.toml table of ${idOf(p)}`
            )
            const pluginDir = Path.join(world.paths.cacheDir, p.marketplace, p.name)
            if (expected.tree === undefined) assert.isFalse(NodeFs.existsSync(pluginDir), `${where}: ${pluginDir} should be gone`)
            else {
              assert.deepStrictEqual(NodeFs.readdirSync(pluginDir), ["local"], `${where}: versions of ${idOf(p)}`)
              assert.deepStrictEqual(listTree(Path.join(pluginDir, "local")), expected.tree, `${where}: cached tree of ${idOf(p)}`)
            }
          })
          // tables of other plugins are never touched
          if (world.config.name === "other-plugins") assert.strictEqual(parsed.success.plugins.get("other@elsewhere")?.enabled, false, where)
          if (world.config.name === "canonical" && model.every((m) => !m.installed)) {
            assert.strictEqual(live.config, CANONICAL_CONFIG, `${where}: config back to the user's bytes`)
          }
        }
      }).pipe(Effect.scoped),
    (world) => Effect.sync(() => NodeFs.rmSync(world.root, { recursive: true, force: true }))
  )

describe("replay property", () => {
  it.live(
    `after every step, the projection equals a fresh replay and the state matches the model (${RUNS} runs, <= ${MAX_STEPS} steps)`,
    () =>
      Effect.gen(function*() {
        console.log(
          `[Replay.property] seed=${SEED} runs=${RUNS} maxSteps=${MAX_STEPS} (replay with LEDGER_PROPERTY_SEED=${SEED})`
        )
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(scenarioArb, (scenario) => Effect.runPromise(runScenario(scenario))),
            {
              numRuns: RUNS,
              seed: SEED,
              ...(PATH === undefined ? {} : { path: PATH }),
              // a failing run shrinks; keep the whole thing bounded (seed + path resume it)
              plugins: [fc.interruptAfterTimeLimit(9 * 60_000, { failOnInterrupt: true })]
            }
          )
        )
        console.log(
          `[Replay.property] ${stats.runs} runs, ${stats.steps} steps, ${stats.replays} fresh replays, ` +
            `${stats.events} events, ${stats.keyedReplays} keyed retries, ${stats.keyConflicts} refused key reuses (tmp: ${TMP_BASE})`
        )
      }),
    10 * 60_000
  )
})
