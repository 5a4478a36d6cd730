/**
 * `serve` answers the client's first plain `plugin/list` before its engine is loaded when the projection is current
 * (src/cli/EarlyList.ts). Shown with real child processes: the answer is byte for byte the session's, it does not
 * wait for the engine (the test holds the ledger lock meanwhile), what it must leave to the session waits for the
 * engine, a marketplace created after that early look is still notified, and an answer from the discovery snapshot
 * is the one the files give.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { releaseLock, tryAcquireLock } from "../../src/adapters/FileLock.ts"
import { makeNodeLockHost } from "../../src/adapters/LockOwner.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { earlyLine } from "../../src/cli/EarlyList.ts"
import { field, LineClient } from "../support/LineClient.ts"
import { Child, makeSandbox, runCli, type Sandbox } from "../support/Processes.ts"

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** A sandbox whose ledger has a projected install (the checkpoint names the log's last record). */
const installedSandbox = async (): Promise<Sandbox> => {
  const box = makeSandbox("early-list-test-")
  cleanups.push(box.remove)
  const installed = await runCli(box, "install", "hello-skills", "--marketplace", box.marketplaceFile)
  assert.strictEqual(installed.code, 0, installed.stderr)
  return box
}

const serve = (box: Sandbox): { readonly child: Child; readonly client: LineClient } => {
  const child = new Child(box, ["serve"])
  cleanups.push(() => child.kill("SIGKILL"))
  return { child, client: new LineClient(child.process.stdout, child.process.stdin, "early-list") }
}

const INITIALIZE = `{"id":1,"method":"initialize","params":{"clientInfo":{"name":"lister","title":null,"version":"1"}}}`

/** The answer to the request with id 2, `lines` written at once; the process is then ended. */
const answerTo2 = async (box: Sandbox, lines: ReadonlyArray<string>): Promise<string> => {
  const { child, client } = serve(box)
  child.process.stdin.write(lines.map((line) => `${line}\n`).join(""))
  const index = await client.waitUntil(() => {
    const at = client.messages.findIndex((m) => m["id"] === 2 || m["id"] === "two")
    return at < 0 ? undefined : at
  }, "the answer to request 2")
  child.process.stdin.end()
  await child.exit()
  return client.lines[index] ?? ""
}

const holdLock = (box: Sandbox) => {
  const lock = tryAcquireLock(nodeFs, box.ledgerDir, makeNodeLockHost())
  if (lock._tag !== "Acquired") return assert.fail(`could not take the ledger lock: ${JSON.stringify(lock)}`)
  return () => assert.isTrue(releaseLock(nodeFs, lock.lock))
}

describe("earlyLine", () => {
  it("skips blank lines and notifications, takes only a plain plugin/list, and leaves the rest to the session", () => {
    assert.strictEqual(earlyLine("  "), "skip")
    assert.strictEqual(earlyLine(`{"method":"initialized"}`), "skip")
    assert.strictEqual(earlyLine(`{"id":null,"method":"initialized","params":{}}`), "skip")
    assert.deepStrictEqual(earlyLine(`{"jsonrpc":"2.0","id":"a","method":"plugin/list","params":{"cwds":[]}}`), {
      id: "a",
      jsonrpc: true,
      params: { cwds: [] }
    })
    for (const line of [
      `{"id":2,"method":"plugin/read","params":{}}`,
      `{"id":2,"method":"plugin/list","params":{},"extra":1}`,
      `{"id":2,"jsonrpc":"1.0","method":"plugin/list","params":{}}`,
      `{"id":9007199254740993,"method":"plugin/list","params":{}}`,
      `{"id":1.5,"method":"plugin/list","params":{}}`,
      `{"id":2,"method":5}`,
      `[1]`,
      `{not json`
    ]) {
      assert.isUndefined(earlyLine(line), line)
    }
  })
})

describe("serve: the first plugin/list before the engine", () => {
  it("answers each first listing exactly as the session does", async () => {
    const box = await installedSandbox()
    Fs.writeFileSync(Path.join(box.codexHome, "config.toml"), "[features]\nplugins = true\n\n[plugins.\"hello-skills@ledger-samples\"]\nenabled = false\n")
    const workspace = JSON.stringify(box.workspace)
    const lists = [
      `{"id":2,"method":"plugin/list","params":{"cwds":[${workspace}]}}`,
      `{"jsonrpc":"2.0","id":"two","method":"plugin/list","params":{"cwds":[${JSON.stringify(`${box.workspace}/./x/..`)}],"forceRemoteSync":false}}`,
      `{"id":2,"method":"plugin/list","params":{"cwds":null,"unknown":true}}`,
      `{"id":2,"method":"plugin/list","params":{}}`,
      `{"id":2,"method":"plugin/list","params":[[${workspace}]]}`,
      // the session's own answers: errors, and what the early path never takes
      `{"id":2,"method":"plugin/list","params":{"cwds":["relative/dir"]}}`,
      `{"id":2,"method":"plugin/list"}`,
      `{"id":2,"method":"plugin/list","params":{"cwds":5}}`
    ]
    for (const list of lists) {
      const early = await answerTo2(box, [INITIALIZE, `{"method":"initialized"}`, list])
      // a blank first line is no plain initialize: the session gets every line and answers them itself
      const bySession = await answerTo2(box, ["", INITIALIZE, list])
      assert.strictEqual(early, bySession, list)
    }
  })

  it("answers while the engine cannot start, and the engine then notifies a marketplace created after that look", async () => {
    const box = await installedSandbox()
    // a root with no marketplace yet: its file is one of the watched candidates
    const other = Path.join(box.root, "other")
    Fs.mkdirSync(other)
    const release = holdLock(box)
    const { child, client } = serve(box)
    // sent at once: the early path waits only a moment after the initialize answer for the first request
    client.send({ id: "init", method: "initialize", params: { clientInfo: { name: "early", title: null, version: "1" } } })
    client.send({ method: "initialized" })
    const listed = await client.call("plugin/list", { cwds: [box.workspace, other] })
    const plugins = field(listed, "marketplaces", "0", "plugins")
    assert.isTrue(Array.isArray(plugins) && plugins.some((p) => field(p, "id") === "hello-skills@ledger-samples" && field(p, "installed") === true))

    const created = Path.join(other, ".agents", "plugins", "marketplace.json")
    Fs.mkdirSync(Path.dirname(created), { recursive: true })
    Fs.writeFileSync(created, JSON.stringify({ name: "other", plugins: [] }))
    release()
    const [changed] = await client.awaitNotifications("marketplace/changed", 1)
    assert.deepStrictEqual(field(changed, "params"), { marketplacePath: created, kind: "created" })
    // the engine lists on from the same discovery
    assert.deepStrictEqual(await client.call("plugin/list", { cwds: [box.workspace, other] }), listed)
    child.process.stdin.end()
    assert.deepStrictEqual(await child.exit(), { code: 0, signal: null })
  })

  it("answers from the discovery snapshot a later serve writes, byte for byte what the files give, edits included", async () => {
    const box = await installedSandbox()
    const snapshot = Path.join(box.ledgerDir, "discovery.snapshot")
    const manifest = Path.join(box.workspace, "plugins", "notes-mcp", ".codex-plugin", "plugin.json")
    const second = Math.floor(Date.now() / 1000) - 100
    Fs.utimesSync(manifest, second, second)
    // only files settled are kept (their ctime too, which cannot be set back): two seconds covers any resolution
    await new Promise((resolve) => setTimeout(resolve, 2_200))
    const list = `{"id":2,"method":"plugin/list","params":{"cwds":[${JSON.stringify(box.workspace)}]}}`
    const early = () => answerTo2(box, [INITIALIZE, `{"method":"initialized"}`, list])
    const fromFiles = await early()
    const written = Fs.readFileSync(snapshot)
    // taken over whole: nothing is read again, so nothing is written again
    assert.strictEqual(await early(), fromFiles)
    assert.isTrue(Fs.readFileSync(snapshot).equals(written))

    // same size, mtime put back: only ctime tells
    const text = Fs.readFileSync(manifest, "utf8")
    Fs.writeFileSync(manifest, text.replace("\"Notes\"", "\"Jots!\""))
    Fs.utimesSync(manifest, second, second)
    const edited = await early()
    assert.notStrictEqual(edited, fromFiles)
    assert.include(edited, "\"displayName\":\"Jots!\"")
    Fs.rmSync(snapshot)
    assert.strictEqual(await early(), edited)
    Fs.writeFileSync(snapshot, written.subarray(0, written.length / 2))
    assert.strictEqual(await early(), edited)
    assert.strictEqual(await answerTo2(box, ["", INITIALIZE, list]), edited)
  })

  it("after a first answer from the snapshot's fragments, the engine lists the same (its caches start empty)", async () => {
    const box = await installedSandbox()
    const snapshot = Path.join(box.ledgerDir, "discovery.snapshot")
    await new Promise((resolve) => setTimeout(resolve, 2_200))
    const list = `{"id":2,"method":"plugin/list","params":{"cwds":[${JSON.stringify(box.workspace)}]}}`
    await answerTo2(box, [INITIALIZE, `{"method":"initialized"}`, list])
    const written = Fs.readFileSync(snapshot)
    const { child, client } = serve(box)
    client.send({ id: "init", method: "initialize", params: { clientInfo: { name: "twice", title: null, version: "1" } } })
    client.send({ method: "initialized" })
    const first = await client.call("plugin/list", { cwds: [box.workspace] })
    assert.deepStrictEqual(await client.call("plugin/list", { cwds: [box.workspace] }), first)
    child.process.stdin.end()
    assert.deepStrictEqual(await child.exit(), { code: 0, signal: null })
    // nothing changed: taken over, not written again
    assert.isTrue(Fs.readFileSync(snapshot).equals(written))
  })

  it("leaves a listing that needs the engine to the engine: a projection behind the log, a remote sync", async () => {
    for (const [setup, params] of [
      [(box: Sandbox) => Fs.rmSync(Path.join(box.ledgerDir, "checkpoint.json")), { cwds: [] }],
      [() => {}, { cwds: [], forceRemoteSync: true }]
    ] as const) {
      const box = await installedSandbox()
      setup(box)
      const release = holdLock(box)
      const { child, client } = serve(box)
      // sent at once, as in the test above: only the state of the ledger or the request keeps the early path out
      client.send({ id: "init", method: "initialize", params: { clientInfo: { name: "late", title: null, version: "1" } } })
      const answer = client.request("plugin/list", params)
      // not answered while the engine cannot start
      await new Promise((resolve) => setTimeout(resolve, 500))
      assert.isUndefined(client.messages.find((m) => m["id"] === "early-list-1"), JSON.stringify(params))
      release()
      assert.isTrue("result" in (await answer))
      child.process.stdin.end()
      assert.deepStrictEqual(await child.exit(), { code: 0, signal: null })
    }
  })
})
