import type { BlobStore } from "./BlobStore.ts"
import { loadTree } from "./TreeBlob.ts"

/**
 * Every blob a tree's content lives in: the tree blob itself, then each file stored as a blob of its own. All of
 * them are read and verified on the way, so this throws when any is missing or corrupt.
 */
export const treeBlobRefs = (blobs: BlobStore, treeHash: string): ReadonlyArray<string> => {
  const tree = loadTree(blobs, treeHash)
  const refs = new Set([treeHash])
  for (const entry of tree.manifest.entries) {
    if (entry.type !== "file") continue
    tree.contentOf(entry)
    if (entry.offset === undefined && entry.sha256 !== undefined) refs.add(entry.sha256)
  }
  return [...refs]
}

/** Whether the whole content of a tree can still be rebuilt from the blob store. */
export const treeAvailable = (blobs: BlobStore, treeHash: string): boolean => {
  try {
    treeBlobRefs(blobs, treeHash)
    return true
  } catch {
    return false
  }
}
