/** `plugin-ledger sync` as a real child process: output, progress lines on stderr (not a TTY), exit codes. */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString("utf8").trim()

const cli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [Path.resolve("src/cli/main.ts"), ...args], { encoding: "utf8", env: { PATH: process.env["PATH"], ...env } })

describe("plugin-ledger sync", () => {
  it("--curated mirrors a git repository with progress on stderr; --remote without auth fails, recorded", () => {
    const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "cli-sync-")))
    try {
      git(root, "init", "--quiet", "--bare", "repo.git")
      git(root, "clone", "--quiet", "repo.git", "work")
      const work = Path.join(root, "work")
      NodeFs.mkdirSync(Path.join(work, ".agents/plugins"), { recursive: true })
      NodeFs.mkdirSync(Path.join(work, "plugins/a/.codex-plugin"), { recursive: true })
      NodeFs.writeFileSync(Path.join(work, ".agents/plugins/marketplace.json"), JSON.stringify({ name: "openai-curated", plugins: [{ name: "a", source: { source: "local", path: "./plugins/a" } }] }))
      NodeFs.writeFileSync(Path.join(work, "plugins/a/.codex-plugin/plugin.json"), "{\"name\":\"a\"}")
      git(work, "add", "-A")
      git(work, "commit", "--quiet", "-m", "x")
      git(work, "push", "--quiet", "origin", "HEAD")
      const sha = git(work, "rev-parse", "HEAD")
      const home = Path.join(root, "home")
      const curated = cli(["sync", "--curated", "--codex-home", home], { PLUGIN_LEDGER_CURATED_REPO: Path.join(root, "repo.git") })
      assert.strictEqual(curated.status, 0, curated.stderr)
      assert.strictEqual(curated.stdout, `curated mirror: ${sha}\n`)
      assert.deepStrictEqual(curated.stderr.split("\n").filter((l) => l !== ""), [
        `plugin-ledger: checking ${Path.join(root, "repo.git")}`,
        `plugin-ledger: cloning ${Path.join(root, "repo.git")}`,
        `plugin-ledger: swapping in ${sha}`
      ])
      assert.strictEqual(NodeFs.readFileSync(Path.join(home, ".tmp/plugins.sha"), "utf8"), `${sha}\n`)
      const again = cli(["sync", "--curated", "--codex-home", home, "--repo", Path.join(root, "repo.git")])
      assert.strictEqual(again.stdout, `curated mirror: up to date at ${sha}\n`)
      const disabled = cli(["sync", "--curated", "--codex-home", home, "--repo", "/nowhere"], { CODEX_DISABLE_CURATED_PLUGIN_SYNC: "1" })
      assert.strictEqual(disabled.stdout, "curated mirror: skipped (curated plugin sync is disabled by CODEX_DISABLE_CURATED_PLUGIN_SYNC)\n")
      const remote = cli(["sync", "--remote", "--codex-home", home])
      assert.strictEqual(remote.status, 3)
      assert.match(remote.stderr, /remote sync \S+ failed \(recorded at seq \d+\): chatgpt authentication required to sync remote plugins\n$/)
      const history = cli(["history", "--codex-home", home, "--json"])
      const types = (JSON.parse(history.stdout) as { events: ReadonlyArray<{ type: string }> }).events.map((e) => e.type)
      assert.deepStrictEqual(types, ["LogCreated", "CuratedMirrorUpdated", "RemoteSyncRecorded"])
    } finally {
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
  })
})
