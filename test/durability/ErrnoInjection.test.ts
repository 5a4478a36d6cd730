/**
 * R6, errors from the disk. A scenario (open, install, install of a plugin with a big file, install from a second
 * marketplace, disable, enable, list, history, uninstall, restart, reinstall of both, the second with the spare its
 * staging dir would be removed by hand) runs on FaultFs; every file-system call it makes is attributed to its call
 * site (`file:function` plus the call), and the sites are listed below: the coverage check fails when a new one
 * appears or a listed one is no longer reached. Before the second install of each process the scenario waits for the
 * background settle and the spare inodes made after it (`Projector.settled`, no sleep), so that install builds its
 * tree and config.toml's temp file from spares: their renames, writes, chmods, the settle's fsyncs through the
 * spares' descriptors and their closes are sites too, and so is a marketplace's first install (its cache dir made
 * from a spare) with the spares left; the other commands run back to back, racing the refill as a client's would. Then the scenario runs again with one ENOSPC, EACCES, EIO, EROFS or
 * EMFILE injected (ENOSPC on a write lands half the bytes first). Per commit, every op index gets one code (in turn)
 * and every call site gets all five; under soak every op index gets all five.
 *
 * Checked for every injection: every failed request fails with a typed error (EngineError, or EventLogError when the
 * ledger cannot open), never a defect; after an fsync or fdatasync error the process makes no further write,
 * rename, link, mkdir, chmod or fsync (0 fsync retries) until it restarts; a reopen with the real fs (a new process)
 * finds a log that verifies (no partial record accepted), every acknowledged command's event in it, and projections
 * equal to a fresh replay; retrying the failed command with its key records it at most once.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { nodeTreeFs } from "../../src/adapters/TreeFs.ts"
import { FaultFs, type OpRecord } from "../support/FaultFs.ts"
import { soak } from "../support/Soak.ts"
import {
  appendedNow,
  type Command,
  freshReplay,
  makeWorld,
  openSession,
  projectionOf,
  quietly,
  readLog,
  reboot,
  runCommand,
  scratchDir,
  type Session,
  type World
} from "./World.ts"

const CODES = ["ENOSPC", "EACCES", "EIO", "EROFS", "EMFILE"] as const

/**
 * Every call site the scenario reaches: `<file>:<function> <call>`. A new call site must be added here (and so
 * gets its injections); one that is no longer reached must be removed.
 */
const CALL_SITES: ReadonlyArray<string> = [
  "src/adapters/ActiveSegment.ts:forAppend < src/adapters/LogFile.ts:appendInternal fstatSync",
  "src/adapters/ActiveSegment.ts:forAppend < src/adapters/LogFile.ts:appendInternal openSync",
  "src/adapters/ActiveSegment.ts:statOrUndefined < src/adapters/ActiveSegment.ts:unchanged statIfExists",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/FsyncQueue.ts:fsyncPaths closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/FsyncQueue.ts:settleSlice closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/BlobPack.ts:readRecord closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/BlobPack.ts:scanPack closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/BlobStore.ts:afterSync closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/FileLock.ts:disposeKept closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/ActiveSegment.ts:drop closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/LogSegments.ts:readRange closeSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/LogFile.ts:syncSegment closeSync",
  "src/adapters/AtomicFile.ts:commitStaged < src/services/ProjectionDurability.ts:commitChain renameSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/AtomicFile.ts:writeFileAtomic closeSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/AtomicFile.ts:writeFileAtomic fsyncSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/AtomicFile.ts:writeFileAtomic openSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/LogFile.ts:ensureDir closeSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/LogFile.ts:ensureDir fsyncSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/LogFile.ts:ensureDir openSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/LogFile.ts:openLogFile closeSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/LogFile.ts:openLogFile fsyncSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/adapters/LogFile.ts:openLogFile openSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/services/ProjectionDurability.ts:commitChain closeSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/services/ProjectionDurability.ts:commitChain fsyncSync",
  "src/adapters/AtomicFile.ts:fsyncDir < src/services/ProjectionDurability.ts:commitChain openSync",
  "src/adapters/FsyncQueue.ts:issue < src/adapters/FsyncQueue.ts:makeFsyncQueue fdatasyncAsync",
  "src/adapters/FsyncQueue.ts:issue < src/adapters/FsyncQueue.ts:makeFsyncQueue fsyncAsync",
  "src/adapters/FsyncQueue.ts:issue < src/adapters/FsyncQueue.ts:opened fsyncAsync",
  "src/adapters/AtomicFile.ts:makeDirs < src/adapters/AtomicFile.ts:retireLink mkdirSync",
  "src/adapters/AtomicFile.ts:makeDirs < src/adapters/PackWriter.ts:open mkdirSync",
  "src/adapters/AtomicFile.ts:makeDirs < src/adapters/TreeStaging.ts:buildBeside mkdirSync",
  "src/adapters/AtomicFile.ts:missingDir < src/adapters/AtomicFile.ts:retireLink statSync",
  "src/adapters/FsyncQueue.ts:opened < src/adapters/FsyncQueue.ts:fsyncPaths openSync",
  "src/adapters/FsyncQueue.ts:opened < src/adapters/FsyncQueue.ts:settleSlice openSync",
  "src/adapters/AtomicFile.ts:stageFile closeSync",
  "src/adapters/AtomicFile.ts:stageFile fsyncAsync",
  "src/adapters/AtomicFile.ts:stageFile openSync",
  "src/adapters/AtomicFile.ts:unlinkRetired < src/services/ProjectionDurability.ts:makeProjectionDurability unlinkSync",
  "src/adapters/AtomicFile.ts:writeAll < src/adapters/AtomicFile.ts:stageFile writeSync",
  "src/adapters/AtomicFile.ts:writeAll < src/adapters/AtomicFile.ts:writeFileAtomic writeSync",
  "src/adapters/AtomicFile.ts:writeAll < src/adapters/FileLock.ts:writeTemp writeSync",
  "src/adapters/AtomicFile.ts:writeAll < src/adapters/PackWriter.ts:append writeSync",
  "src/adapters/AtomicFile.ts:writeAll < src/adapters/TreeStaging.ts:buildStaging writeSync",
  "src/adapters/AtomicFile.ts:writeFileAtomic < src/adapters/LogFile.ts:openLogFile closeSync",
  "src/adapters/AtomicFile.ts:writeFileAtomic < src/adapters/LogFile.ts:openLogFile fsyncSync",
  "src/adapters/AtomicFile.ts:writeFileAtomic < src/adapters/LogFile.ts:openLogFile openSync",
  "src/adapters/AtomicFile.ts:writeFileAtomic < src/adapters/LogFile.ts:openLogFile renameSync",
  "src/adapters/BlobPack.ts:readAt < src/adapters/BlobPack.ts:bytesAt readSync",
  "src/adapters/BlobPack.ts:readAt < src/adapters/BlobPack.ts:readRecord readSync",
  "src/adapters/BlobPack.ts:readRecord < src/adapters/BlobStore.ts:get openSync",
  "src/adapters/BlobPack.ts:scanPack < src/adapters/PackIndex.ts:scan fstatSync",
  "src/adapters/BlobPack.ts:scanPack < src/adapters/PackIndex.ts:scan openSync",
  "src/adapters/BlobStore.ts:looseHas < src/adapters/BlobStore.ts:has statSync",
  "src/adapters/BlobStore.ts:opened < src/adapters/BlobStore.ts:settle openSync",
  "src/adapters/ConfigObservationFile.ts:observeConfig < src/services/Engine.ts:observeNow readFileSync",
  "src/adapters/FileLock.ts:disposeKept < src/services/EventLog.ts:makeFileEventLog unlinkSync",
  "src/adapters/FileLock.ts:releaseLock < src/adapters/LockAcquisition.ts:releaseLockResult unlinkSync",
  "src/adapters/FileLock.ts:removeOrphans < src/adapters/LockAcquisition.ts:sweep readdirSync",
  "src/adapters/FileLock.ts:stillHeld < src/adapters/FileLock.ts:releaseLock statSync",
  "src/adapters/FileLock.ts:tryAcquireLock < src/adapters/LockAcquisition.ts:tryOnce linkSync",
  "src/adapters/FileLock.ts:writeTemp < src/adapters/FileLock.ts:tryAcquireLock fstatSync",
  "src/adapters/FileLock.ts:writeTemp < src/adapters/FileLock.ts:tryAcquireLock openSync",
  "src/adapters/FsQueries.ts:isDirectory < src/services/PluginListing.ts:hasActiveVersion statSync",
  "src/adapters/FsQueries.ts:isDirectory < src/services/Engine.ts:isDirectory statSync",
  "src/adapters/FsQueries.ts:readBytesOrEmpty < src/services/Engine.ts:readConfigUnderLock readFileSync",
  "src/adapters/FsQueries.ts:readTextOrEmpty < src/services/InstallPlan.ts:configText readFileSync",
  "src/adapters/FsQueries.ts:readTextOrEmpty < src/services/Projector.ts:readConfig readFileSync",
  "src/adapters/LogFile.ts:appendInternal < src/services/EventLog.ts:underLock fdatasyncSync",
  "src/adapters/LogFile.ts:appendInternal < src/services/EventLog.ts:underLock statSync",
  "src/adapters/LogFile.ts:appendInternal < src/services/EventLog.ts:underLock writeSync",
  "src/adapters/LogFile.ts:ensureDir < src/adapters/LogFile.ts:openLogFile mkdirSync",
  "src/adapters/LogFile.ts:ensureDir < src/adapters/LogFile.ts:openLogFile statSync",
  "src/adapters/LogFile.ts:ensureDir < src/services/EventLog.ts:makeFileEventLog mkdirSync",
  "src/adapters/LogFile.ts:ensureDir < src/services/EventLog.ts:makeFileEventLog statSync",
  "src/adapters/LogSegments.ts:listSegments < src/adapters/LogFile.ts:catchUpInternal readdirSync",
  "src/adapters/LogSegments.ts:listSegments < src/adapters/LogFile.ts:openLogFile readdirSync",
  "src/adapters/LogSegments.ts:readRange < src/adapters/LogFile.ts:catchUpInternal fstatSync",
  "src/adapters/LogSegments.ts:readRange < src/adapters/LogFile.ts:catchUpInternal openSync",
  "src/adapters/LogSegments.ts:readRange < src/adapters/LogFile.ts:catchUpInternal readSync",
  "src/adapters/LogFile.ts:syncSegment < src/adapters/LogFile.ts:catchUpInternal fsyncSync",
  "src/adapters/LogFile.ts:syncSegment < src/adapters/LogFile.ts:catchUpInternal openSync",
  "src/adapters/TreeStaging.ts:buildBeside < src/adapters/TreeStaging.ts:prepareTree lstatIfExists",
  "src/adapters/TreeStaging.ts:buildBeside < src/adapters/TreeStaging.ts:prepareTree mkdirSync",
  "src/adapters/TreeStaging.ts:buildStaging < src/adapters/TreeStaging.ts:buildBeside chmodSync",
  "src/adapters/TreeStaging.ts:buildStaging < src/adapters/TreeStaging.ts:buildBeside closeSync",
  "src/adapters/TreeStaging.ts:buildStaging < src/adapters/TreeStaging.ts:buildBeside fstatSync",
  "src/adapters/TreeStaging.ts:buildStaging < src/adapters/TreeStaging.ts:buildBeside lstatSync",
  "src/adapters/TreeStaging.ts:buildStaging < src/adapters/TreeStaging.ts:buildBeside openSync",
  "src/adapters/TreeStaging.ts:ensureDir < src/adapters/TreeStaging.ts:buildStaging mkdirSync",
  "src/adapters/TreeStaging.ts:mkdirUnlessParentMissing < src/adapters/TreeStaging.ts:buildBeside mkdirSync",
  "src/adapters/TreeStaging.ts:removeIfPresent < src/adapters/PluginTree.ts:removeTree rmSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/ReadRegularFile.ts:readRegularFile closeSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/ReadRegularFile.ts:readRegularFile fstatSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/ReadRegularFile.ts:readRegularFile openNonBlockingSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/ReadRegularFile.ts:readRegularFile readSync",
  "src/adapters/ReadRegularFile.ts:readRegularFile < src/services/InstallPlan.ts:readFile statSync",
  "src/adapters/DirDescriptors.ts:openCheckedDir < src/adapters/DirDescriptors.ts:readFileBelow openDirSync",
  "src/adapters/DirDescriptors.ts:openCheckedDir < src/adapters/DirDescriptors.ts:readFileBelow readlinkSync",
  "src/adapters/DirDescriptors.ts:readFileBelow < src/services/InstallPlan.ts:readPlainFile openDirSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/DirDescriptors.ts:readFileBelow closeSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/DirDescriptors.ts:readFileBelow closeSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/DirDescriptors.ts:readFileBelow fstatSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/DirDescriptors.ts:readFileBelow openNoFollowSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/DirDescriptors.ts:readFileBelow readSync",
  "src/adapters/DirDescriptors.ts:openCheckedDir < src/adapters/TreeBlob.ts:readSource openDirSync",
  "src/adapters/DirDescriptors.ts:openCheckedDir < src/adapters/TreeBlob.ts:readSource readlinkSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/TreeBlob.ts:readSource closeSync",
  "src/adapters/TreeBlob.ts:walkAt < src/adapters/TreeBlob.ts:walk readdirEntriesSync",
  "src/adapters/DirDescriptors.ts:openDirBelow < src/adapters/TreeBlob.ts:walkAt openDirSync",
  "src/adapters/TreeBlob.ts:walkAt < src/adapters/TreeBlob.ts:walk fstatSync",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/TreeBlob.ts:walkAt closeSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/TreeBlob.ts:readFile closeSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/TreeBlob.ts:readFile fstatSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/TreeBlob.ts:readFile openNoFollowSync",
  "src/adapters/ReadFileOnce.ts:readFileOnce < src/adapters/TreeBlob.ts:readFile readSync",
  "src/adapters/FsQueries.ts:readTextOrEmpty < src/services/PluginListing.ts:readListingConfig readFileSync",
  "src/adapters/PackIndex.ts:refresh < src/adapters/PackIndex.ts:locate readdirSync",
  "src/adapters/PackWriter.ts:create < src/adapters/PackWriter.ts:open openSync",
  "src/adapters/PackWriter.ts:open < src/adapters/PackWriter.ts:append openSync",
  "src/services/InstallPlan.ts:resolveInstallPlan < src/services/InstallPreparation.ts:prepareInstall realpathSync",
  "src/services/InstallPlan.ts:walkBelow < src/services/InstallPlan.ts:resolveInstallPlan lstatSync",
  "src/services/ProjectionCheckpoint.ts:readCheckpoint < src/services/ProjectionDurability.ts:commitChain readFileSync",
  "src/services/ProjectionCheckpoint.ts:readCheckpoint < src/services/Projector.ts:readDisk readFileSync",
  "src/services/ProjectionCheckpoint.ts:readCheckpoint < src/services/Projector.ts:diskCheckpoint readFileSync",
  "src/services/ProjectionDurability.ts:exists < src/services/ProjectionDurability.ts:commitChain statSync",
  "src/adapters/TreeStaging.ts:ensureDir < src/adapters/TreeStaging.ts:buildStaging lstatSync",
  "src/adapters/AtomicFile.ts:commitStaged < src/services/Projector.ts:commitProjection renameSync",
  "src/adapters/AtomicFile.ts:makeDirs < src/services/Projector.ts:planProjection mkdirSync",
  "src/adapters/AtomicFile.ts:retireLink < src/services/Projector.ts:commitProjection linkSync",
  "src/adapters/AtomicFile.ts:sweepRetired < src/services/Projector.ts:planProjection readdirSync",
  "src/adapters/AtomicFile.ts:sweepTempFiles < src/services/Projector.ts:planProjection readdirSync",
  "src/adapters/PluginTree.ts:isDirectory < src/adapters/PluginTree.ts:swapInPrepared lstatSync",
  "src/adapters/TreeStaging.ts:removeIfPresent < src/adapters/PluginTree.ts:swapIn rmSync",
  "src/adapters/PluginTree.ts:removeTree < src/services/Projector.ts:projectCacheNow renameSync",
  "src/adapters/PluginTree.ts:swapIn < src/adapters/PluginTree.ts:swapInPrepared lstatIfExists",
  "src/adapters/PluginTree.ts:swapIn < src/adapters/PluginTree.ts:swapInPrepared renameSync",
  "src/adapters/PluginTree.ts:sweepLeftovers < src/services/Projector.ts:planProjection lstatSync",
  "src/adapters/PluginTree.ts:sweepLeftovers < src/services/Projector.ts:planProjection readdirSync",
  "src/adapters/SparePool.ts:makeOne fstatSync",
  "src/adapters/SparePool.ts:moved < src/adapters/SparePool.ts:takeSpareFile renameSync",
  "src/adapters/SparePool.ts:takeFile < src/adapters/AtomicFile.ts:stageFile fchmodSync (a spare's descriptor)",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/SparePool.ts:closeWaiting closeSync (a spare's descriptor)",
  "src/adapters/SparePool.ts:makeOne lstatSync",
  "src/adapters/SparePool.ts:makeOne mkdirSync",
  "src/adapters/SparePool.ts:makeOne openSync",
  "src/adapters/SparePool.ts:sweep < src/adapters/SparePool.ts:try readdirSync",
  "src/adapters/SparePool.ts:try mkdirSync",
  // built from spares (the scenario's Settle steps): a spare directory moved in, a spare file written, chmodded,
  // fsynced by the settle and closed through the descriptor it was made with
  "src/adapters/SparePool.ts:moved < src/adapters/SparePool.ts:takeSpareDir renameSync",
  // a spare dir that is gone (removed by hand): the take looks whether it is still there
  "src/adapters/SparePool.ts:exists < src/adapters/SparePool.ts:moved lstatSync",
  "src/adapters/AtomicFile.ts:writeAll < src/adapters/TreeStaging.ts:buildStaging writeSync (a spare's descriptor)",
  "src/adapters/TreeStaging.ts:buildStaging < src/adapters/TreeStaging.ts:buildBeside fchmodSync (a spare's descriptor)",
  "src/adapters/FsyncQueue.ts:issue < src/adapters/FsyncQueue.ts:makeFsyncQueue fsyncAsync (a spare's descriptor)",
  "src/adapters/AtomicFile.ts:closeQuietly < src/adapters/SparePool.ts:release closeSync (a spare's descriptor)",
  "src/adapters/AtomicFile.ts:writeAll < src/adapters/AtomicFile.ts:stageFile writeSync (a spare's descriptor)",
  "src/adapters/AtomicFile.ts:stageFile fsyncAsync (a spare's descriptor)",
  "src/adapters/AtomicFile.ts:stageFile closeSync (a spare's descriptor)"
]

type Step =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Restart" }
  | { readonly _tag: "List" }
  | { readonly _tag: "History" }
  /** waits for the background settle and the spare inodes made after it: the next install builds from spares */
  | { readonly _tag: "Settle" }
  /** removes the spare directory the next take picks (the newest), as a hand clean-up of `ledger/spare` would */
  | { readonly _tag: "DropSpare" }
  /** `elsewhere`: from a second marketplace (`other`), whose cache dir does not exist before */
  | { readonly _tag: "Command"; readonly command: Command; readonly key: string; readonly elsewhere?: true }

const SCENARIO: ReadonlyArray<Step> = [
  { _tag: "Open" },
  { _tag: "Command", command: { _tag: "Install", plugin: "alpha" }, key: "k-install-alpha" },
  // gamma's tree (staging dir, dirs, files, its big file too), config.toml's and the lock's temp files from spares
  { _tag: "Settle" },
  { _tag: "Command", command: { _tag: "Install", plugin: "gamma" }, key: "k-install-gamma" },
  // a marketplace's first install, spares left: its cache dir is found missing first, and taken from the spares
  { _tag: "Command", command: { _tag: "Install", plugin: "beta" }, key: "k-install-beta-other", elsewhere: true },
  { _tag: "Command", command: { _tag: "Disable", plugin: "alpha" }, key: "k-disable-alpha" },
  { _tag: "Command", command: { _tag: "Enable", plugin: "alpha" }, key: "k-enable-alpha" },
  { _tag: "List" },
  { _tag: "History" },
  { _tag: "Command", command: { _tag: "Uninstall", plugin: "gamma" }, key: "k-uninstall-gamma" },
  { _tag: "Restart" },
  // its big file is in the first process's pack: found by a scan, made durable by an fsync of that pack
  { _tag: "Command", command: { _tag: "Install", plugin: "gamma" }, key: "k-reinstall-gamma" },
  // the new process's own spares: alpha's tree replaces the old one, built from them (its executable and its 0750
  // dir chmodded through the spare's descriptor and by path)
  { _tag: "Settle" },
  // the spare its staging dir would be is gone: the take finds that out, and the dir is made instead
  { _tag: "DropSpare" },
  { _tag: "Command", command: { _tag: "Install", plugin: "alpha" }, key: "k-reinstall-alpha" }
]

/**
 * A spare file is written, chmodded, fsynced and closed through the descriptor it was made with (`SparePool.ts`),
 * by the same code that does so for files opened by path: those ops are sites of their own (what fails is another
 * file's descriptor, held across the answer until the settle).
 */
const SPARE_FILE = /[\\/]ledger[\\/]spare[\\/]f-[^\\/]*$/
const THROUGH_DESCRIPTOR = new Set(["writeSync", "fchmodSync", "fsyncAsync", "closeSync"])
const siteOf = (op: OpRecord): string => {
  const spare = THROUGH_DESCRIPTOR.has(op.kind) && op.path !== undefined && SPARE_FILE.test(op.path)
  return `${op.site ?? "?"} ${op.kind}${spare ? " (a spare's descriptor)" : ""}`
}

const FSYNCS = new Set(["fsyncSync", "fdatasyncSync", "fsyncAsync"])
const WRITES = new Set(["writeSync", "ftruncateSync", "renameSync", "linkSync", "mkdirSync", "chmodSync", "fchmodSync", ...FSYNCS])
const writes = (op: OpRecord): boolean =>
  WRITES.has(op.kind) || (op.kind === "openSync" && op.flags !== undefined && op.flags !== "r")

interface Outcome {
  readonly problems: ReadonlyArray<string>
  /** whether the request during which the fault fired still succeeded (the error was absorbed) */
  readonly absorbed: boolean
  readonly fired: OpRecord | undefined
}

const isTyped = (cause: Cause.Cause<unknown>): boolean =>
  !Cause.hasDies(cause) && cause.reasons.every((reason) => {
    if (!Cause.isFailReason(reason)) return true
    const error: unknown = reason.error
    return typeof error === "object" && error !== null && "_tag" in error &&
      (error._tag === "EngineError" || error._tag === "EventLogError")
  })

/** Runs the scenario on `fs` (fault armed or not); returns the problems found. */
/** `makeWorld`, plus a second marketplace (`other`, beside the repo) offering beta */
const makeScenarioWorld = (dir: string): World => {
  const world = makeWorld(dir)
  const root = Path.join(world.root, "other")
  const beta = Path.join(root, "plugins", "beta")
  NodeFs.cpSync(Path.join(world.root, "repo", "plugins", "beta"), beta, { recursive: true })
  NodeFs.mkdirSync(Path.join(root, ".agents", "plugins"), { recursive: true })
  NodeFs.writeFileSync(Path.join(root, ".agents", "plugins", "marketplace.json"), JSON.stringify({
    name: "other",
    plugins: [{ name: "beta", source: { source: "local", path: "./plugins/beta" } }]
  }))
  return world
}
const worldOf = (world: World, step: { readonly elsewhere?: true }): World =>
  step.elsewhere === true ? { ...world, marketplacePath: Path.join(world.root, "other", ".agents", "plugins", "marketplace.json") } : world

const runScenario = (world: World, fs: FaultFs): Effect.Effect<Outcome, unknown> =>
  Effect.gen(function*() {
    const problems: Array<string> = []
    const acked: Array<{ readonly key: string; readonly recorded: boolean }> = []
    let failedCommand: { readonly command: Command; readonly key: string; readonly world: World } | undefined
    let session: Session | undefined
    let firedIn: { readonly step: number; readonly ok: boolean } | undefined
    /** ops of the first process end here (the restart step starts a new one) */
    let firstProcessEnd = Number.POSITIVE_INFINITY
    /** a closed session closed every descriptor it opened (spares' and trees' kept ones included), whatever failed */
    const noneLeftOpen = (when: string): void => {
      if (fs.openFds.length > 0) problems.push(`descriptors left open ${when}: ${fs.openFds.slice(0, 3).join(", ")}`)
    }
    for (const [i, step] of SCENARIO.entries()) {
      const before = fs.fired.length
      let exit: Exit.Exit<unknown, unknown>
      if (step._tag === "Open" || step._tag === "Restart") {
        if (step._tag === "Restart") {
          if (session !== undefined) yield* session.close
          noneLeftOpen("at the restart")
          firstProcessEnd = fs.ops
          fs.restart()
        }
        const opened = yield* Effect.exit(openSession(world.paths, fs))
        session = Exit.isSuccess(opened) ? opened.value : undefined
        exit = opened
      } else if (session === undefined) {
        continue
      } else if (step._tag === "List") {
        exit = yield* Effect.exit(session.engine.list({ cwds: [Path.join(world.root, "repo")], forceRemoteSync: false }))
      } else if (step._tag === "History") {
        exit = yield* Effect.exit(session.engine.history({}))
      } else if (step._tag === "Settle") {
        exit = yield* Effect.exit(session.settled)
      } else if (step._tag === "DropSpare") {
        const spareDir = Path.join(world.paths.ledgerDir, "spare")
        const newest = NodeFs.readdirSync(spareDir).filter((name) => name.startsWith("d-")).sort().at(-1)
        if (newest === undefined) problems.push(`step ${i}: no spare directory to remove`)
        else NodeFs.rmdirSync(Path.join(spareDir, newest))
        continue
      } else {
        exit = yield* Effect.exit(runCommand(session.engine, worldOf(world, step), step.command, step.key))
        if (Exit.isSuccess(exit)) acked.push({ key: step.key, recorded: appendedNow(world.paths, step.key) })
        else failedCommand ??= { command: step.command, key: step.key, world: worldOf(world, step) }
      }
      if (Exit.isFailure(exit) && !isTyped(exit.cause)) {
        problems.push(`step ${i} (${step._tag}) failed untyped: ${Cause.pretty(exit.cause).split("\n").slice(0, 3).join(" / ")}`)
      }
      if (firedIn === undefined && fs.fired.length > before) firedIn = { step: i, ok: Exit.isSuccess(exit) }
    }
    if (session !== undefined) yield* session.close
    noneLeftOpen("at the end")
    const fired = fs.fired[0]
    // 0 fsync retries: once a failed fsync was reported, the process wrote nothing more (until the restart); an
    // fsync on the thread pool reports a turn later, and the writes issued meanwhile were already under way
    if (fired !== undefined && FSYNCS.has(fired.kind)) {
      const known = fs.deliveredAt.get(fired.index) ?? fired.index + 1
      const after = fs.trace.filter((op) => op.index >= known && op.index < firstProcessEnd && writes(op))
      if (after.length > 0) problems.push(`after the failed ${fired.kind} the process still made ${after.length} writes: ${after.slice(0, 3).map(siteOf).join(", ")}`)
    }
    // a new process on the real disk
    fs.restart()
    reboot()
    const reopened = yield* Effect.exit(openSession(world.paths, nodeTreeFs))
    if (Exit.isFailure(reopened)) {
      problems.push(`reopen failed: ${Cause.pretty(reopened.cause).split("\n")[0]}`)
      return { problems, absorbed: false, fired }
    }
    yield* reopened.value.close
    const log = readLog(world.paths)
    if (!log.verify.ok) problems.push(`log does not verify: ${log.verify.problems.join("; ")}`)
    const ids = new Set(log.records.map((r) => r.id))
    for (const a of acked) {
      if (a.recorded && !ids.has(`${a.key}:0`)) problems.push(`acknowledged ${a.key} is not in the log`)
    }
    const projection = projectionOf(world.paths)
    const replayed = yield* Effect.exit(freshReplay(world))
    if (Exit.isFailure(replayed)) return { problems: [...problems, `the replay of the log failed: ${Cause.pretty(replayed.cause).split("\n")[0]}`], absorbed: false, fired }
    const replay = replayed.value
    if (JSON.stringify(projection) !== JSON.stringify(replay)) {
      problems.push(`projection differs from the replay:\n${JSON.stringify(projection)}\n--- replay:\n${JSON.stringify(replay)}`)
    }
    if (failedCommand !== undefined) {
      const retry = yield* Effect.exit(openSession(world.paths, nodeTreeFs))
      if (Exit.isFailure(retry)) return { problems: [...problems, "reopen for the retry failed"], absorbed: false, fired }
      const exit = yield* Effect.exit(runCommand(retry.value.engine, failedCommand.world, failedCommand.command, failedCommand.key))
      yield* retry.value.close
      if (Exit.isFailure(exit) && !isTyped(exit.cause)) problems.push(`retry of ${failedCommand.key} failed untyped`)
      const after = readLog(world.paths)
      if (!after.verify.ok) problems.push(`log does not verify after the retry: ${after.verify.problems.join("; ")}`)
    }
    return { problems, absorbed: firedIn?.ok === true, fired }
  })

describe("R6 errno injection", () => {
  it.live("every call site of the scenario is listed, and each error at each of them is handled", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDir("errno")
      // the dry run: every op, with its call site
      const world = makeScenarioWorld(dir)
      const dry = new FaultFs({ root: world.paths.codexHome, recordSites: true })
      const clean = yield* runScenario(world, dry)
      assert.deepStrictEqual(clean.problems, [], "the scenario passes without faults")
      const trace = [...dry.trace]
      const reached = [...new Set(trace.map(siteOf))].sort()
      const unlisted = reached.filter((site) => !CALL_SITES.includes(site))
      const unreached = CALL_SITES.filter((site) => !reached.includes(site))
      if (unlisted.length > 0 || unreached.length > 0) {
        console.log(`[ErrnoInjection] call sites reached:\n${reached.map((s) => `  ${JSON.stringify(s)},`).join("\n")}`)
      }
      assert.deepStrictEqual({ unlisted, unreached }, { unlisted: [], unreached: [] }, "CALL_SITES is the list of call sites reached")
      assert.deepStrictEqual(CALL_SITES.filter((site, i) => CALL_SITES.indexOf(site) !== i), [], "CALL_SITES lists each site once")

      // the injections: per commit one code per op (in turn) plus every code at each site's first op; soak: all
      const firstOfSite = new Map<string, number>()
      for (const op of trace) if (!firstOfSite.has(siteOf(op))) firstOfSite.set(siteOf(op), op.index)
      const plan: Array<{ readonly index: number; readonly code: string }> = []
      for (const op of trace) {
        for (const [c, code] of CODES.entries()) {
          if (soak || c === op.index % CODES.length || firstOfSite.get(siteOf(op)) === op.index) plan.push({ index: op.index, code })
        }
      }
      const failures: Array<string> = []
      const covered = new Map<string, Set<string>>()
      const absorbedAt = new Set<string>()
      /** a run that waits (for the lock, say) is a finding too */
      const slow: Array<string> = []
      for (const { index, code } of plan) {
        const run = makeScenarioWorld(dir)
        const fs = new FaultFs({ root: run.paths.codexHome, recordTrace: true })
        fs.failAt(index, code)
        const started = Date.now()
        const outcome = yield* runScenario(run, fs)
        if (Date.now() - started > 2_000) slow.push(`${code} at op ${index}: ${Date.now() - started} ms`)
        const where = `${code} at op ${index} (${trace[index] === undefined ? "?" : siteOf(trace[index])})`
        if (outcome.fired === undefined) failures.push(`${where}: never fired (the scenario is not deterministic)`)
        else {
          const site = siteOf(outcome.fired)
          if (trace[index] !== undefined && site !== siteOf(trace[index])) failures.push(`${where}: fired at ${site} instead`)
          covered.set(site, (covered.get(site) ?? new Set()).add(code))
          if (outcome.absorbed) absorbedAt.add(site)
        }
        for (const problem of outcome.problems) failures.push(`${where}: ${problem}`)
        if (failures.length >= 10 || slow.length >= 3) break
      }
      const fullyCovered = reached.filter((site) => covered.get(site)?.size === CODES.length)
      console.log(`[ErrnoInjection] ${JSON.stringify({
        ops: trace.length,
        callSites: reached.length,
        sitesWithAllFiveCodes: fullyCovered.length,
        injections: plan.length,
        absorbedAtSites: absorbedAt.size
      })}`)
      console.log(`[ErrnoInjection] sites where an error is absorbed (the request still succeeds, correctly): ${[...absorbedAt].sort().join(", ")}`)
      assert.deepStrictEqual(failures, [])
      assert.deepStrictEqual(slow, [], "no run waits")
      assert.deepStrictEqual(reached.filter((site) => !fullyCovered.includes(site)), [], "every call site got every code")
    }).pipe(quietly), { timeout: soak ? 3_600_000 : 300_000 })
})
