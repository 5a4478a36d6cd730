/**
 * `replay --verify-decisions`: every recorded remote sync is decided again from what it recorded (the response body
 * from the blob store, the curated plugins it observed) with today's code, and compared with the decisions it
 * recorded. No network: the input is the log and the blobs. A sync that failed before it had a response, or after
 * its decision (a store step, config.toml), has nothing to recompute and is reported as such, not as a difference.
 */
import { Result } from "effect"
import type { BlobStore } from "../adapters/BlobStore.ts"
import { describeError } from "../adapters/FsPort.ts"
import { decodeRemoteResponse, reconcileRemoteSync, type SyncDecisions } from "../domain/RemoteSync.ts"
import type { LogRecord } from "./EventLog.ts"
import { eventOf } from "./EventRecords.ts"

export interface DecisionCheck {
  readonly seq: number
  readonly syncId: string
  readonly verdict: "same" | "different" | "not-recomputable"
  /** what the log says: the decisions, or the error the sync failed with */
  readonly recorded: SyncDecisions | { readonly error: string }
  /** what today's code decides from the recorded input (absent when not recomputable) */
  readonly recomputed?: SyncDecisions | { readonly error: string }
  /** why it could not be recomputed */
  readonly reason?: string
}

const sameDecisions = (a: SyncDecisions, b: SyncDecisions): boolean =>
  (["installed", "enabled", "disabled", "uninstalled"] as const).every((key) =>
    a[key].length === b[key].length && a[key].every((id, i) => id === b[key][i])
  )

export const checkRecordedDecisions = (records: ReadonlyArray<LogRecord>, blobs: BlobStore): ReadonlyArray<DecisionCheck> => {
  const checks: Array<DecisionCheck> = []
  for (const record of records) {
    const event = eventOf(record)
    if (event?._tag !== "RemoteSyncRecorded") continue
    const recorded = event.error === null ? event.decisions : { error: event.error }
    const base = { seq: record.seq, syncId: event.syncId, recorded }
    const skip = (reason: string) => checks.push({ ...base, verdict: "not-recomputable", reason })
    if (event.request === null || event.responseBlob === null) {
      skip("no response was recorded (the request was not sent or not answered)")
      continue
    }
    if (event.status !== null && (event.status < 200 || event.status > 299)) {
      skip(`the response had status ${event.status}`)
      continue
    }
    let body: string
    try {
      body = Buffer.from(blobs.get(event.responseBlob)).toString("utf8")
    } catch (error) {
      skip(`the recorded response ${event.responseBlob} cannot be read: ${describeError(error)}`)
      continue
    }
    const decoded = decodeRemoteResponse(event.request.url, body)
    const plan = Result.isFailure(decoded)
      ? Result.fail(decoded.failure)
      : event.marketplaceName === null
      ? undefined
      : reconcileRemoteSync(event.marketplaceName, event.observed, decoded.success)
    if (plan === undefined) {
      skip("the curated marketplace was not available when it ran")
      continue
    }
    const recomputed = Result.isFailure(plan) ? { error: plan.failure } : plan.success.decisions
    if (event.error !== null && Result.isSuccess(plan)) {
      // it failed after deciding (storing an install, editing config.toml): nothing to compare the decision with
      skip(`it failed after its decision: ${event.error}`)
      continue
    }
    const same = event.error === null
      ? Result.isSuccess(plan) && sameDecisions(event.decisions, plan.success.decisions)
      : Result.isFailure(plan) && plan.failure === event.error
    checks.push({ ...base, recomputed, verdict: same ? "same" : "different" })
  }
  return checks
}
