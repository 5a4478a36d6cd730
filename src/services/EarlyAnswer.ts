import { Context } from "effect"

/**
 * Where a command sends its answer the moment it is known: once its events are fsynced and projected, while the
 * ledger lock is still held. What remains of the command (releasing the lock, publishing the records to other
 * sessions, closing the install's scope) then runs after the client has its answer instead of before it.
 *
 * Provided per request by the RPC peer (`servePeer`), which writes the value as the request's result and writes
 * nothing more when the handler ends (if the handler fails after that, the failure is logged: the command is
 * already recorded and projected, which is what the answer said). Absent everywhere else (CLI one-shots, tests of
 * the engine): the answer is then the handler's result, as before. Only `Engine`'s commands use it, and only when
 * they appended their own events (a retried idempotent command answers from the log at the end). The methods that
 * reach those commands answer with the command's result unchanged; a method that reshapes it must not pass this on.
 *
 * A plain function, called in a step the command runs anyway: it only starts the write (the peer awaits it when the
 * handler ends), and an effect of its own to look up and run was several runtime steps on every command.
 */
export const EarlyAnswer = Context.Reference<((value: unknown) => void) | undefined>(
  "plugin-ledger/services/EarlyAnswer",
  { defaultValue: () => undefined }
)
