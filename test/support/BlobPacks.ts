/**
 * Blob packs seen from the tests: which blobs a ledger holds (pack names differ from one writer to the next, so two
 * ledgers are compared by the blobs they hold), and removing a blob as a pruned store would (a test of what happens
 * when content is gone).
 */
import { randomBytes } from "node:crypto"
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { PACK_MAGIC, packWriter, scanPack } from "../../src/adapters/BlobPack.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"

const packsOf = (blobsDir: string): ReadonlyArray<string> => {
  const dir = Path.join(blobsDir, "packs")
  if (!NodeFs.existsSync(dir)) return []
  return NodeFs.readdirSync(dir).filter((name) => packWriter(name) !== undefined).sort().map((name) => Path.join(dir, name))
}

/** The hashes of every whole record in the packs of `blobsDir` and of every loose blob, sorted, each once. */
export const storedBlobs = (blobsDir: string): ReadonlyArray<string> => {
  const hashes = new Set<string>()
  for (const pack of packsOf(blobsDir)) for (const record of scanPack(nodeFs, pack, 0, Number.MAX_SAFE_INTEGER).records) hashes.add(record.hash)
  const loose = Path.join(blobsDir, "sha256")
  if (NodeFs.existsSync(loose)) {
    for (const shard of NodeFs.readdirSync(loose)) for (const rest of NodeFs.readdirSync(Path.join(loose, shard))) hashes.add(`${shard}${rest}`)
  }
  return [...hashes].sort()
}

/** `snapshotTree`/`listTree` lines without the pack files (named per writer): compare `storedBlobs` instead. */
export const withoutPacks = (lines: ReadonlyArray<string>): ReadonlyArray<string> =>
  lines.filter((line) => !/^file (\S*\/)?ledger\/blobs\/packs\//.test(line))

/**
 * Removes blob `hash` from `blobsDir`: every pack holding it is written again without it under a new name (the old
 * one removed, as a compaction would), and a loose copy is deleted. Returns how many copies went.
 */
export const dropBlob = (blobsDir: string, hash: string): number => {
  let dropped = 0
  for (const pack of packsOf(blobsDir)) {
    const bytes = NodeFs.readFileSync(pack)
    const records = scanPack(nodeFs, pack, 0, Number.MAX_SAFE_INTEGER).records
    if (!records.some((record) => record.hash === hash)) continue
    const kept = records.filter((record) => record.hash !== hash)
    dropped += records.length - kept.length
    const parts = [PACK_MAGIC, ...kept.map((record) => bytes.subarray(record.at, record.offset + record.size + 1))]
    // pid 1 is always running: nobody takes this pack for a dead writer's
    NodeFs.writeFileSync(Path.join(Path.dirname(pack), `1-${randomBytes(6).toString("hex")}.pack`), Buffer.concat(parts))
    NodeFs.rmSync(pack)
  }
  const loose = Path.join(blobsDir, "sha256", hash.slice(0, 2), hash.slice(2))
  if (NodeFs.existsSync(loose)) {
    NodeFs.rmSync(loose)
    dropped++
  }
  return dropped
}
