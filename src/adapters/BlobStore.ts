import { createHash } from "node:crypto"
import * as Path from "node:path"
import { writeFileAtomic } from "./AtomicFile.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

const HASH = /^[0-9a-f]{64}$/

/**
 * Content-addressed blobs under `<blobsDir>/sha256/<ab>/<rest>`. A blob is written durably (temp, fsync,
 * rename, fsync dir) before any event refers to it, and is never rewritten.
 */
export interface BlobStore {
  readonly put: (bytes: Uint8Array) => string
  readonly get: (hash: string) => Buffer
  readonly has: (hash: string) => boolean
  readonly pathOf: (hash: string) => string
}

export const makeBlobStore = (fs: FsPort, blobsDir: string): BlobStore => {
  const pathOf = (hash: string): string => {
    if (!HASH.test(hash)) throw new Error(`not a sha256 blob reference: ${hash}`)
    return Path.join(blobsDir, "sha256", hash.slice(0, 2), hash.slice(2))
  }
  const has = (hash: string): boolean => {
    try {
      return fs.statSync(pathOf(hash)).isFile()
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return false
      throw error
    }
  }
  return {
    pathOf,
    has,
    put: (bytes) => {
      const hash = sha256Hex(bytes)
      if (!has(hash)) {
        const file = pathOf(hash)
        fs.mkdirSync(Path.dirname(file), { recursive: true })
        writeFileAtomic(fs, file, bytes, 0o444)
      }
      return hash
    },
    get: (hash) => {
      const bytes = fs.readFileSync(pathOf(hash))
      // a blob whose bytes do not hash to its name was tampered with; never hand it out
      if (sha256Hex(bytes) !== hash) throw new Error(`blob ${hash} is corrupt`)
      return bytes
    }
  }
}
