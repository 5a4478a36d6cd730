/** `plugin/capabilities` and `plugin/mention` params, checked beyond their wire types. */
import { Effect, Schema } from "effect"
import type { MentionInput } from "../domain/PluginMentions.ts"
import type { ReplayUntil } from "../services/Replay.ts"

const CapabilitiesParams = Schema.Struct({
  cwds: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String))),
  atSeq: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  at: Schema.optionalKey(Schema.NullOr(Schema.String))
})

export const MentionParams = Schema.Struct({
  text: Schema.NullOr(Schema.String),
  items: Schema.NullOr(Schema.Array(Schema.Struct({
    type: Schema.String,
    text: Schema.NullOr(Schema.String),
    path: Schema.NullOr(Schema.String),
    name: Schema.NullOr(Schema.String)
  })))
})

/** The past point asked for (`atSeq` or `at`, an ISO-8601 time), or undefined for the current state. */
export const capabilitiesRequest = (params: unknown): Effect.Effect<ReplayUntil | undefined, string> =>
  Schema.decodeUnknownEffect(CapabilitiesParams)(params).pipe(
    Effect.mapError((e) => `Invalid request: ${e.message}`),
    Effect.flatMap((p): Effect.Effect<ReplayUntil | undefined, string> => {
      const atSeq = p.atSeq ?? null
      const at = p.at ?? null
      if (atSeq !== null && at !== null) return Effect.fail("Invalid request: give `atSeq` or `at`, not both")
      if (atSeq !== null) {
        return atSeq < 1 ? Effect.fail(`Invalid request: \`atSeq\` must be at least 1, got ${atSeq}`) : Effect.succeed<ReplayUntil>({ _tag: "Seq", seq: atSeq })
      }
      if (at !== null) {
        return Number.isNaN(Date.parse(at))
          ? Effect.fail(`Invalid request: \`at\` is not an ISO-8601 time: ${JSON.stringify(at)}`)
          : Effect.succeed<ReplayUntil>({ _tag: "Time", time: at })
      }
      return Effect.succeed(undefined)
    })
  )

/** `text` (scanned for `[@name](plugin://…)` links) and `items` (`{type: "text", text}` or `{type: "mention", path}`). */
export const mentionItems = (p: typeof MentionParams.Type): Effect.Effect<ReadonlyArray<MentionInput>, string> => {
  const items: Array<MentionInput> = p.text === null ? [] : [{ type: "text", text: p.text }]
  for (const [n, item] of (p.items ?? []).entries()) {
    if (item.type === "text" && item.text !== null) items.push({ type: "text", text: item.text })
    else if (item.type === "mention" && item.path !== null) items.push({ type: "mention", path: item.path, name: item.name })
    else if (item.type !== "text" && item.type !== "mention") continue // images, skills: not plugin mentions
    else return Effect.fail(`Invalid request: items[${n}]: a \`${item.type}\` item needs \`${item.type === "text" ? "text" : "path"}\``)
  }
  if (p.text === null && p.items === null) return Effect.fail("Invalid request: give `text` or `items`")
  return Effect.succeed(items)
}
