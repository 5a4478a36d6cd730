/**
 * The fs.watch-based path watcher on a real file system: what it reports, what `covers` promises, and that it
 * lets go of every directory watch again.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makePathWatcher } from "../../src/adapters/PathWatcher.ts"

const created: Array<string> = []
const tempDir = (): string => {
  const dir = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "path-watcher-")))
  created.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of created) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Records listener calls; `next` waits for the first call after the mark. */
const recorder = () => {
  const calls: Array<{ readonly path: string; readonly direct: boolean }> = []
  let mark = 0
  return {
    calls,
    listener: (path: string, direct: boolean) => void calls.push({ path, direct }),
    /** the calls since the last `since`, once at least one arrived (fails after 5 s) */
    async next(): Promise<ReadonlyArray<{ readonly path: string; readonly direct: boolean }>> {
      const deadline = Date.now() + 5_000
      while (calls.length === mark) {
        if (Date.now() > deadline) assert.fail("no event within 5 s")
        await sleep(5)
      }
      await sleep(30) // let a burst finish
      const out = calls.slice(mark)
      mark = calls.length
      return out
    },
    /** no call for a while */
    async quiet(ms = 150): Promise<void> {
      await sleep(ms)
      assert.deepStrictEqual(calls.slice(mark), [], "unexpected events")
    }
  }
}

describe("PathWatcher", () => {
  it("given a file that does not exist in folders that do not exist when it is created then it is reported and covered", async () => {
    const root = tempDir()
    const target = Path.join(root, "a", "b", ".agents", "plugins", "marketplace.json")
    const watcher = makePathWatcher()
    const seen = recorder()
    try {
      watcher.watch(target, seen.listener)
      assert.isFalse(watcher.covers(target), "its parent does not exist, so nothing can watch it yet")
      NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
      const first = await seen.next()
      assert.isTrue(first.every((c) => c.path === target))
      assert.isTrue(watcher.covers(target), "every directory on the way is watched now")
      NodeFs.writeFileSync(target, "{}")
      const write = await seen.next()
      assert.isTrue(write.some((c) => c.path === target && c.direct), JSON.stringify(write))
    } finally {
      watcher.close()
    }
  })

  it("given a watched file when it is written, replaced by a rename or deleted then each is reported as direct", async () => {
    const root = tempDir()
    const target = Path.join(root, "plugin.json")
    NodeFs.writeFileSync(target, "1")
    const watcher = makePathWatcher()
    const seen = recorder()
    try {
      watcher.watch(target, seen.listener)
      assert.isTrue(watcher.covers(target))
      NodeFs.appendFileSync(target, "2")
      assert.isTrue((await seen.next()).some((c) => c.direct))
      NodeFs.writeFileSync(`${target}.tmp`, "3")
      NodeFs.renameSync(`${target}.tmp`, target)
      assert.isTrue((await seen.next()).some((c) => c.direct))
      NodeFs.unlinkSync(target)
      assert.isTrue((await seen.next()).some((c) => c.direct))
    } finally {
      watcher.close()
    }
  })

  it("given a watched file when an ancestor is renamed away and back then both are reported and coverage follows", async () => {
    const root = tempDir()
    const target = Path.join(root, "plugins", "p", ".codex-plugin", "plugin.json")
    NodeFs.mkdirSync(Path.dirname(target), { recursive: true })
    NodeFs.writeFileSync(target, "{}")
    const watcher = makePathWatcher()
    const seen = recorder()
    try {
      watcher.watch(target, seen.listener)
      assert.isTrue(watcher.covers(target))
      NodeFs.renameSync(Path.join(root, "plugins", "p", ".codex-plugin"), Path.join(root, "plugins", "p", "old"))
      const away = await seen.next()
      assert.isTrue(away.every((c) => c.path === target && !c.direct), JSON.stringify(away))
      assert.isFalse(watcher.covers(target), "its parent is gone")
      NodeFs.renameSync(Path.join(root, "plugins", "p", "old"), Path.join(root, "plugins", "p", ".codex-plugin"))
      await seen.next()
      assert.isTrue(watcher.covers(target))
      NodeFs.renameSync(Path.join(root, "plugins"), Path.join(root, "moved"))
      await seen.next()
      assert.isFalse(watcher.covers(target))
    } finally {
      watcher.close()
    }
  })

  it("given a directory on the way replaced by another one then writes in the new one are reported", async () => {
    const root = tempDir()
    const target = Path.join(root, "m", "marketplace.json")
    NodeFs.mkdirSync(Path.join(root, "m"))
    NodeFs.mkdirSync(Path.join(root, "n"))
    const watcher = makePathWatcher()
    const seen = recorder()
    try {
      watcher.watch(target, seen.listener)
      NodeFs.renameSync(Path.join(root, "m"), Path.join(root, "m-old"))
      NodeFs.renameSync(Path.join(root, "n"), Path.join(root, "m"))
      await seen.next()
      NodeFs.writeFileSync(target, "{}")
      assert.isTrue((await seen.next()).some((c) => c.direct))
      // the old directory is not watched any more
      NodeFs.writeFileSync(Path.join(root, "m-old", "marketplace.json"), "{}")
      await seen.quiet()
    } finally {
      watcher.close()
    }
  })

  it("given other entries in the watched directories when they change then nobody is called", async () => {
    const root = tempDir()
    const target = Path.join(root, "d", "f")
    NodeFs.mkdirSync(Path.join(root, "d"))
    const watcher = makePathWatcher()
    const seen = recorder()
    try {
      watcher.watch(target, seen.listener)
      NodeFs.writeFileSync(Path.join(root, "d", "other"), "x")
      NodeFs.writeFileSync(Path.join(root, "sibling"), "x")
      NodeFs.mkdirSync(Path.join(root, "d2"))
      await seen.quiet()
    } finally {
      watcher.close()
    }
  })

  it("given children mode then any entry inside the directory is a change of it", async () => {
    const root = tempDir()
    const events = Path.join(root, "ledger", "events")
    NodeFs.mkdirSync(events, { recursive: true })
    const watcher = makePathWatcher()
    const seen = recorder()
    try {
      watcher.watch(events, seen.listener, { children: true })
      NodeFs.writeFileSync(Path.join(events, "00000000000000000001.jsonl"), "line\n")
      assert.isTrue((await seen.next()).every((c) => c.path === events && c.direct))
      NodeFs.appendFileSync(Path.join(events, "00000000000000000001.jsonl"), "more\n")
      assert.isTrue((await seen.next()).length > 0)
    } finally {
      watcher.close()
    }
  })

  it("given two paths sharing directories when one is unwatched then the other still works and in the end nothing is watched", async () => {
    const root = tempDir()
    const a = Path.join(root, "x", "a")
    const b = Path.join(root, "x", "b")
    NodeFs.mkdirSync(Path.join(root, "x"))
    const watcher = makePathWatcher()
    const seenA = recorder()
    const seenB = recorder()
    try {
      const stopA = watcher.watch(a, seenA.listener)
      const stopB = watcher.watch(b, seenB.listener)
      const shared = watcher.watchedDirectories()
      assert.isTrue(shared >= 3, `/, …, ${root}, x: ${shared}`)
      stopA()
      assert.strictEqual(watcher.watchedDirectories(), shared, "b still needs every directory")
      assert.isFalse(watcher.covers(a))
      NodeFs.writeFileSync(a, "1")
      NodeFs.writeFileSync(b, "1")
      assert.isTrue((await seenB.next()).some((c) => c.path === b))
      await seenA.quiet(50)
      stopB()
      assert.strictEqual(watcher.watchedDirectories(), 0)
    } finally {
      watcher.close()
    }
  })
})
