/**
 * `checkRecordedDecisions` on hand-built records: a recorded decision today's code would make differently is a
 * difference; one it makes the same is "same"; a sync without a recorded response, or that failed after deciding,
 * is "not recomputable", never a difference.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeBlobStore, sha256Hex } from "../../src/adapters/BlobStore.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { encodeRecord, EMPTY_HEAD } from "../../src/adapters/LogRecordFormat.ts"
import { RemoteSyncRecorded } from "../../src/domain/Events.ts"
import { noDecisions } from "../../src/domain/RemoteSync.ts"
import { checkRecordedDecisions } from "../../src/services/DecisionCheck.ts"
import type { LogRecord } from "../../src/services/EventLog.ts"
import { newRecordOf } from "../../src/services/EventRecords.ts"

const URL_ = "https://chatgpt.example/backend-api/plugins/list"
const observed = [
  { pluginId: "linear@openai-curated", name: "linear", sourcePath: "/m/plugins/linear", installed: true, configured: true, enabled: false },
  { pluginId: "gmail@openai-curated", name: "gmail", sourcePath: "/m/plugins/gmail", installed: true, configured: true, enabled: true }
]

const sync = (syncId: string, fields: Partial<ConstructorParameters<typeof RemoteSyncRecorded>[0]>) =>
  new RemoteSyncRecorded({
    syncId,
    request: { method: "GET", url: URL_, authHeaders: ["authorization"] },
    status: 200,
    responseBlob: null,
    responseBytes: null,
    marketplaceName: "openai-curated",
    curatedSha: "a".repeat(40),
    observed,
    decisions: noDecisions,
    error: null,
    cause: { actor: "remote-sync", syncId },
    ...fields
  })

const toRecords = (events: ReadonlyArray<RemoteSyncRecorded>): ReadonlyArray<LogRecord> => {
  let head = EMPTY_HEAD
  return events.map((event, i) => {
    const encoded = encodeRecord(head.seq + 1, head.h, newRecordOf(event, `s:${i}`, "2026-11-21T00:00:00.000Z"))
    head = { seq: encoded.record.seq, h: encoded.record.h }
    return encoded.record
  })
}

describe("checkRecordedDecisions", () => {
  it.live("same, different and not recomputable", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "decision-check-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true })))
      const blobs = makeBlobStore(nodeFs, dir)
      const body = Buffer.from(JSON.stringify([{ name: "linear", marketplace_name: "openai-curated", enabled: true }]))
      yield* blobs.putAll([body])
      const blob = sha256Hex(body)
      const right = { installed: [], enabled: ["linear@openai-curated"], disabled: [], uninstalled: ["gmail@openai-curated"] }
      const checks = checkRecordedDecisions(toRecords([
        sync("same", { responseBlob: blob, decisions: right }),
        sync("different", { responseBlob: blob, decisions: { ...right, uninstalled: [] } }),
        sync("no-response", { request: null, status: null, error: "failed to send remote plugin sync request" }),
        sync("after-deciding", { responseBlob: blob, error: "local curated marketplace sha is not available" }),
        sync("status", { responseBlob: blob, status: 500, error: "failed with status 500" })
      ]), blobs)
      assert.deepStrictEqual(checks.map((c) => [c.syncId, c.verdict]), [
        ["same", "same"],
        ["different", "different"],
        ["no-response", "not-recomputable"],
        ["after-deciding", "not-recomputable"],
        ["status", "not-recomputable"]
      ])
      assert.deepStrictEqual(checks[1]?.recomputed, right)
    }).pipe(Effect.scoped))
})
