/**
 * The child-process peer on its own, case by case from process-conformance.json: 53 stderr_level_detection,
 * 54 size_limits (the 1 MiB line cap; the reference's 100 MiB lifetime cap is a deliberate difference, see
 * ProcessConformance.md), 3 dropping_client_releases_process (closing the peer's scope ends the child, even one
 * that ignores `shutdown` and stdin EOF), 2 caller_deadline_overrides_default_timeout (each call has its own).
 */
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { makeLineSplitter } from "../../src/adapters/LineSplitter.ts"
import { spawnPeer, stderrLevel } from "../../src/adapters/ProcessPeer.ts"
import { MAX_LINE_BYTES } from "../../src/domain/ProcessProtocol.ts"

const FIXTURE = Path.resolve(import.meta.dirname, "../fixtures/process-plugins/raw-plugin.mjs")

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const hooks = { onRequest: () => Effect.succeed(null), onLog: () => Effect.void }
const spec = (mode: string) => ({ name: "raw", command: process.execPath, args: [FIXTURE, mode], env: { PATH: process.env["PATH"] ?? "" }, cwd: undefined, graceMs: 200 })

describe("ProcessPeer", () => {
  it("stderr levels: a leading ISO time is dropped, [LEVEL] or LEVEL: read, the rest logged at info unchanged (53)", () => {
    assert.deepStrictEqual(stderrLevel("2026-02-01T19:24:20.476Z [DEBUG] [mangabaka-search] Search params received"), {
      level: "Debug",
      message: "[mangabaka-search] Search params received"
    })
    assert.deepStrictEqual(stderrLevel("a line with no level marker"), { level: "Info", message: "a line with no level marker" })
    assert.deepStrictEqual(stderrLevel("WARN: careful"), { level: "Warning", message: "careful" })
    assert.deepStrictEqual(stderrLevel("[err] boom"), { level: "Error", message: "boom" })
    assert.deepStrictEqual(stderrLevel("[TRACE] detail"), { level: "Debug", message: "detail" })
    assert.deepStrictEqual(stderrLevel("2026-02-01T19:24:20Z no marker after the time"), { level: "Info", message: "2026-02-01T19:24:20Z no marker after the time" })
  })

  it("size limit: a line of exactly 1 MiB passes, one byte more is oversize (54)", () => {
    assert.strictEqual(MAX_LINE_BYTES, 1_048_576)
    const splitter = makeLineSplitter(MAX_LINE_BYTES)
    const at = splitter.push(Buffer.from(`${"a".repeat(MAX_LINE_BYTES)}\n`))
    assert.deepStrictEqual(at.map((i) => i._tag), ["Line"])
    const over = splitter.push(Buffer.from(`{"id":7,"result":"${"b".repeat(MAX_LINE_BYTES)}"}\n`))
    assert.deepStrictEqual(over.map((i) => i._tag), ["Oversize"])
    assert.include(over[0]?._tag === "Oversize" ? over[0].head : "", "\"id\":7")
  })

  it.live("closing the scope ends the child, even one that ignores shutdown and stdin EOF (3)", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const peer = yield* spawnPeer(spec("no-shutdown"), hooks).pipe(Scope.provide(scope))
      yield* peer.call("initialize", {}, 5000)
      const pid = peer.pid
      assert.isDefined(pid)
      assert.isTrue(isAlive(pid ?? 0))
      yield* Scope.close(scope, Exit.void)
      // the finalizer returns once the child has exited (shutdown unanswered, grace over, SIGKILL)
      assert.isFalse(isAlive(pid ?? 0))
      assert.isFalse(peer.alive())
      const after = yield* Effect.flip(peer.call("ping", undefined, 1000))
      assert.include(after.message, "is not running")
    }))

  it.live("a call's own deadline applies, whatever the others' (2)", () =>
    Effect.gen(function*() {
      const peer = yield* spawnPeer(spec("echo"), hooks)
      yield* peer.call("initialize", {}, 5000)
      const [short, answered] = yield* Effect.all([
        Effect.flip(peer.call("metadata/series/search", { query: "hang" }, 150)),
        peer.call("metadata/series/search", { query: "sleep:300" }, 30_000)
      ], { concurrency: "unbounded" })
      assert.strictEqual(short.kind, "Timeout")
      assert.strictEqual(short.message, "process plugin `raw` did not answer `metadata/series/search` within 0.15 s")
      assert.deepStrictEqual(answered, { results: [{ externalId: "e-sleep:300", title: "sleep:300", alternateTitles: [] }] })
    }))
})
