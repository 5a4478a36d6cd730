/**
 * Golden ledgers (R13): logs and blobs written by earlier versions (`test/fixtures/golden-logs/<date>-<commit>/`,
 * made with `make.ts` from a checkout of that commit) must read, replay and project with today's code to the bytes
 * that version's own replay stored (`expected/`), and a ledger holding them must take new commands on top.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { setPluginEnabled } from "../../src/adapters/ConfigToml.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { readLogReadOnly } from "../../src/adapters/LogReader.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { replayLedger } from "../../src/services/Replay.ts"
import { ALPHA, BETA, withEngine, type World } from "../support/LedgerWorld.ts"
import { snapshotTree } from "../support/Trees.ts"

const corpus = Path.join(import.meta.dirname, "..", "fixtures", "golden-logs")
const goldens = NodeFs.readdirSync(corpus, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()
const origin = { actor: "cli", client: "golden-test", requestId: "g" } as const

const eventsOf = (ledgerDir: string): Buffer => {
  const dir = Path.join(ledgerDir, "events")
  return Buffer.concat(NodeFs.readdirSync(dir).sort().map((name) => NodeFs.readFileSync(Path.join(dir, name))))
}

describe("golden ledgers of earlier versions", () => {
  it("the corpus is there", () => {
    assert.include(goldens, "2026-11-21-22e9864") // the last version before batches carried `more`
  })

  for (const golden of goldens) {
    it.effect(`${golden}: read, replayed to the stored bytes, and written on`, () =>
      Effect.gen(function*() {
        const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "golden-")))
        yield* Effect.addFinalizer(() => Effect.sync(() => NodeFs.rmSync(root, { recursive: true, force: true })))
        const paths = makeLedgerPaths({ codexHome: Path.join(root, "codex-home"), home: Path.join(root, "home") })
        NodeFs.mkdirSync(paths.home, { recursive: true })
        NodeFs.cpSync(Path.join(corpus, golden, "ledger"), paths.ledgerDir, { recursive: true })
        const goldenEvents = eventsOf(paths.ledgerDir)

        // every record reads, none is held back or cut off
        const reading = readLogReadOnly(nodeFs, paths.ledgerDir)
        assert.isUndefined(reading.stoppedBecause)
        assert.strictEqual(reading.records.length, goldenEvents.toString("utf8").trimEnd().split("\n").length)

        // the replay projects what that version's own replay did, and copies the log byte for byte
        const replay = yield* replayLedger(paths, { into: Path.join(root, "replay") })
        const expected = Path.join(corpus, golden, "expected")
        assert.strictEqual(
          NodeFs.readFileSync(Path.join(replay.into, "config.toml"), "utf8"),
          NodeFs.readFileSync(Path.join(expected, "config.toml"), "utf8")
        )
        assert.deepStrictEqual(
          snapshotTree(Path.join(replay.into, "plugins", "cache"), { modes: true }),
          NodeFs.readFileSync(Path.join(expected, "cache.txt"), "utf8").trimEnd().split("\n")
        )
        const replayed = makeLedgerPaths({ codexHome: replay.into, home: paths.home })
        assert.isTrue(eventsOf(replayed.ledgerDir).equals(goldenEvents))

        // that ledger opens without a repair and takes a command that appends two events in one batch on top
        const world: World = { root, repo: root, marketplacePath: "", paths: replayed }
        const verified = yield* withEngine(world, (engine) => engine.verify({ repair: false }, origin))
        assert.isTrue(verified.ok, JSON.stringify(verified))
        assert.isTrue(eventsOf(replayed.ledgerDir).equals(goldenEvents), "opening the ledger changed its log")
        yield* withEngine(world, (engine) =>
          Effect.suspend(() => {
            const edited = setPluginEnabled(NodeFs.readFileSync(replayed.configPath, "utf8"), BETA, true)
            if (Result.isFailure(edited)) throw new Error(edited.failure.message)
            NodeFs.writeFileSync(replayed.configPath, edited.success)
            return engine.setEnabled({ pluginId: ALPHA, enabled: false }, origin)
          }))
        const after = readLogReadOnly(nodeFs, replayed.ledgerDir)
        assert.isUndefined(after.stoppedBecause)
        const added = after.records.slice(reading.records.length)
        assert.deepStrictEqual(added.map((r) => [r.type, r.more]), [["PluginStateChangedExternally", 1], ["PluginDisabled", undefined]])
        assert.strictEqual(added[0]?.prev, reading.records.at(-1)?.h)
        const reverified = yield* withEngine(world, (engine) => engine.verify({ repair: false }, origin))
        assert.isTrue(reverified.ok, JSON.stringify(reverified))
      }).pipe(Effect.scoped))
  }
})
