import { Context } from "effect"

/**
 * One hold of the ledger lock: `EventLog.transact` provides a new one to the effects it runs under the lock (its
 * `decide` and `afterAppend`, and the fibers they fork); everywhere else there is none.
 *
 * What it is for: a file that only the lock's holder writes (`checkpoint.json`) reads the same all through one hold,
 * except where the holder itself writes it. So a value read under a hold can be used again later in that same hold,
 * by code that knows what of its own it wrote in between, instead of being read again. Being a context value rather
 * than a process-wide flag, it is seen only by the transaction holding the lock, never by a fiber running beside it.
 */
export interface LockHold {
  /** distinct for every hold of the lock in this process (whichever EventLog took it) */
  readonly id: number
}

export const LockHold = Context.Reference<LockHold | undefined>("plugin-ledger/services/LockHold", {
  defaultValue: () => undefined
})

let holds = 0
/** a new hold (taken by the caller) */
export const nextLockHold = (): LockHold => ({ id: ++holds })
