/**
 * The curated mirror against a local bare git repository (made here with `git init --bare`, commits pushed from a temp
 * clone): clone into `.tmp/plugins` with `.tmp/plugins.sha`, `CuratedMirrorUpdated`, curated installs at the sha,
 * the refresh of configured curated plugins when the mirror moves, INSTALLED_BY_DEFAULT (installed when first seen,
 * never again after an uninstall), CODEX_DISABLE_CURATED_PLUGIN_SYNC, a failed clone that leaves the mirror as it
 * was, and stale staging/backup dirs removed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine } from "../../src/services/EngineApi.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { logLines, write } from "../support/RemoteServer.ts"

const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  execFileSync("git", [...args], {
    cwd,
    env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" },
    stdio: ["ignore", "pipe", "pipe"]
  }).toString("utf8").trim()

/** A bare repo and a work clone; `commit` writes the curated marketplace and pushes, returning the sha. */
const makeRepo = (root: string) => {
  const bare = Path.join(root, "plugins.git")
  const work = Path.join(root, "work")
  git(root, "init", "--quiet", "--bare", bare)
  git(root, "clone", "--quiet", bare, work)
  const commit = (version: string, plugins: ReadonlyArray<{ readonly name: string; readonly policy?: string }>) => {
    write(Path.join(work, ".agents/plugins/marketplace.json"), JSON.stringify({
      name: "openai-curated",
      plugins: plugins.map((p) => ({
        name: p.name,
        source: { source: "local", path: `./plugins/${p.name}` },
        ...(p.policy === undefined ? {} : { policy: { installation: p.policy } })
      }))
    }))
    for (const p of plugins) {
      write(Path.join(work, `plugins/${p.name}/.codex-plugin/plugin.json`), JSON.stringify({ name: p.name }))
      write(Path.join(work, `plugins/${p.name}/VERSION`), `${version}\n`)
    }
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", version)
    git(work, "push", "--quiet", "origin", "HEAD")
    return git(work, "rev-parse", "HEAD")
  }
  return { bare, commit }
}

const withTemp = <A, E, R>(f: (root: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "curated-mirror-")))),
    f,
    (root) => Effect.sync(() => NodeFs.rmSync(root, { recursive: true, force: true }))
  )

const ls = (dir: string) => (NodeFs.existsSync(dir) ? NodeFs.readdirSync(dir).sort() : [])

describe("curated mirror", () => {
  it.live("clones, records, refreshes curated installs, and applies INSTALLED_BY_DEFAULT once", () =>
    withTemp((root) =>
      Effect.gen(function*() {
        const repo = makeRepo(root)
        const sha1 = repo.commit("v1", [{ name: "linear" }, { name: "starter", policy: "INSTALLED_BY_DEFAULT" }])
        const home = Path.join(root, "home")
        write(Path.join(home, "config.toml"), "[features]\nplugins = true\n")
        const paths = makeLedgerPaths({ codexHome: home, home: Path.join(root, "userhome") })
        const env = {}
        const progress: Array<string> = []
        const sync = Engine.use((e) => e.syncCurated({ repository: repo.bare, env, onProgress: (l) => progress.push(l) }, { actor: "cli" }))
        const run = <A, E>(effect: Effect.Effect<A, E, Engine>) => effect.pipe(Effect.provide(appLayer(paths)))

        // first sync: clone, sha file, event, starter installed by the default policy
        const first = yield* run(sync)
        assert.deepStrictEqual(first, { skipped: null, sha: sha1, previousSha: null, updated: true, refreshed: [], installedByDefault: ["starter@openai-curated"] })
        assert.strictEqual(NodeFs.readFileSync(paths.curatedShaPath, "utf8"), `${sha1}\n`)
        assert.isTrue(NodeFs.existsSync(Path.join(paths.curatedRoot, ".agents/plugins/marketplace.json")))
        assert.deepStrictEqual(ls(Path.join(home, ".tmp")), ["plugins", "plugins.sha"], "no staging or backup dir left")
        assert.deepStrictEqual(ls(Path.join(home, "plugins/cache/openai-curated/starter")), [sha1])
        assert.isTrue(progress.some((l) => l.startsWith("cloning")), "progress reported")
        let lines = logLines(home)
        const mirror = lines.find((l) => l.type === "CuratedMirrorUpdated")
        assert.strictEqual(mirror?.data["sha"], sha1)
        assert.strictEqual(mirror?.data["previousSha"], null)
        assert.deepStrictEqual(mirror?.data["plugins"], ["linear", "starter"])
        const byDefault = lines.find((l) => l.type === "PluginInstalled")
        assert.deepStrictEqual(byDefault?.data["cause"], { actor: "default-policy" })
        assert.strictEqual(byDefault?.data["version"], sha1)

        // a curated install uses the sha as its version dir; disable it to check the refresh keeps that
        yield* run(Engine.use((e) => e.install({ marketplacePath: Path.join(paths.curatedRoot, ".agents/plugins/marketplace.json"), pluginName: "linear" }, { actor: "cli" })))
        yield* run(Engine.use((e) => e.setEnabled({ pluginId: "linear@openai-curated", enabled: false }, { actor: "cli" })))
        assert.deepStrictEqual(ls(Path.join(home, "plugins/cache/openai-curated/linear")), [sha1])

        // the mirror moves: configured curated plugins are reinstalled at the new sha, `enabled` kept
        const sha2 = repo.commit("v2", [{ name: "linear" }, { name: "starter", policy: "INSTALLED_BY_DEFAULT" }])
        const second = yield* run(sync)
        assert.deepStrictEqual(second, {
          skipped: null,
          sha: sha2,
          previousSha: sha1,
          updated: true,
          refreshed: ["linear@openai-curated", "starter@openai-curated"],
          installedByDefault: []
        })
        assert.deepStrictEqual(ls(Path.join(home, "plugins/cache/openai-curated/linear")), [sha2])
        assert.strictEqual(NodeFs.readFileSync(Path.join(home, `plugins/cache/openai-curated/linear/${sha2}/VERSION`), "utf8"), "v2\n")
        const config = NodeFs.readFileSync(paths.configPath, "utf8")
        assert.include(config, "[plugins.\"linear@openai-curated\"]\nenabled = false")
        assert.include(config, "[plugins.\"starter@openai-curated\"]\nenabled = true")
        assert.deepStrictEqual(ls(Path.join(home, ".tmp")), ["plugins", "plugins.sha"])

        // the user uninstalls the default plugin: later syncs never bring it back
        yield* run(Engine.use((e) => e.uninstall({ pluginId: "starter@openai-curated" }, { actor: "cli" })))
        const count = logLines(home).length
        const third = yield* run(sync)
        assert.deepStrictEqual(third, { skipped: null, sha: sha2, previousSha: sha2, updated: false, refreshed: [], installedByDefault: [] })
        assert.strictEqual(logLines(home).length, count, "an up-to-date sync records nothing")
        assert.isFalse(NodeFs.existsSync(Path.join(home, "plugins/cache/openai-curated/starter")))

        // a new INSTALLED_BY_DEFAULT plugin is installed when first seen
        const sha3 = repo.commit("v3", [{ name: "linear" }, { name: "starter", policy: "INSTALLED_BY_DEFAULT" }, { name: "fresh", policy: "INSTALLED_BY_DEFAULT" }])
        const fourth = yield* run(sync)
        assert.deepStrictEqual(fourth.installedByDefault, ["fresh@openai-curated"])
        assert.deepStrictEqual(fourth.refreshed, ["linear@openai-curated"])
        assert.strictEqual(fourth.sha, sha3)
        lines = logLines(home)
        assert.deepStrictEqual(
          lines.filter((l) => l.type === "CuratedMirrorUpdated").map((l) => [l.data["previousSha"], l.data["sha"]]),
          [[null, sha1], [sha1, sha2], [sha2, sha3]]
        )
      })
    ))

  it.live("CODEX_DISABLE_CURATED_PLUGIN_SYNC skips it; a failed clone keeps the mirror; stale dirs are removed", () =>
    withTemp((root) =>
      Effect.gen(function*() {
        const repo = makeRepo(root)
        const sha1 = repo.commit("v1", [{ name: "linear" }])
        const home = Path.join(root, "home")
        const paths = makeLedgerPaths({ codexHome: home, home: Path.join(root, "userhome") })
        const run = <A, E>(effect: Effect.Effect<A, E, Engine>) => effect.pipe(Effect.provide(appLayer(paths)))
        const skipped = yield* run(Engine.use((e) => e.syncCurated({ repository: Path.join(root, "nowhere.git"), env: { CODEX_DISABLE_CURATED_PLUGIN_SYNC: "1" } })))
        assert.strictEqual(skipped.skipped, "curated plugin sync is disabled by CODEX_DISABLE_CURATED_PLUGIN_SYNC")
        assert.isFalse(NodeFs.existsSync(Path.join(home, ".tmp")))

        yield* run(Engine.use((e) => e.syncCurated({ repository: repo.bare, env: {} })))
        // leftovers of a dead process (pid 2^22+1 is beyond Linux's pid range) and of an unknown one
        NodeFs.mkdirSync(Path.join(home, ".tmp/plugins-clone-4194305-aaaaaaaaaaaa"))
        NodeFs.mkdirSync(Path.join(home, ".tmp/plugins-backup-x"))
        const failed = yield* Effect.flip(run(Engine.use((e) => e.syncCurated({ repository: Path.join(root, "nowhere.git"), env: {} }))))
        assert.match(failed.message, /^git ls-remote failed: /)
        assert.deepStrictEqual(ls(Path.join(home, ".tmp")), ["plugins", "plugins.sha"], "stale dirs removed, mirror kept")
        assert.strictEqual(NodeFs.readFileSync(paths.curatedShaPath, "utf8"), `${sha1}\n`)
        // a repository without a marketplace file is refused before the swap
        const empty = Path.join(root, "empty.git")
        git(root, "init", "--quiet", "--bare", empty)
        const work = Path.join(root, "work-empty")
        git(root, "clone", "--quiet", empty, work)
        write(Path.join(work, "README"), "x\n")
        git(work, "add", "-A")
        git(work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "x")
        git(work, "push", "--quiet", "origin", "HEAD")
        const refused = yield* Effect.flip(run(Engine.use((e) => e.syncCurated({ repository: empty, env: {} }))))
        assert.include(refused.message, "has no .agents/plugins/marketplace.json")
        assert.deepStrictEqual(ls(Path.join(home, ".tmp")), ["plugins", "plugins.sha"], "staging removed, mirror kept")
        assert.strictEqual(NodeFs.readFileSync(paths.curatedShaPath, "utf8"), `${sha1}\n`)
      })
    ))
})
