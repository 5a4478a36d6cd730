/**
 * `$CODEX_HOME/ledger/discovery.snapshot`: what discovery read, kept for the next process (see DiscoverySnapshot.ts
 * in services). Reading it never fails (anything wrong reads as no snapshot); writing it is atomic (a temp file
 * beside it, fsynced, renamed over it, the directory fsynced), so a reader sees the old file or the new one whole.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import * as Zlib from "node:zlib"
import { sweepTempFiles, tempPathFor } from "./AtomicFile.ts"
import { decodeSnapshot, type StoredContent } from "./DiscoverySnapshotFormat.ts"
import { nodeFs } from "./FsPort.ts"

export const DISCOVERY_SNAPSHOT_FILE = "discovery.snapshot"

/** A snapshot is a cache: one this large is refused unread (about 30,000 plugins' worth). */
export const MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024

const { O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = NodeFs.constants

const crcOfFiles = (files: ReadonlyArray<string>): string => {
  let crc = 0
  let bytes = 0
  for (const file of files) {
    const content = NodeFs.readFileSync(file)
    crc = Zlib.crc32(content, Zlib.crc32(file, crc))
    bytes += content.length
  }
  return `${crc.toString(16)}-${bytes}`
}

const sourcesOf = (dir: string): ReadonlyArray<string> =>
  NodeFs.readdirSync(dir).filter((name) => name.endsWith(".ts")).sort().map((name) => NodePath.join(dir, name))

let stamp: string | undefined

/**
 * The program whose decoders made the values: the content of the bundle chunk holding this module (which names the
 * chunks it imports by their content hashes), or, run from the TypeScript sources, of every domain, adapter and
 * service source. A snapshot written by another build is not used, so an upgrade never answers with an older
 * decoder's results.
 */
export const codeStamp = (): string => {
  if (stamp !== undefined) return stamp
  const here = fileURLToPath(import.meta.url)
  const src = NodePath.join(NodePath.dirname(here), "..")
  stamp = here.endsWith(".ts")
    ? crcOfFiles(["domain", "adapters", "services"].flatMap((dir) => sourcesOf(NodePath.join(src, dir))))
    : crcOfFiles([here])
  return stamp
}

/** The snapshot at `file` if there is a usable one (see `decodeSnapshot`); never throws. */
export const readSnapshotFile = (file: string, nowMs: number, settleMs: number): StoredContent | undefined => {
  let fd: number | undefined
  try {
    // non-blocking and not through a symlink: a FIFO or a link put there is no snapshot
    fd = NodeFs.openSync(file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW)
    const stat = NodeFs.fstatSync(fd)
    if (!stat.isFile() || stat.size > MAX_SNAPSHOT_BYTES) return undefined
    const bytes = Buffer.allocUnsafe(stat.size)
    let length = 0
    while (length < bytes.length) {
      const read = NodeFs.readSync(fd, bytes, length, bytes.length - length, null)
      if (read === 0) break
      length += read
    }
    return decodeSnapshot(bytes.subarray(0, length), { code: codeStamp(), nowMs, settleMs })
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) NodeFs.closeSync(fd)
  }
}

/**
 * Replaces `file` with `bytes` atomically, off the event loop. Rejects with the fs error (the temp file removed);
 * temp files a crashed writer left beside it are removed first.
 */
export const writeSnapshotFile = async (file: string, bytes: Uint8Array): Promise<void> => {
  sweepTempFiles(nodeFs, file)
  const tmp = tempPathFor(file)
  let renamed = false
  try {
    const handle = await NodeFs.promises.open(tmp, "wx", 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await NodeFs.promises.rename(tmp, file)
    renamed = true
    const dir = await NodeFs.promises.open(NodePath.dirname(file), "r")
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  } finally {
    if (!renamed) await NodeFs.promises.rm(tmp, { force: true })
  }
}
