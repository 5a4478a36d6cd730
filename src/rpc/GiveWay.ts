/**
 * Gives the CPU to the client for a moment after a command's answer is written while the command still has work to
 * do (releasing the ledger lock, publishing its records: `EarlyAnswer.ts`).
 *
 * Why: a pipe (or local socket) write wakes the reader as a synchronous wakeup, which the kernel answers by queueing
 * the reader on the writer's CPU, expecting the writer to sleep soon. The command's remaining ~0.3 ms of work kept
 * that CPU, so the client read its answer only after it (measured on the bench's 2-vCPU VM: installs of fresh
 * `serve` processes, paired against the same build without this: 0.94x / 0.95x / 0.96x of the time).
 * Blocking the thread briefly (a futex wait that nothing wakes) lets the client run there first. Node allows this on
 * its main thread; the process does nothing else meanwhile, which costs pipelined clients as long per command.
 */
const GIVE_WAY_MS = 0.1

const parked = new Int32Array(new SharedArrayBuffer(4))

export const giveWay = (): void => {
  Atomics.wait(parked, 0, 0, GIVE_WAY_MS)
}
