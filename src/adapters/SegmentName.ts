/** Event log segment file names: `<first seq, 20 digits>.jsonl` under `events/`, so they sort by name. */

const SEGMENT_RE = /^(\d{20})\.jsonl$/

export const segmentName = (firstSeq: number): string => `${String(firstSeq).padStart(20, "0")}.jsonl`

/** The first seq of a segment file name, or `undefined` for any other file. */
export const segmentFirstSeq = (name: string): number | undefined => {
  const digits = SEGMENT_RE.exec(name)?.[1]
  return digits === undefined ? undefined : Number(digits)
}
