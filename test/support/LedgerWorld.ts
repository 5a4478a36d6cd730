/**
 * A small real world for engine-level tests: a temp dir with a marketplace of two plugins (`alpha`, `beta`), a
 * CODEX_HOME with a hand-written config.toml, and helpers to run the engine (`appLayer`) and read the log.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine, type EngineShape, type Origin } from "../../src/services/EngineApi.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerPaths.ts"

export const MARKET = "market"
export const ALPHA = `alpha@${MARKET}`
export const BETA = `beta@${MARKET}`
export const INITIAL_CONFIG = "# my settings\nmodel = \"gpt-5\"  # keep\n\n[features]\nplugins = true\n"
export const cliOrigin: Origin = { actor: "cli", client: "test-cli", requestId: "r1" }

export interface World {
  readonly root: string
  readonly repo: string
  readonly marketplacePath: string
  readonly paths: LedgerPaths
}

export const writeFile = (path: string, content: string | Uint8Array): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
}

export const makeWorld = (): World => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "ledger-world-")))
  const repo = Path.join(root, "repo")
  for (const name of ["alpha", "beta"]) {
    const dir = Path.join(repo, "plugins", name)
    writeFile(Path.join(dir, ".codex-plugin", "plugin.json"), JSON.stringify({ name, description: `${name} plugin` }))
    writeFile(Path.join(dir, "skills", "hello", "SKILL.md"), `---\nname: hello\ndescription: ${name}\n---\nHello.\n`)
    writeFile(Path.join(dir, "docs", "README.md"), `# ${name}\n`)
  }
  const marketplacePath = Path.join(repo, ".agents", "plugins", "marketplace.json")
  writeFile(marketplacePath, JSON.stringify({
    name: MARKET,
    plugins: ["alpha", "beta"].map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } }))
  }))
  const paths = makeLedgerPaths({ codexHome: Path.join(root, "codex-home"), home: Path.join(root, "home") })
  NodeFs.mkdirSync(paths.home, { recursive: true })
  writeFile(paths.configPath, INITIAL_CONFIG)
  return { root, repo, marketplacePath, paths }
}

export const worldScoped = Effect.acquireRelease(
  Effect.sync(makeWorld),
  (world) => Effect.sync(() => NodeFs.rmSync(world.root, { recursive: true, force: true }))
)

/** Opens the ledger (start-up checks included), runs `f`, closes it: one CLI-like process lifetime. */
export const withEngine = <A, E>(world: World, f: (engine: EngineShape) => Effect.Effect<A, E>) =>
  Engine.use(f).pipe(Effect.provide(appLayer(world.paths)))

export const install = (engine: EngineShape, world: World, pluginName: string, origin: Origin = cliOrigin) =>
  engine.install({ marketplacePath: world.marketplacePath, pluginName }, origin)

export interface LogLine {
  readonly seq: number
  readonly id: string
  readonly type: string
  readonly data: Record<string, unknown>
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** The committed records, read straight from `ledger/events/*.jsonl`. */
export const readLog = (world: World): ReadonlyArray<LogLine> => {
  const dir = Path.join(world.paths.ledgerDir, "events")
  if (!NodeFs.existsSync(dir)) return []
  return NodeFs.readdirSync(dir)
    .filter((name) => name.endsWith(".jsonl"))
    .sort()
    .flatMap((name) => NodeFs.readFileSync(Path.join(dir, name), "utf8").split("\n").filter((l) => l.length > 0))
    .map((line): LogLine => {
      const parsed: unknown = JSON.parse(line)
      if (!isRecord(parsed) || typeof parsed["seq"] !== "number" || typeof parsed["id"] !== "string" || typeof parsed["type"] !== "string") {
        throw new Error(`not a log record: ${line}`)
      }
      const data = parsed["data"]
      return { seq: parsed["seq"], id: parsed["id"], type: parsed["type"], data: isRecord(data) ? data : {} }
    })
}

export const readConfig = (world: World): string => NodeFs.readFileSync(world.paths.configPath, "utf8")
export const pluginCacheDir = (world: World, name: string): string => Path.join(world.paths.cacheDir, MARKET, name)
