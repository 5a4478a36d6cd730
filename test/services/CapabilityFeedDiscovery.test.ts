/**
 * The feed walks a plugin's skill tree again only when something reports a change in it (see
 * `BundleDirectories`): directories made by hand that change no answer yet, and a reinstalled tree that looks the
 * same to the view, are still watched, so what is written into them later is published. Through the daemon's
 * layer and real file watches.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, PubSub, Schedule } from "effect"
import { daemonLayer } from "../../src/cli/DaemonLayer.ts"
import { type CapabilitiesChanged, CapabilityFeed } from "../../src/services/CapabilityFeed.ts"
import { Engine } from "../../src/services/EngineApi.ts"
import { PathWatch } from "../../src/services/PathWatch.ts"
import { install, pluginCacheDir, worldScoped, writeFile } from "../support/LedgerWorld.ts"

const next = (sub: PubSub.Subscription<CapabilitiesChanged>, what: string) =>
  PubSub.take(sub).pipe(
    Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.fail(new Error(`no plugin/capabilitiesChanged after ${what}`)) })
  )
const none = (sub: PubSub.Subscription<CapabilitiesChanged>) => PubSub.take(sub).pipe(Effect.timeoutOption("300 millis"))

/** waits (bounded) until the open directory watches number more than `than` */
const moreWatchesThan = (than: number, what: string) =>
  Effect.gen(function*() {
    const watch = yield* PathWatch
    const count = yield* watch.watchedDirectories
    if (count <= than) return yield* Effect.fail(new Error(`no watch opened for ${what}`))
  }).pipe(Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 1000 }))

describe("capability feed: directory discovery", () => {
  it.live("an empty skill directory made by hand is watched, so a SKILL.md written into it later is published", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* Effect.gen(function*() {
        const engine = yield* Engine
        const feed = yield* CapabilityFeed
        const watch = yield* PathWatch
        const sub = yield* feed.subscribe
        yield* install(engine, world, "alpha")
        yield* next(sub, "the install")
        assert.strictEqual((yield* none(sub))._tag, "None")
        const before = yield* watch.watchedDirectories

        const draft = Path.join(pluginCacheDir(world, "alpha"), "local", "skills", "draft")
        NodeFs.mkdirSync(draft)
        // nothing an agent uses changed, so the answer is the same: only the reported change walks alpha again
        yield* moreWatchesThan(before, "skills/draft")
        writeFile(Path.join(draft, "SKILL.md"), "---\nname: draft\ndescription: a draft\n---\n")
        const skill = yield* next(sub, "SKILL.md written into a directory made by hand earlier")
        assert.deepStrictEqual(skill.changes.skills, { added: ["alpha:draft"], removed: [] })
      }).pipe(Effect.provide(daemonLayer(world.paths)))
    }))

  it.live("a plugin reinstalled over the same root with a new tree is walked again", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* Effect.gen(function*() {
        const engine = yield* Engine
        const feed = yield* CapabilityFeed
        const sub = yield* feed.subscribe
        yield* install(engine, world, "alpha")
        yield* next(sub, "the install")

        // a directory that is no skill: the reinstalled answer is the same as before
        writeFile(Path.join(world.repo, "plugins", "alpha", "skills", "later", "notes.md"), "not a skill yet\n")
        yield* install(engine, world, "alpha")
        const later = Path.join(pluginCacheDir(world, "alpha"), "local", "skills", "later")
        assert.isTrue(NodeFs.existsSync(Path.join(later, "notes.md")), "the new tree is in the cache")
        assert.strictEqual((yield* none(sub))._tag, "None", "the reinstall changes no capability")

        writeFile(Path.join(later, "SKILL.md"), "---\nname: later\ndescription: made a skill by hand\n---\n")
        const skill = yield* next(sub, "SKILL.md written into a directory of the reinstalled tree")
        assert.deepStrictEqual(skill.changes.skills, { added: ["alpha:later"], removed: [] })
      }).pipe(Effect.provide(daemonLayer(world.paths)))
    }))
})
