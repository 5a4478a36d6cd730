/** The PathWatch service on real files: debounced, classified changes, and nothing once the scope is closed. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Queue, Scope } from "effect"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type PathChange, PathWatch } from "../../src/services/PathWatch.ts"

const sandbox = Effect.acquireRelease(
  Effect.sync(() => NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "path-watch-")))),
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
)
const sleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

describe("PathWatch", () => {
  it.live("given a config file that comes, changes and goes then each is reported once, classified", () =>
    Effect.gen(function*() {
      const root = yield* sandbox
      const file = Path.join(root, "codex", "config.toml")
      const watch = yield* PathWatch
      const changes = yield* Queue.unbounded<PathChange>()
      yield* watch.watch([file], (change) => Queue.offer(changes, change).pipe(Effect.asVoid))
      const next = Queue.take(changes).pipe(Effect.timeout("5 seconds"))

      NodeFs.mkdirSync(Path.dirname(file))
      yield* sleep(100)
      assert.strictEqual(yield* Queue.size(changes), 0, "a parent appearing is not a change of the file")
      NodeFs.writeFileSync(file, "a = 1\n")
      NodeFs.appendFileSync(file, "b = 2\n") // one burst, one report
      assert.deepStrictEqual(yield* next, { path: file, kind: "created" })
      NodeFs.writeFileSync(`${file}.tmp`, "a = 3\n")
      NodeFs.renameSync(`${file}.tmp`, file)
      assert.deepStrictEqual(yield* next, { path: file, kind: "changed" })
      NodeFs.rmSync(Path.dirname(file), { recursive: true })
      assert.deepStrictEqual(yield* next, { path: file, kind: "deleted" })
      yield* sleep(100)
      assert.strictEqual(yield* Queue.size(changes), 0)
    }).pipe(Effect.provide(PathWatch.layer)))

  it.live("given a subscription whose scope closed then its directories are let go and nothing more is reported", () =>
    Effect.gen(function*() {
      const root = yield* sandbox
      const file = Path.join(root, "f")
      const watch = yield* PathWatch
      const changes = yield* Queue.unbounded<PathChange>()
      const scope = yield* Scope.make()
      yield* watch.watch([file], (change) => Queue.offer(changes, change).pipe(Effect.asVoid)).pipe(Scope.provide(scope))
      assert.isTrue((yield* watch.watchedDirectories) > 0)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* watch.watchedDirectories, 0)
      NodeFs.writeFileSync(file, "x")
      yield* sleep(100)
      assert.strictEqual(yield* Queue.size(changes), 0)
    }).pipe(Effect.provide(PathWatch.layer)))
})
