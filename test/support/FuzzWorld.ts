/**
 * The temp world the fuzz suites run in: a CODEX_HOME with a hand-written config.toml, a marketplace whose plugins
 * have skills (SKILL.md + agents/openai.yaml), `.mcp.json` and `.app.json`, a plugin that is not available, a
 * plugin dir symlinked out of the root, a plugin holding outward symlinks, a marketplace whose entry escapes its
 * root, a marketplace file that is a symlink, and a secret outside every root.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Result, Schema } from "effect"
import { PluginEvent } from "../../src/domain/Events.ts"
import type { LogRecord } from "../../src/services/EventLog.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerPaths.ts"

export const FUZZ_CONFIG = "# my settings\nmodel = \"gpt-5\"  # keep\n\n[features]\nplugins = true\n\n[profiles.fast]\nmodel = \"o3\"\n"
export const MARKET = "market"
export const SECRET = "TOP-SECRET-OUTSIDE"

export interface FuzzWorld {
  readonly root: string
  readonly paths: LedgerPaths
  /** the main marketplace file and its repo root */
  readonly marketplacePath: string
  readonly repo: string
  /** more marketplace files: escaping entry, a symlinked marketplace file */
  readonly otherMarketplaces: ReadonlyArray<string>
  readonly pluginNames: ReadonlyArray<string>
}

export const writeFile = (path: string, content: string | Uint8Array): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
}

export const marketplaceFileOf = (repo: string): string => Path.join(repo, ".agents", "plugins", "marketplace.json")

/** A complete plugin: manifest, a skill with openai.yaml, MCP servers and apps. */
export const writeRichPlugin = (dir: string, name: string): void => {
  writeFile(Path.join(dir, ".codex-plugin", "plugin.json"), JSON.stringify({
    name,
    version: "1.2.3",
    description: `${name} plugin`,
    interface: { displayName: name.toUpperCase(), shortDescription: "short", category: "Tools" }
  }))
  writeFile(Path.join(dir, "skills", "hello", "SKILL.md"), `---\nname: hello\ndescription: ${name} says hello\n---\n\nBody.\n`)
  writeFile(Path.join(dir, "skills", "hello", "agents", "openai.yaml"), "interface:\n  display_name: Hello\n  short_description: hi\n")
  writeFile(Path.join(dir, ".mcp.json"), JSON.stringify({ mcpServers: { notes: { command: "notes", args: ["--stdio"] } } }))
  writeFile(Path.join(dir, ".app.json"), JSON.stringify({ apps: { calendar: { id: "calendar" } } }))
  writeFile(Path.join(dir, "README.md"), `# ${name}\n`)
}

export const makeFuzzWorld = (prefix: string): FuzzWorld => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), prefix)))
  const paths = makeLedgerPaths({ codexHome: Path.join(root, "home"), home: Path.join(root, "userhome") })
  writeFile(paths.configPath, FUZZ_CONFIG)
  NodeFs.mkdirSync(paths.home, { recursive: true })
  const outside = Path.join(root, "outside")
  writeFile(Path.join(outside, "secret.txt"), SECRET)
  writeRichPlugin(Path.join(outside, "linked"), "linked")

  const repo = Path.join(root, "repo")
  for (const name of ["alpha", "beta"]) writeRichPlugin(Path.join(repo, "plugins", name), name)
  writeFile(Path.join(repo, "plugins", "gamma", ".codex-plugin", "plugin.json"), JSON.stringify({ name: "gamma" }))
  const hasLinks = Path.join(repo, "plugins", "has-links")
  writeRichPlugin(hasLinks, "has-links")
  NodeFs.symlinkSync(Path.join(outside, "secret.txt"), Path.join(hasLinks, "notes.txt"))
  NodeFs.symlinkSync(outside, Path.join(hasLinks, "skills", "outside"))
  NodeFs.symlinkSync(Path.join(outside, "linked"), Path.join(repo, "plugins", "linked"))
  const marketplacePath = marketplaceFileOf(repo)
  writeFile(marketplacePath, JSON.stringify({
    name: MARKET,
    interface: { displayName: "Market" },
    plugins: [
      { name: "alpha", source: { source: "local", path: "./plugins/alpha" } },
      { name: "beta", source: { source: "local", path: "./plugins/beta" }, policy: { authentication: "ON_USE" } },
      { name: "gamma", source: { source: "local", path: "./plugins/gamma" }, policy: { installation: "NOT_AVAILABLE" } },
      { name: "has-links", source: { source: "local", path: "./plugins/has-links" } },
      { name: "linked", source: { source: "local", path: "./plugins/linked" } }
    ]
  }))

  const escape = Path.join(root, "escape")
  writeFile(marketplaceFileOf(escape), JSON.stringify({
    name: "escape",
    plugins: [{ name: "linked", source: { source: "local", path: "./../outside/linked" } }]
  }))
  const symlinked = Path.join(root, "symlinked")
  NodeFs.mkdirSync(Path.join(symlinked, ".agents", "plugins"), { recursive: true })
  NodeFs.symlinkSync(marketplacePath, marketplaceFileOf(symlinked))
  return {
    root,
    paths,
    marketplacePath,
    repo,
    otherMarketplaces: [marketplaceFileOf(escape), marketplaceFileOf(symlinked)],
    pluginNames: ["alpha", "beta", "gamma", "has-links", "linked"]
  }
}

export const removeWorld = (world: FuzzWorld): void => NodeFs.rmSync(world.root, { recursive: true, force: true })

const decodeEvent = Schema.decodeUnknownResult(PluginEvent)

/** Records (after the genesis record) whose data is not a valid PluginEvent of their type. */
export const invalidEvents = (records: ReadonlyArray<LogRecord>): ReadonlyArray<string> =>
  records.slice(1).flatMap((record) => {
    const data = record.data
    const decoded = decodeEvent(typeof data === "object" && data !== null ? { ...data, _tag: record.type } : data)
    return Result.isSuccess(decoded) ? [] : [`seq ${record.seq} (${record.type}): ${decoded.failure.message}`]
  })
