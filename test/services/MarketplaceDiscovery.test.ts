import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path } from "effect"
import type { Scope } from "effect"
import { TestClock } from "effect/testing"
import * as NodeFs from "node:fs"
import { type LoadResult, MarketplaceDiscovery } from "../../src/services/MarketplaceDiscovery.ts"
import { type Layout, materializeLayout } from "../support/Trees.ts"
import { coarsen, editInPlace } from "../support/SameSizeEdit.ts"

const materialize = (layout: Layout) => materializeLayout(layout, "discovery-")

/** The plugin/list response a server would build from `load` when nothing is installed or enabled. */
const toWire = (result: LoadResult) => ({
  marketplaces: result.marketplaces.map((m) => ({
    name: m.name,
    path: m.path,
    interface: m.interface,
    plugins: m.plugins.map((p) => ({
      id: p.id,
      name: p.name,
      source: { type: "local", path: p.sourcePath },
      installed: false,
      enabled: false,
      installPolicy: p.installPolicy,
      authPolicy: p.authPolicy,
      interface: p.interface
    }))
  })),
  remoteSyncError: null
})

const discoveryTest = <A, E>(name: string, body: Effect.Effect<A, E, MarketplaceDiscovery | FileSystem.FileSystem | Path.Path | Scope.Scope>) =>
  it.effect(name, () => body.pipe(Effect.provide(MarketplaceDiscovery.layer), Effect.provide(NodeServices.layer)))

// $HOME marketplace, CODEX_HOME/.tmp/plugins, two repos defining marketplace "dup" (first dup-plugin@dup wins),
// repo-a reached from repo-a/sub/dir through its git root, repo-c whose only plugin duplicates hp@home-mkt (omitted),
// a product-restricted entry (hidden), nested policy winning over a top-level installPolicy, asset/URL/prompt rules.
const LAYOUT: Layout = {
  "dirs": [
    "repo-a/.git",
    "repo-a/sub/dir",
    "repo-b/.git",
    "repo-c/.git",
    "nogit/x"
  ],
  "files": {
    "home/.agents/plugins/marketplace.json": "{\"name\":\"home-mkt\",\"interface\":{\"displayName\":\"Home\"},\"plugins\":[{\"name\":\"hp\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/hp\"}},{\"name\":\"dup-plugin\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/dup-plugin\"}}]}",
    "home/plugins/hp/.codex-plugin/plugin.json": "{\"name\":\"hp\",\"interface\":{\"displayName\":\"Home Plugin\",\"composerIcon\":\"./assets/icon.png\",\"websiteURL\":\"https://example.com/\",\"logo\":\"logo.png\"}}",
    "codex/.tmp/plugins/.agents/plugins/marketplace.json": "{\"name\":\"openai-curated\",\"plugins\":[{\"name\":\"cur\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/cur\"},\"category\":\"Design\"}]}",
    "codex/.tmp/plugins/plugins/cur/.codex-plugin/plugin.json": "{\"name\":\"cur\",\"interface\":{\"category\":\"Productivity\",\"defaultPrompt\":\"  Summarize   my inbox \"}}",
    "repo-a/.agents/plugins/marketplace.json": "{\"name\":\"dup\",\"plugins\":[{\"name\":\"dup-plugin\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/dup-plugin\"}},{\"name\":\"a-only\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/a-only\"}},{\"name\":\"hidden\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/hidden\"},\"policy\":{\"products\":[\"ATLAS\"]}}]}",
    "repo-b/.agents/plugins/marketplace.json": "{\"name\":\"dup\",\"plugins\":[{\"name\":\"dup-plugin\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/dup-plugin\"}},{\"name\":\"b-only\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/b-only\"},\"installPolicy\":\"INSTALLED_BY_DEFAULT\",\"policy\":{\"installation\":\"NOT_AVAILABLE\",\"authentication\":\"ON_USE\",\"products\":[\"codex\"]}}]}",
    "repo-c/.agents/plugins/marketplace.json": "{\"name\":\"home-mkt\",\"plugins\":[{\"name\":\"hp\",\"source\":{\"source\":\"local\",\"path\":\"./plugins/hp\"}}]}"
  }
}

// codex 0.116.0: CODEX_HOME=<root>/codex HOME=<root>/home, plugin/list
//   {"cwds":["<root>/repo-b","<root>/repo-a/sub/dir","<root>/repo-c","<root>/nogit/x","<root>/repo-b"]}
const LISTED = {
  "marketplaces": [
    {
      "name": "home-mkt",
      "path": "<root>/home/.agents/plugins/marketplace.json",
      "interface": {
        "displayName": "Home"
      },
      "plugins": [
        {
          "id": "hp@home-mkt",
          "name": "hp",
          "source": {
            "type": "local",
            "path": "<root>/home/plugins/hp"
          },
          "installed": false,
          "enabled": false,
          "installPolicy": "AVAILABLE",
          "authPolicy": "ON_INSTALL",
          "interface": {
            "displayName": "Home Plugin",
            "shortDescription": null,
            "longDescription": null,
            "developerName": null,
            "category": null,
            "capabilities": [],
            "websiteUrl": "https://example.com/",
            "privacyPolicyUrl": null,
            "termsOfServiceUrl": null,
            "defaultPrompt": null,
            "brandColor": null,
            "composerIcon": "<root>/home/plugins/hp/assets/icon.png",
            "logo": null,
            "screenshots": []
          }
        },
        {
          "id": "dup-plugin@home-mkt",
          "name": "dup-plugin",
          "source": {
            "type": "local",
            "path": "<root>/home/plugins/dup-plugin"
          },
          "installed": false,
          "enabled": false,
          "installPolicy": "AVAILABLE",
          "authPolicy": "ON_INSTALL",
          "interface": null
        }
      ]
    },
    {
      "name": "openai-curated",
      "path": "<root>/codex/.tmp/plugins/.agents/plugins/marketplace.json",
      "interface": null,
      "plugins": [
        {
          "id": "cur@openai-curated",
          "name": "cur",
          "source": {
            "type": "local",
            "path": "<root>/codex/.tmp/plugins/plugins/cur"
          },
          "installed": false,
          "enabled": false,
          "installPolicy": "AVAILABLE",
          "authPolicy": "ON_INSTALL",
          "interface": {
            "displayName": null,
            "shortDescription": null,
            "longDescription": null,
            "developerName": null,
            "category": "Design",
            "capabilities": [],
            "websiteUrl": null,
            "privacyPolicyUrl": null,
            "termsOfServiceUrl": null,
            "defaultPrompt": [
              "Summarize my inbox"
            ],
            "brandColor": null,
            "composerIcon": null,
            "logo": null,
            "screenshots": []
          }
        }
      ]
    },
    {
      "name": "dup",
      "path": "<root>/repo-a/.agents/plugins/marketplace.json",
      "interface": null,
      "plugins": [
        {
          "id": "dup-plugin@dup",
          "name": "dup-plugin",
          "source": {
            "type": "local",
            "path": "<root>/repo-a/plugins/dup-plugin"
          },
          "installed": false,
          "enabled": false,
          "installPolicy": "AVAILABLE",
          "authPolicy": "ON_INSTALL",
          "interface": null
        },
        {
          "id": "a-only@dup",
          "name": "a-only",
          "source": {
            "type": "local",
            "path": "<root>/repo-a/plugins/a-only"
          },
          "installed": false,
          "enabled": false,
          "installPolicy": "AVAILABLE",
          "authPolicy": "ON_INSTALL",
          "interface": null
        }
      ]
    },
    {
      "name": "dup",
      "path": "<root>/repo-b/.agents/plugins/marketplace.json",
      "interface": null,
      "plugins": [
        {
          "id": "b-only@dup",
          "name": "b-only",
          "source": {
            "type": "local",
            "path": "<root>/repo-b/plugins/b-only"
          },
          "installed": false,
          "enabled": false,
          "installPolicy": "NOT_AVAILABLE",
          "authPolicy": "ON_USE",
          "interface": null
        }
      ]
    }
  ],
  "remoteSyncError": null
}

describe("MarketplaceDiscovery", () => {
  discoveryTest("given home, curated and repo marketplaces then the listing equals the binary's", Effect.gen(function*() {
    const root = yield* materialize(LAYOUT)
    const discovery = yield* MarketplaceDiscovery
    const paths = yield* discovery.discover({
      home: `${root}/home`,
      codexHome: `${root}/codex`,
      cwds: ["repo-b", "repo-a/sub/dir", "repo-c", "nogit/x", "repo-b"].map((c) => `${root}/${c}`)
    })
    assert.deepStrictEqual(paths, ["home", "codex/.tmp/plugins", "repo-a", "repo-b", "repo-c"].map((r) => `${root}/${r}/.agents/plugins/marketplace.json`))
    const loaded = yield* discovery.load(paths)
    assert.deepStrictEqual(loaded.errors, [])
    assert.deepStrictEqual(toWire(loaded), JSON.parse(JSON.stringify(LISTED).replaceAll("<root>", root)))
  }))

  discoveryTest("given an unparsable file then it is skipped and reported (documented deviation)", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: [],
      files: {
        ...LAYOUT.files,
        "repo-d/.agents/plugins/marketplace.json": "{not json"
      }
    })
    const discovery = yield* MarketplaceDiscovery
    const paths = yield* discovery.discover({ home: `${root}/nohome`, codexHome: `${root}/nocodex`, cwds: [`${root}/repo-b`, `${root}/repo-d`] })
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(`${root}/dir/.agents/plugins/marketplace.json`, { recursive: true })
    const loaded = yield* discovery.load([
      ...paths,
      `${root}/missing/.agents/plugins/marketplace.json`,
      `${root}/dir/.agents/plugins/marketplace.json`
    ])
    // The 0.116.0 binary fails the whole plugin/list instead:
    //   {"error":{"code":-32600,"message":"invalid marketplace file `<root>/repo-d/.agents/plugins/marketplace.json`: key must be a string at line 1 column 2"}}
    assert.deepStrictEqual(loaded.marketplaces.map((m) => m.path), [`${root}/repo-b/.agents/plugins/marketplace.json`])
    assert.deepStrictEqual(loaded.errors, [
      {
        marketplacePath: `${root}/repo-d/.agents/plugins/marketplace.json`,
        message: `invalid marketplace file \`${root}/repo-d/.agents/plugins/marketplace.json\`: key must be a string at line 1 column 2`
      },
      {
        marketplacePath: `${root}/missing/.agents/plugins/marketplace.json`,
        message: `marketplace file \`${root}/missing/.agents/plugins/marketplace.json\` does not exist`
      },
      // binary plugin/read on a directory: -32603 "failed to read plugin details: failed to read marketplace file: Is a directory (os error 21)"
      {
        marketplacePath: `${root}/dir/.agents/plugins/marketplace.json`,
        message: "failed to read marketplace file: Is a directory (os error 21)"
      }
    ])
  }))

  const marketplace = (name: string) => JSON.stringify({ name, plugins: [{ name: "p", source: { source: "local", path: "./p" } }] })
  const file = ".agents/plugins/marketplace.json"

  discoveryTest("given roots then they are normalised, sorted component-wise and de-duplicated (binary order)", Effect.gen(function*() {
    const root = yield* materialize({
      files: Object.fromEntries(["x-y", "x/y", "x.y", "X", "é"].map((d) => [`${d}/${file}`, marketplace(d)]))
    })
    const discovery = yield* MarketplaceDiscovery
    const paths = yield* discovery.discover({
      home: `${root}/nohome`,
      codexHome: `${root}/nocodex`,
      cwds: ["x-y", "x/y", "x.y", "X", "é", "x/y/../y/."].map((c) => `${root}/${c}`)
    })
    assert.deepStrictEqual(paths, ["X", "x/y", "x-y", "x.y", "é"].map((d) => `${root}/${d}/${file}`))
  }))

  discoveryTest("given git repositories then the nearest .git (dir or file) decides the fallback", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["g/.git", "nested/.git", "nested/inner/.git", "nested/inner/w", "g3/.git", `g3/x/${file}`],
      files: {
        [`g/${file}`]: marketplace("gitroot"),
        [`g/home/${file}`]: marketplace("homem"),
        "gitfile/.git": "gitdir: /nowhere\n",
        [`gitfile/${file}`]: marketplace("gf"),
        [`nested/${file}`]: marketplace("outer"),
        [`g3/${file}`]: marketplace("g3root")
      },
      symlinks: { "link-g": "g" }
    })
    const discovery = yield* MarketplaceDiscovery
    const names = (paths: ReadonlyArray<string>) => paths.map((p) => p.slice(root.length + 1))
    // HOME's own file is listed first; the same root then falls back to its git root (binary: homem, gitroot)
    assert.deepStrictEqual(names(yield* discovery.discover({ home: `${root}/g/home`, codexHome: `${root}/c`, cwds: [`${root}/g/home`] })),
      [`g/home/${file}`, `g/${file}`])
    // .git file counts; a nested repo without a marketplace stops the walk; a directory named marketplace.json is
    // not a file; a cwd that does not exist still walks up; symlinked cwds are kept as given, not canonicalised.
    // (binary plugin/list shows g, g3, gitfile: link-g's only plugin duplicates p@gitroot, so load() drops it)
    assert.deepStrictEqual(names(yield* discovery.discover({
      home: `${root}/nohome`,
      codexHome: `${root}/c`,
      cwds: ["gitfile/deep", "nested/inner/w", "g3/x", "g/does/not/exist", "link-g"].map((c) => `${root}/${c}`)
    })), [`g/${file}`, `g3/${file}`, `gitfile/${file}`, `link-g/${file}`])
  }))
})

// The listing kept between calls must always equal a fresh one: every edit below is made so that timestamps alone
// cannot show it (same size, mtime put back), and the clock is moved ahead so that every file counts as settled.
describe("MarketplaceDiscovery: listings kept between calls", () => {
  const file = ".agents/plugins/marketplace.json"
  const entry = (name: string, path = `./plugins/${name}`) => ({ name, source: { source: "local", path } })
  const manifest = (displayName: string) => JSON.stringify({ name: "p", interface: { displayName } })

  /** Loads through the long-lived service and through a fresh one; both must agree. */
  const listTwice = Effect.fn("listTwice")(function*(root: string) {
    const discovery = yield* MarketplaceDiscovery
    const paths = yield* discovery.discover({ home: `${root}/nohome`, codexHome: `${root}/nocodex`, cwds: [`${root}/repo`] })
    const kept = yield* discovery.load(paths)
    const fresh = yield* MarketplaceDiscovery.use((d) => d.load(paths)).pipe(Effect.provide(MarketplaceDiscovery.layer))
    assert.deepStrictEqual(kept, fresh)
    return kept
  })
  const displayNames = (loaded: LoadResult) => loaded.marketplaces.flatMap((m) => m.plugins.map((p) => p.interface?.displayName ?? null))

  const cachedTest = <A, E>(name: string, body: Effect.Effect<A, E, MarketplaceDiscovery | FileSystem.FileSystem | Path.Path | Scope.Scope>) =>
    discoveryTest(name, TestClock.setTime(Date.now() + 60_000).pipe(Effect.andThen(body)))

  cachedTest("given nothing changed then the kept listing is reused", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: {
        [`repo/${file}`]: JSON.stringify({ name: "m", plugins: [entry("p"), entry("q")] }),
        "repo/plugins/p/.codex-plugin/plugin.json": manifest("One")
      }
    })
    const first = yield* listTwice(root)
    const second = yield* listTwice(root)
    assert.strictEqual(second.marketplaces[0]?.plugins[0], first.marketplaces[0]?.plugins[0])
    assert.strictEqual(second.marketplaces[0]?.plugins[1], first.marketplaces[0]?.plugins[1])
  }))

  discoveryTest("given files changed within the last two seconds then they are read again on every list", Effect.gen(function*() {
    yield* TestClock.setTime(Date.now())
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: {
        [`repo/${file}`]: JSON.stringify({ name: "m", plugins: [entry("p")] }),
        "repo/plugins/p/.codex-plugin/plugin.json": manifest("One")
      }
    })
    const first = yield* listTwice(root)
    const second = yield* listTwice(root)
    assert.notStrictEqual(second.marketplaces[0]?.plugins[0], first.marketplaces[0]?.plugins[0])
  }))

  cachedTest("known: a listed file's whole parse while unchanged; nothing for files not listed, failed or edited", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: { [`repo/${file}`]: JSON.stringify({ name: "m1", plugins: [entry("a")] }) }
    })
    const discovery = yield* MarketplaceDiscovery
    const path = `${root}/repo/${file}`
    assert.isUndefined(discovery.known(path), "nothing before a listing")
    coarsen(path)
    yield* listTwice(root)
    assert.deepStrictEqual(discovery.known(path)?.plugins.map((p) => [p.id, p.sourceDir]), [["a@m1", `${root}/repo/plugins/a`]])
    assert.isUndefined(discovery.known(`${root}/elsewhere/${file}`))
    editInPlace(path, JSON.stringify({ name: "m2", plugins: [entry("a")] }))
    assert.isUndefined(discovery.known(path), "an edit the stat shows")
    // a file that fails to resolve whole (an entry leaving the root) is listed as an error, never known
    NodeFs.writeFileSync(path, JSON.stringify({ name: "m3", plugins: [entry("b", "../out")] }))
    coarsen(path)
    yield* listTwice(root)
    assert.isUndefined(discovery.known(path))
  }))

  cachedTest("given a marketplace edited in place then the next list reflects it", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: { [`repo/${file}`]: JSON.stringify({ name: "m1", plugins: [entry("a")] }) }
    })
    coarsen(`${root}/repo/${file}`)
    assert.deepStrictEqual((yield* listTwice(root)).marketplaces.map((m) => m.name), ["m1"])
    assert.deepStrictEqual((yield* listTwice(root)).marketplaces.map((m) => m.name), ["m1"])
    editInPlace(`${root}/repo/${file}`, JSON.stringify({ name: "m2", plugins: [entry("a")] }))
    assert.deepStrictEqual((yield* listTwice(root)).marketplaces.map((m) => m.name), ["m2"])
  }))

  cachedTest("given a manifest edited in place then the next list reflects it", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: {
        [`repo/${file}`]: JSON.stringify({ name: "m", plugins: [entry("p")] }),
        "repo/plugins/p/.codex-plugin/plugin.json": manifest("One")
      }
    })
    coarsen(`${root}/repo/plugins/p/.codex-plugin/plugin.json`)
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["One"])
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["One"])
    editInPlace(`${root}/repo/plugins/p/.codex-plugin/plugin.json`, manifest("Two"))
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["Two"])
  }))

  cachedTest("given a plugin directory created and then removed then each list reflects it", Effect.gen(function*() {
    const root = yield* materialize({ dirs: ["repo/.git"], files: { [`repo/${file}`]: JSON.stringify({ name: "m", plugins: [entry("p")] }) } })
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), [null])
    NodeFs.mkdirSync(`${root}/repo/plugins/p/.codex-plugin`, { recursive: true })
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), [null])
    NodeFs.writeFileSync(`${root}/repo/plugins/p/.codex-plugin/plugin.json`, manifest("Made"))
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["Made"])
    NodeFs.rmSync(`${root}/repo/plugins/p`, { recursive: true })
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), [null])
  }))

  cachedTest("given a symlinked .codex-plugin retargeted then the next list reflects it", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: {
        [`repo/${file}`]: JSON.stringify({ name: "m", plugins: [entry("p")] }),
        "repo/plugins/p/one/plugin.json": manifest("One"),
        "repo/plugins/p/two/plugin.json": manifest("Two")
      },
      symlinks: { "repo/plugins/p/.codex-plugin": "repo/plugins/p/one" }
    })
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["One"])
    NodeFs.rmSync(`${root}/repo/plugins/p/.codex-plugin`)
    NodeFs.symlinkSync(`${root}/repo/plugins/p/two`, `${root}/repo/plugins/p/.codex-plugin`)
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["Two"])
  }))

  cachedTest("given a manifest dir moved out of the root and linked back then it is refused at once", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git", "outside"],
      files: {
        [`repo/${file}`]: JSON.stringify({ name: "m", plugins: [entry("p")] }),
        "repo/plugins/p/.codex-plugin/plugin.json": manifest("Inside")
      }
    })
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["Inside"])
    // the same plugin.json inode (unchanged) is now reached through a symlink leading out of the plugin root
    NodeFs.renameSync(`${root}/repo/plugins/p/.codex-plugin`, `${root}/outside/.codex-plugin`)
    NodeFs.symlinkSync(`${root}/outside/.codex-plugin`, `${root}/repo/plugins/p/.codex-plugin`)
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), [null])
  }))

  cachedTest("given plugin.json replaced by a symlink out of the root then it is refused", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: {
        [`repo/${file}`]: JSON.stringify({ name: "m", plugins: [entry("p")] }),
        "repo/plugins/p/.codex-plugin/plugin.json": manifest("Inside"),
        "outside/plugin.json": manifest("Leaked")
      }
    })
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), ["Inside"])
    NodeFs.rmSync(`${root}/repo/plugins/p/.codex-plugin/plugin.json`)
    NodeFs.symlinkSync(`${root}/outside/plugin.json`, `${root}/repo/plugins/p/.codex-plugin/plugin.json`)
    assert.deepStrictEqual(displayNames(yield* listTwice(root)), [null])
  }))

  cachedTest("given a symlinked marketplace file retargeted then the next list reflects it", Effect.gen(function*() {
    const root = yield* materialize({
      dirs: ["repo/.git"],
      files: {
        "repo/.agents/plugins/one.json": JSON.stringify({ name: "one", plugins: [entry("a")] }),
        "repo/.agents/plugins/two.json": JSON.stringify({ name: "two", plugins: [entry("a")] })
      },
      symlinks: { [`repo/${file}`]: "repo/.agents/plugins/one.json" }
    })
    assert.deepStrictEqual((yield* listTwice(root)).marketplaces.map((m) => m.name), ["one"])
    NodeFs.rmSync(`${root}/repo/${file}`)
    NodeFs.symlinkSync(`${root}/repo/.agents/plugins/two.json`, `${root}/repo/${file}`)
    assert.deepStrictEqual((yield* listTwice(root)).marketplaces.map((m) => m.name), ["two"])
  }))
})
