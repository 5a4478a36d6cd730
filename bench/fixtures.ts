/**
 * Benchmark fixture: N marketplaces × M plugins under one temp root.
 *
 *   <root>/mk-00/.git/                                   (empty dir: makes mk-00 a git root)
 *   <root>/mk-00/.agents/plugins/marketplace.json        (marketplace `bench-00`, M entries)
 *   <root>/mk-00/plugins/p00-000/.codex-plugin/plugin.json  (manifest with a full `interface`)
 *   <root>/mk-00/plugins/p00-000/skills/{alpha,beta}/SKILL.md
 *   <root>/mk-00/plugins/p00-000/.mcp.json, README.md, LICENSE, assets/icon.png, scripts/run.sh
 *   …
 *
 * The request `cwds` are the marketplace roots' `src/` subdirectories, so discovery goes through
 * the "root has no marketplace file → walk up to the git root" path (the common real-world case).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export interface Fixture {
  readonly root: string
  /** one per marketplace: the cwd sent in `plugin/list` */
  readonly cwds: ReadonlyArray<string>
  /** absolute marketplace.json paths, by marketplace index */
  readonly marketplacePaths: ReadonlyArray<string>
  /** plugin names, by marketplace index */
  readonly pluginNames: ReadonlyArray<ReadonlyArray<string>>
  readonly fileCount: number
  readonly byteCount: number
}

const PNG_1X1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64"
)

const pad = (n: number, width: number) => String(n).padStart(width, "0")

export const createFixture = (options: { readonly marketplaces: number; readonly pluginsPerMarketplace: number }): Fixture => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "plugin-ledger-bench-")))
  let fileCount = 0
  let byteCount = 0
  const write = (file: string, content: string | Buffer, mode?: number) => {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, content, mode === undefined ? undefined : { mode })
    fileCount++
    byteCount += typeof content === "string" ? Buffer.byteLength(content) : content.length
  }
  const json = (file: string, value: unknown) => write(file, `${JSON.stringify(value, null, 2)}\n`)

  const cwds: Array<string> = []
  const marketplacePaths: Array<string> = []
  const pluginNames: Array<Array<string>> = []
  for (let m = 0; m < options.marketplaces; m++) {
    const mk = path.join(root, `mk-${pad(m, 2)}`)
    fs.mkdirSync(path.join(mk, ".git"), { recursive: true })
    fs.mkdirSync(path.join(mk, "src"), { recursive: true })
    cwds.push(path.join(mk, "src"))
    const names: Array<string> = []
    const entries: Array<unknown> = []
    for (let p = 0; p < options.pluginsPerMarketplace; p++) {
      const name = `p${pad(m, 2)}-${pad(p, 3)}`
      names.push(name)
      const dir = path.join(mk, "plugins", name)
      entries.push({
        name,
        source: { source: "local", path: `./plugins/${name}` },
        policy: { installation: "AVAILABLE", authentication: "ON_INSTALL" },
        category: p % 3 === 0 ? "Productivity" : "Developer Tools"
      })
      json(path.join(dir, ".codex-plugin/plugin.json"), {
        name,
        version: "1.0.0",
        description: `Benchmark plugin ${name}`,
        author: { name: "Bench", email: "bench@example.com", url: "https://example.com" },
        homepage: "https://example.com/",
        repository: "https://example.com/repo",
        license: "MIT",
        keywords: ["bench", "test"],
        skills: "./skills/",
        mcpServers: "./.mcp.json",
        interface: {
          displayName: `Plugin ${name}`,
          shortDescription: "Short description for subtitle",
          longDescription: "Long description for the details page of a benchmark plugin.",
          developerName: "Bench Inc.",
          category: "Productivity",
          capabilities: ["Interactive", "Write"],
          websiteURL: "https://example.com/",
          privacyPolicyURL: "https://example.com/privacy",
          termsOfServiceURL: "https://example.com/terms",
          defaultPrompt: ["Try the benchmark plugin", "Do the next thing"],
          brandColor: "#3B82F6",
          composerIcon: "./assets/icon.png",
          logo: "./assets/icon.png"
        }
      })
      write(path.join(dir, "skills/alpha/SKILL.md"), `---\nname: alpha\ndescription: Alpha skill of ${name}\n---\n\n# Alpha\n\nDo alpha things.\n`)
      write(path.join(dir, "skills/beta/SKILL.md"), `---\nname: beta\ndescription: Beta skill of ${name}\n---\n\n# Beta\n\nDo beta things.\n`)
      json(path.join(dir, ".mcp.json"), { mcpServers: { [`${name}-mcp`]: { command: "bench-server", args: ["--stdio", name] } } })
      write(path.join(dir, "README.md"), `# ${name}\n\nA benchmark plugin.\n`)
      write(path.join(dir, "LICENSE"), "MIT License\n")
      write(path.join(dir, "assets/icon.png"), PNG_1X1)
      write(path.join(dir, "scripts/run.sh"), "#!/bin/sh\necho run\n", 0o755)
    }
    pluginNames.push(names)
    const file = path.join(mk, ".agents/plugins/marketplace.json")
    json(file, { name: `bench-${pad(m, 2)}`, interface: { displayName: `Bench marketplace ${m}` }, plugins: entries })
    marketplacePaths.push(file)
  }
  return { root, cwds, marketplacePaths, pluginNames, fileCount, byteCount }
}

/** A fresh, empty CODEX_HOME + HOME pair under the fixture root (`[features] plugins = true`). */
export const freshHome = (fixture: Fixture, label: string): { readonly codexHome: string; readonly home: string } => {
  const base = fs.mkdtempSync(path.join(fixture.root, `home-${label}-`))
  const codexHome = path.join(base, "codex")
  const home = path.join(base, "user")
  fs.mkdirSync(codexHome, { recursive: true })
  fs.mkdirSync(home, { recursive: true })
  fs.writeFileSync(path.join(codexHome, "config.toml"), "[features]\nplugins = true\n")
  return { codexHome, home }
}

export const removeFixture = (fixture: Fixture): void => {
  fs.rmSync(fixture.root, { recursive: true, force: true })
}
