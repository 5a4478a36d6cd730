/**
 * `plugin-ledger daemon --socket`, `proxy` and `serve` as long-running processes (real children, real sockets,
 * real file watches): several clients at once, notifications (own appends, another process's CLI run, a
 * marketplace created later), socket ownership (the owner lock), and graceful shutdown on SIGTERM, SIGINT and
 * stdin EOF with a request in flight.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { releaseLock, tryAcquireLock } from "../../src/adapters/FileLock.ts"
import { makeNodeLockHost } from "../../src/adapters/LockOwner.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { socketOwnerDir } from "../../src/cli/Daemon.ts"
import { field, LineClient, type Message } from "../support/LineClient.ts"
import { Child, makeSandbox, readLog, runCli, type Sandbox, startDaemon } from "../support/Processes.ts"

const HELLO = "hello-skills@ledger-samples"
const NOTES = "notes-mcp@ledger-samples"

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

const sandbox = (): Sandbox => {
  const made = makeSandbox("daemon-test-")
  cleanups.push(made.remove)
  return made
}
const track = <C extends Child>(child: C): C => {
  cleanups.push(() => child.kill("SIGKILL"))
  return child
}

const install = (sandbox: Sandbox, pluginName: string) => ({ marketplacePath: sandbox.marketplaceFile, pluginName })
const seqs = (notifications: ReadonlyArray<Message>) => notifications.map((n) => field(n, "params", "seq"))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Holds the ledger lock from this (test) process, as another writer would: waiting for it if the server holds it
 * (after each projection the server takes it briefly in the background, to make the outputs durable).
 */
const holdLedgerLock = async (sandbox: Sandbox) => {
  Fs.mkdirSync(sandbox.ledgerDir, { recursive: true })
  const host = makeNodeLockHost()
  let attempt = tryAcquireLock(nodeFs, sandbox.ledgerDir, host)
  for (let waited = 0; attempt._tag !== "Acquired" && waited < 5_000; waited += 10) {
    await sleep(10)
    attempt = tryAcquireLock(nodeFs, sandbox.ledgerDir, host)
  }
  if (attempt._tag !== "Acquired") return assert.fail(`could not take the ledger lock: ${JSON.stringify(attempt)}`)
  const lock = attempt.lock
  return () => assert.isTrue(releaseLock(nodeFs, lock))
}
const lockFile = (sandbox: Sandbox) => Path.join(sandbox.ledgerDir, "lock")

describe("plugin-ledger daemon", () => {
  it("serves several clients at once, each its own session; only initialized sessions are notified", async () => {
    const box = sandbox()
    const daemon = track(await startDaemon(box))
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((name) => LineClient.connect(box.socket, name)))
    if (a === undefined || b === undefined || c === undefined) return assert.fail("clients")
    await Promise.all([a.initialize(), b.initialize()])
    const notInitialized = await c.request("plugin/list", {})
    assert.strictEqual(field(notInitialized, "error", "message"), "Not initialized")

    const [fromA, fromB, listed] = await Promise.all([
      a.call("plugin/install", install(box, "hello-skills")),
      b.call("plugin/install", install(box, "notes-mcp")),
      a.call("plugin/list", { cwds: [box.workspace] })
    ])
    assert.deepStrictEqual(fromA, { authPolicy: "ON_USE", appsNeedingAuth: [] })
    assert.deepStrictEqual(fromB, { authPolicy: "ON_INSTALL", appsNeedingAuth: [] })
    assert.strictEqual(field(listed, "marketplaces", "0", "name"), "ledger-samples")

    for (const client of [a, b]) {
      const changed = await client.awaitNotifications("plugin/changed", 2)
      assert.deepStrictEqual(seqs(changed), [2, 3], `${client.label}: one total order, each event once`)
      assert.sameMembers(changed.map((n) => field(n, "params", "pluginId")), [HELLO, NOTES])
      for (const n of changed) {
        assert.strictEqual(field(n, "params", "event", "type"), "PluginInstalled")
        assert.strictEqual(field(n, "params", "event", "seq"), field(n, "params", "seq"))
        // the cause names the client whose request made the change
        const client = field(n, "params", "pluginId") === HELLO ? "a" : "b"
        assert.strictEqual(field(n, "params", "cause", "client"), client)
        assert.deepStrictEqual(field(n, "params", "cause"), field(n, "params", "event", "cause"))
      }
    }
    await sleep(200)
    assert.deepStrictEqual(c.messages.map((m) => m["id"]), ["c-1"], "nothing but its own answer for the uninitialized client")
    for (const client of [a, b, c]) client.end()
    daemon.kill("SIGTERM")
    assert.deepStrictEqual(await daemon.exit(), { code: 0, signal: null })
    assert.isFalse(Fs.existsSync(box.socket), "the socket file is removed")
  })

  it("notifies a CLI run in another process, with its cause, and answers history with it", async () => {
    const box = sandbox()
    const daemon = track(await startDaemon(box))
    const client = await LineClient.connect(box.socket, "watcher")
    await client.initialize()
    await client.call("plugin/install", install(box, "hello-skills"))
    const cli = await runCli(box, "disable", HELLO, "--request-id", "cli-run-1")
    assert.strictEqual(cli.code, 0, cli.stderr)
    const [installed, disabled] = await client.awaitNotifications("plugin/changed", 2)
    assert.strictEqual(field(installed, "params", "event", "type"), "PluginInstalled")
    assert.strictEqual(field(disabled, "params", "event", "type"), "PluginDisabled")
    assert.deepStrictEqual(field(disabled, "params", "cause"), { actor: "cli", requestId: "cli-run-1", client: "plugin-ledger-cli" })
    assert.strictEqual(field(disabled, "params", "seq"), 3)
    const history = await client.call("plugin/history", { pluginId: HELLO })
    assert.deepStrictEqual(field(history, "events"), [field(installed, "params", "event"), field(disabled, "params", "event")])
    client.end()
    daemon.kill("SIGINT")
    assert.deepStrictEqual(await daemon.exit(), { code: 0, signal: null })
  })

  it("sends marketplace/changed for a marketplace created later in a folder that did not exist, and lists it", async () => {
    const box = sandbox()
    const daemon = track(await startDaemon(box))
    const client = await LineClient.connect(box.socket, "lister")
    await client.initialize()
    const project = Path.join(box.root, "later", "deeper", "project")
    const before = await client.call("plugin/list", { cwds: [project] })
    assert.deepStrictEqual(field(before, "marketplaces"), [])

    Fs.mkdirSync(project, { recursive: true })
    Fs.cpSync(Path.join(box.workspace, "plugins"), Path.join(project, "plugins"), { recursive: true })
    Fs.cpSync(Path.join(box.workspace, ".agents"), Path.join(project, ".agents"), { recursive: true })
    const file = Path.join(project, ".agents", "plugins", "marketplace.json")
    const [changed] = await client.awaitNotifications("marketplace/changed", 1)
    assert.deepStrictEqual(field(changed, "params"), { marketplacePath: file, kind: "created" })
    const after = await client.call("plugin/list", { cwds: [project] })
    assert.strictEqual(field(after, "marketplaces", "0", "path"), file)
    assert.strictEqual(field(after, "marketplaces", "0", "plugins", "0", "id"), HELLO)

    Fs.rmSync(file)
    const [, deleted] = await client.awaitNotifications("marketplace/changed", 2)
    assert.deepStrictEqual(field(deleted, "params"), { marketplacePath: file, kind: "deleted" })
    assert.deepStrictEqual(field(await client.call("plugin/list", { cwds: [project] }), "marketplaces"), [])
    client.end()
    daemon.kill("SIGTERM")
    assert.strictEqual((await daemon.exit()).code, 0)
  })

  it("refuses to start on a socket a live daemon owns, and replaces a stale one", async () => {
    const box = sandbox()
    const first = track(await startDaemon(box))
    const second = track(new Child(box, ["daemon", "--socket", box.socket]))
    assert.deepStrictEqual(await second.exit(), { code: 3, signal: null })
    assert.include(second.stderr, `another daemon is listening on ${box.socket}`)

    first.kill("SIGKILL")
    await first.exit()
    assert.isTrue(Fs.existsSync(box.socket), "a killed daemon leaves its socket file behind")
    const third = track(await startDaemon(box))
    assert.include(third.stderr, `removing the stale socket ${box.socket}`)
    const client = await LineClient.connect(box.socket, "after")
    await client.initialize()
    assert.isArray(field(await client.call("plugin/list", { cwds: [box.workspace] }), "marketplaces"))
    client.end()
    third.kill("SIGTERM")
    assert.strictEqual((await third.exit()).code, 0)

    Fs.writeFileSync(box.socket, "not a socket")
    const refused = track(new Child(box, ["daemon", "--socket", box.socket]))
    assert.strictEqual((await refused.exit()).code, 3)
    assert.include(refused.stderr, "exists and is not a socket")
    assert.strictEqual(Fs.readFileSync(box.socket, "utf8"), "not a socket")
  })

  it("the socket's owner lock: a daemon refuses while another holds it, and takes it over from a dead holder", async () => {
    const box = sandbox()
    const ownerDir = socketOwnerDir(box.socket)
    Fs.mkdirSync(ownerDir)
    // held by a live process (this one): a daemon starting, not yet listening
    const held = tryAcquireLock(nodeFs, ownerDir, makeNodeLockHost())
    if (held._tag !== "Acquired") return assert.fail("could not take the owner lock")
    const refused = track(new Child(box, ["daemon", "--socket", box.socket]))
    assert.deepStrictEqual(await refused.exit(), { code: 3, signal: null })
    assert.include(refused.stderr, `another daemon is listening on ${box.socket} (or starting: pid ${process.pid} on host `)
    assert.isFalse(Fs.existsSync(box.socket), "a refused daemon touched the socket path")
    assert.isTrue(releaseLock(nodeFs, held.lock))

    // a daemon killed with SIGKILL leaves its lock and its socket: the next one takes both over
    const first = track(await startDaemon(box))
    assert.isTrue(Fs.existsSync(Path.join(ownerDir, "lock")))
    first.kill("SIGKILL")
    await first.exit()
    const second = track(await startDaemon(box))
    assert.include(second.stderr, `removing the stale socket ${box.socket}`)
    second.kill("SIGTERM")
    assert.strictEqual((await second.exit()).code, 0)
    // a clean stop removes the socket and releases the lock; the lock's directory stays
    assert.isFalse(Fs.existsSync(box.socket))
    assert.deepStrictEqual(Fs.readdirSync(ownerDir), [])
  })

  it("proxy bridges stdio to the daemon byte for byte and ends after the answers at stdin's end", async () => {
    const box = sandbox()
    const daemon = track(await startDaemon(box))
    const direct = await LineClient.connect(box.socket, "direct")
    const proxy = track(new Child(box, ["proxy", "--socket", box.socket]))
    const viaProxy = new LineClient(proxy.process.stdout, proxy.process.stdin, "proxied")
    await Promise.all([direct.initialize("same"), viaProxy.initialize("same")])
    const params = { cwds: [box.workspace] }
    await Promise.all([direct.sendRequest("list", "plugin/list", params), viaProxy.sendRequest("list", "plugin/list", params)])
    assert.strictEqual(viaProxy.lines.at(-1), direct.lines.at(-1), "the same bytes through the proxy")

    // pipelined: a request and then EOF right away; the answer still comes, then the proxy exits
    viaProxy.send({ id: "last", method: "plugin/install", params: install(box, "mail-apps") })
    viaProxy.end()
    assert.strictEqual(field(await viaProxy.response("last"), "result", "authPolicy"), "ON_INSTALL")
    assert.deepStrictEqual(await proxy.exit(), { code: 0, signal: null })
    assert.strictEqual(proxy.stderr, "")
    direct.end()
    daemon.kill("SIGTERM")
    assert.strictEqual((await daemon.exit()).code, 0)
  })

  it("proxy to a socket nobody listens on fails with exit code 3", async () => {
    const box = sandbox()
    const proxy = track(new Child(box, ["proxy", "--socket", box.socket]))
    proxy.process.stdin.end()
    assert.strictEqual((await proxy.exit()).code, 3)
    assert.include(proxy.stderr, `cannot connect to ${box.socket}`)
  })
})

describe("graceful shutdown with a request in flight", () => {
  /**
   * The request waits for the ledger lock, which this test holds, so it is certainly in flight when the signal
   * (or EOF) arrives; once the lock is released it must still be answered, and the process must exit 0 with the
   * event in the log and the lock released.
   */
  const inFlight = async (
    box: Sandbox,
    server: Child,
    client: LineClient,
    stop: () => void
  ) => {
    await client.initialize()
    // serve answers `initialize` before its engine is up, and the engine's start-up takes the lock too: wait for it
    await client.call("plugin/history", { limit: 0 })
    const release = await holdLedgerLock(box)
    client.send({ id: "in-flight", method: "plugin/install", params: install(box, "notes-mcp") })
    await server.waitForLog("request in-flight plugin/install")
    stop()
    await sleep(300)
    const earlyExit = await Promise.race([server.exited.then(() => true), sleep(10).then(() => false)])
    assert.isFalse(earlyExit, "it waits for the request in flight")
    release()
    const answer = await client.response("in-flight")
    assert.deepStrictEqual(field(answer, "result"), { authPolicy: "ON_INSTALL", appsNeedingAuth: [] })
    assert.deepStrictEqual(await server.exit(), { code: 0, signal: null })
    assert.isFalse(Fs.existsSync(lockFile(box)), "the ledger lock is released")
    const records = readLog(box.ledgerDir)
    const last = records.at(-1)
    assert.strictEqual(last?.["type"], "PluginInstalled")
    assert.strictEqual(field(last, "data", "cause", "requestId"), "in-flight")
    const checkpoint: unknown = JSON.parse(Fs.readFileSync(Path.join(box.ledgerDir, "checkpoint.json"), "utf8"))
    assert.strictEqual(field(checkpoint, "seq"), last?.["seq"], "its projection settled (made durable) before the exit")
  }

  it("daemon: SIGTERM", async () => {
    const box = sandbox()
    const daemon = track(await startDaemon(box))
    const client = await LineClient.connect(box.socket, "term")
    await inFlight(box, daemon, client, () => daemon.kill("SIGTERM"))
    assert.isFalse(Fs.existsSync(box.socket))
  })

  it("serve: SIGINT", async () => {
    const box = sandbox()
    const serve = track(new Child(box, ["serve", "--log-level", "debug"]))
    await inFlight(box, serve, new LineClient(serve.process.stdout, serve.process.stdin, "int"), () => serve.kill("SIGINT"))
  })

  it("serve: stdin EOF", async () => {
    const box = sandbox()
    const serve = track(new Child(box, ["serve", "--log-level", "debug"]))
    const client = new LineClient(serve.process.stdout, serve.process.stdin, "eof")
    await inFlight(box, serve, client, () => client.end())
  })
})
