/**
 * Model-based property test of the engine: random sequences of install / enable / disable / uninstall /
 * restart (plus source edits, so reinstalls copy new content) over three plugins in two marketplaces, one
 * plugin name shared by both. After every step:
 *   (a) the projection (config.toml bytes + every path, mode and byte under `plugins/cache`) equals what a
 *       fresh replay of the same log produces in a separate, empty CODEX_HOME (only `ledger/events` and
 *       `ledger/blobs` copied; start-up catch-up projects everything);
 *   (b) the state matches a simple model: installed/enabled per plugin (as `plugin/list` reports it and as
 *       config.toml says), the cached tree is the source as it was at the last install, and the number of
 *       events each step appended is what the model expects.
 *
 * LEDGER_PROPERTY_RUNS (default 100), LEDGER_PROPERTY_STEPS (max steps per run, default 25),
 * LEDGER_PROPERTY_SEED and LEDGER_PROPERTY_PATH (fast-check's counterexample path) replay a failure.
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

// ---------------------------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------------------------

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
 * Where the temp worlds live: LEDGER_PROPERTY_TMPDIR, else /dev/shm when present (tmpfs: the engine fsyncs every
 * file it writes, which on a disk makes 2,500 steps with a replay each take minutes), else the OS temp dir.
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
const stats = { runs: 0, steps: 0, replays: 0, events: 0 }

// ---------------------------------------------------------------------------------------------
// the world: two marketplace roots, three plugins (`tool` exists in both marketplaces)
// ---------------------------------------------------------------------------------------------

const INITIAL_CONFIG = "# user settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n\n[profiles.fast]\nmodel = \"o3\" # fast\n"

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
  readonly paths: LedgerPaths
}

const writeFile = (path: string, content: string, mode = 0o644): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
  NodeFs.chmodSync(path, mode)
}
const marketplaceFile = (root: string): string => Path.join(root, ".agents", "plugins", "marketplace.json")
const sourceDir = (world: World, p: PluginSpec): string => Path.join(world.roots[p.root], "plugins", p.name)

const makeWorld = (): World => {
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
  writeFile(paths.configPath, INITIAL_CONFIG)
  return { root, roots, paths }
}

// ---------------------------------------------------------------------------------------------
// observing the disk
// ---------------------------------------------------------------------------------------------

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
  readonly config: string
  readonly cache: ReadonlyArray<string>
}
const projectionOf = (paths: LedgerPaths): Projection => ({
  config: NodeFs.readFileSync(paths.configPath, "utf8"),
  cache: listTree(paths.cacheDir)
})

const countRecords = (paths: LedgerPaths): number => {
  const dir = Path.join(paths.ledgerDir, "events")
  return NodeFs.readdirSync(dir)
    .filter((name) => name.endsWith(".jsonl"))
    .reduce((n, name) => n + NodeFs.readFileSync(Path.join(dir, name), "utf8").split("\n").filter((l) => l.length > 0).length, 0)
}

/** Copies the log and the blobs into a new CODEX_HOME with the initial config.toml, opens it, returns its projection. */
const freshReplay = (world: World, n: number) =>
  Effect.gen(function*() {
    const home = Path.join(world.root, `replay-${n}`)
    const paths = makeLedgerPaths({ codexHome: home, home: world.paths.home })
    writeFile(paths.configPath, INITIAL_CONFIG)
    NodeFs.cpSync(Path.join(world.paths.ledgerDir, "events"), Path.join(paths.ledgerDir, "events"), { recursive: true })
    if (NodeFs.existsSync(world.paths.blobsDir)) NodeFs.cpSync(world.paths.blobsDir, paths.blobsDir, { recursive: true })
    yield* Engine.use(() => Effect.void).pipe(Effect.provide(appLayer(paths)))
    const projection = projectionOf(paths)
    NodeFs.rmSync(home, { recursive: true, force: true })
    stats.replays += 1
    return projection
  })

// ---------------------------------------------------------------------------------------------
// steps and the model
// ---------------------------------------------------------------------------------------------

type Step =
  | { readonly _tag: "Install" | "Enable" | "Disable" | "Uninstall" | "EditSource"; readonly plugin: number }
  | { readonly _tag: "Restart" }

const pluginIndex = fc.integer({ min: 0, max: PLUGINS.length - 1 })
const onPlugin = (tag: "Install" | "Enable" | "Disable" | "Uninstall" | "EditSource") =>
  pluginIndex.map((plugin): Step => ({ _tag: tag, plugin }))
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: onPlugin("Install"), weight: 4 },
  { arbitrary: onPlugin("Enable"), weight: 3 },
  { arbitrary: onPlugin("Disable"), weight: 3 },
  { arbitrary: onPlugin("Uninstall"), weight: 2 },
  { arbitrary: onPlugin("EditSource"), weight: 1 },
  { arbitrary: fc.constant<Step>({ _tag: "Restart" }), weight: 2 }
)
const stepsArb = fc.array(stepArb, { minLength: 1, maxLength: MAX_STEPS, size: "max" })

interface ModelPlugin {
  readonly installed: boolean
  readonly enabled: boolean
  /** the cached tree: the source as it was at the last install */
  readonly tree: ReadonlyArray<string> | undefined
}
const emptyModel = (): Array<ModelPlugin> => PLUGINS.map(() => ({ installed: false, enabled: false, tree: undefined }))

const origin: Origin = { actor: "rpc", requestId: "prop", client: "replay-property" }

// ---------------------------------------------------------------------------------------------
// one run
// ---------------------------------------------------------------------------------------------

interface Session {
  readonly scope: Scope.Closeable
  readonly engine: EngineShape
}
const openSession = (paths: LedgerPaths) =>
  Effect.gen(function*() {
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

const runSteps = (steps: ReadonlyArray<Step>) =>
  Effect.acquireUseRelease(
    Effect.sync(makeWorld),
    (world) =>
      Effect.gen(function*() {
        let session: Session = yield* openSession(world.paths)
        yield* Effect.addFinalizer(() => Scope.close(session.scope, Exit.void))
        const model = emptyModel()
        stats.runs += 1
        let edits = 0
        let records = countRecords(world.paths)

        for (const [n, step] of steps.entries()) {
          const where = `step ${n} ${JSON.stringify(step)}`
          let appended = 0
          switch (step._tag) {
            case "Restart": {
              yield* Scope.close(session.scope, Exit.void)
              session = yield* openSession(world.paths)
              break
            }
            case "EditSource": {
              const p = spec(step.plugin)
              edits += 1
              writeFile(Path.join(sourceDir(world, p), "data", "version.txt"), `v${edits}\n`)
              const extra = Path.join(sourceDir(world, p), "extra")
              if (NodeFs.existsSync(extra)) NodeFs.rmSync(extra, { recursive: true })
              else writeFile(Path.join(extra, `edit-${edits}.txt`), `edit ${edits}\n`, 0o600)
              break
            }
            case "Install": {
              const p = spec(step.plugin)
              const view = yield* session.engine.install(
                { marketplacePath: marketplaceFile(world.roots[p.root]), pluginName: p.name },
                origin
              )
              assert.deepStrictEqual(view, { authPolicy: "ON_INSTALL", appsNeedingAuth: [] }, where)
              model[step.plugin] = { installed: true, enabled: true, tree: listTree(sourceDir(world, p)) }
              appended = 1
              break
            }
            case "Enable":
            case "Disable": {
              const p = spec(step.plugin)
              const enabled = step._tag === "Enable"
              const current = model[step.plugin]
              const result = yield* Effect.result(session.engine.setEnabled({ pluginId: idOf(p), enabled }, origin))
              if (current?.installed !== true) {
                assert.isTrue(Result.isFailure(result), `${where}: expected a rejection`)
                if (Result.isFailure(result)) {
                  assert.strictEqual(result.failure.kind, "InvalidRequest", where)
                  assert.strictEqual(result.failure.message, `plugin \`${idOf(p)}\` is not installed`, where)
                }
                break
              }
              const changed = current.enabled !== enabled
              if (Result.isFailure(result)) return assert.fail(`${where}: unexpected ${result.failure.message}`)
              assert.deepStrictEqual(
                result.success,
                { pluginId: idOf(p), enabled, changed, seq: changed ? records + 1 : null },
                where
              )
              model[step.plugin] = { ...current, enabled }
              appended = changed ? 1 : 0
              break
            }
            case "Uninstall": {
              const p = spec(step.plugin)
              assert.deepStrictEqual(yield* session.engine.uninstall({ pluginId: idOf(p) }, origin), {}, where)
              appended = model[step.plugin]?.installed === true ? 1 : 0
              model[step.plugin] = { installed: false, enabled: false, tree: undefined }
              break
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
          assert.deepStrictEqual(replayed.cache, live.cache, `${where}: plugins/cache differs from a fresh replay`)

          // (b) the state matches the model: the read side, config.toml and the cached trees
          const listed = yield* session.engine.list({ cwds: [...world.roots], forceRemoteSync: false })
          const parsed = parseConfig(live.config)
          if (Result.isFailure(parsed)) return assert.fail(`${where}: config.toml does not parse: ${parsed.failure.message}`)
          PLUGINS.forEach((p, index) => {
            const expected = model[index] ?? { installed: false, enabled: false, tree: undefined }
            const summary = listed.marketplaces.find((m) => m.name === p.marketplace)?.plugins.find((s) => s.id === idOf(p))
            assert.deepStrictEqual(
              { installed: summary?.installed, enabled: summary?.enabled },
              { installed: expected.installed, enabled: expected.enabled },
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
          if (model.every((m) => !m.installed)) assert.strictEqual(live.config, INITIAL_CONFIG, `${where}: config back to the user's`)
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
            fc.asyncProperty(stepsArb, (steps) => Effect.runPromise(runSteps(steps))),
            {
              numRuns: RUNS,
              seed: SEED,
              ...(PATH === undefined ? {} : { path: PATH }),
              // a failing run shrinks; keep the whole thing bounded (replay resumes from seed + path)
              plugins: [fc.interruptAfterTimeLimit(9 * 60_000, { failOnInterrupt: true })]
            }
          )
        )
        console.log(
          `[Replay.property] ${stats.runs} runs, ${stats.steps} steps, ${stats.replays} fresh replays, ${stats.events} events (tmp: ${TMP_BASE})`
        )
      }),
    10 * 60_000
  )
})
