/**
 * What a routed call's result must look like (the reference host's result structs): required fields, field types
 * and the enum values the reference refuses to widen (series `status`, link types, author roles, cover sizes, sync
 * and result statuses). A result that passes is handed to the caller as the plugin sent it: unknown fields (a
 * legacy `totalBookCount`, a newer plugin's additions) are kept, not interpreted. `null` counts as absent for an
 * optional field. Pure.
 */
import { Result, Schema } from "effect"

const opt = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))
const Str = Schema.String
const Num = Schema.Number
const Strings = Schema.Array(Str)

const SeriesStatus = Schema.Literals(["ongoing", "ended", "hiatus", "abandoned", "unknown"])
const AuthorRole = Schema.Literals([
  "author", "co_author", "editor", "translator", "illustrator", "contributor",
  "writer", "penciller", "inker", "colorist", "letterer", "cover_artist"
])
const BookAuthor = Schema.Struct({ name: Str, role: opt(AuthorRole), sortName: opt(Str) })
const AlternateTitle = Schema.Struct({ title: Str, language: opt(Str), titleType: opt(Str) })
const ExternalRating = Schema.Struct({ score: Num, voteCount: opt(Num), source: Str })
const ExternalLink = Schema.Struct({
  url: Str,
  label: Str,
  linkType: opt(Schema.Literals(["provider", "official", "social", "purchase", "read", "other"]))
})
const ExternalId = Schema.Struct({ source: Str, externalId: Str })

/** A search hit; old plugins' previews without `format` still pass (conformance 46). */
export const SearchResult = Schema.Struct({
  externalId: Str,
  title: Str,
  alternateTitles: opt(Strings),
  year: opt(Num),
  coverUrl: opt(Str),
  relevanceScore: opt(Num),
  preview: opt(Schema.Struct({
    status: opt(Str),
    genres: opt(Strings),
    rating: opt(Num),
    description: opt(Str),
    bookCount: opt(Num),
    authors: opt(Strings),
    format: opt(Str)
  }))
})

const SearchResponse = Schema.Struct({ results: Schema.Array(SearchResult), nextCursor: opt(Str) })

const metadataFields = {
  externalId: Str,
  externalUrl: Str,
  title: opt(Str),
  alternateTitles: opt(Schema.Array(AlternateTitle)),
  summary: opt(Str),
  year: opt(Num),
  language: opt(Str),
  genres: opt(Strings),
  tags: opt(Strings),
  artists: opt(Strings),
  publisher: opt(Str),
  coverUrl: opt(Str),
  rating: opt(ExternalRating),
  externalRatings: opt(Schema.Array(ExternalRating)),
  externalLinks: opt(Schema.Array(ExternalLink)),
  externalIds: opt(Schema.Array(ExternalId))
}

const SeriesMetadata = Schema.Struct({
  ...metadataFields,
  status: opt(SeriesStatus),
  totalVolumeCount: opt(Num),
  totalChapterCount: opt(Num),
  ageRating: opt(Num),
  readingDirection: opt(Str),
  // series authors may be plain names or structured entries
  authors: opt(Schema.Array(Schema.Union([Str, BookAuthor]))),
  bannerUrl: opt(Str)
})

const BookMetadata = Schema.Struct({
  ...metadataFields,
  subtitle: opt(Str),
  volume: opt(Num),
  chapter: opt(Num),
  pageCount: opt(Num),
  isbns: opt(Strings),
  authors: opt(Schema.Array(BookAuthor)),
  covers: opt(Schema.Array(Schema.Struct({ url: Str, width: opt(Num), height: opt(Num), size: opt(Schema.Literals(["small", "medium", "large"])) }))),
  awards: opt(Schema.Array(Schema.Struct({ name: Str, year: opt(Num), category: opt(Str), won: opt(Schema.Boolean) })))
})

/**
 * `match`: the reference host reads a bare hit or null; the reference SDK answers `{match, confidence,
 * alternatives}`, which that host cannot read (conformance 81). Both are accepted here.
 */
const MatchResult = Schema.Union([
  Schema.Null,
  SearchResult,
  Schema.Struct({ match: Schema.NullOr(SearchResult), confidence: opt(Num), alternatives: opt(Schema.Array(SearchResult)) })
])

const SyncEntry = Schema.Struct({
  externalId: Str,
  status: Schema.Literals(["reading", "completed", "on_hold", "dropped", "plan_to_read"]),
  score: opt(Num),
  title: opt(Str)
})
const SyncEntryResult = Schema.Struct({
  externalId: Str,
  status: Schema.Literals(["created", "updated", "unchanged", "failed"]),
  error: opt(Str)
})
const Recommendation = Schema.Struct({
  externalId: Str,
  title: Str,
  score: Num,
  reason: Str,
  basedOn: opt(Strings),
  inLibrary: opt(Schema.Boolean),
  status: opt(SeriesStatus)
})

const decoder = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (value: unknown): Result.Result<unknown, Schema.SchemaError> => decode(value)
}

const resultSchemas = {
  "metadata/series/search": SearchResponse,
  "metadata/book/search": SearchResponse,
  "metadata/series/get": SeriesMetadata,
  "metadata/book/get": BookMetadata,
  "metadata/series/match": MatchResult,
  "metadata/book/match": MatchResult,
  "sync/getUserInfo": Schema.Struct({ externalId: Str, username: Str, avatarUrl: opt(Str), profileUrl: opt(Str) }),
  "sync/pullProgress": Schema.Struct({ entries: Schema.Array(SyncEntry), nextCursor: opt(Str), hasMore: opt(Schema.Boolean) }),
  "sync/pushProgress": Schema.Struct({ success: Schema.Array(SyncEntryResult), failed: Schema.Array(SyncEntryResult) }),
  "sync/status": Schema.Struct({ lastSyncAt: opt(Str), externalCount: opt(Num), pendingPush: opt(Num), pendingPull: opt(Num), conflicts: opt(Num) }),
  "recommendations/get": Schema.Struct({ recommendations: Schema.Array(Recommendation), generatedAt: opt(Str), cached: opt(Schema.Boolean) }),
  "recommendations/dismiss": Schema.Struct({ dismissed: Schema.Boolean }),
  "recommendations/clear": Schema.Struct({ cleared: Schema.Boolean }),
  "recommendations/updateProfile": Schema.Struct({ updated: Schema.Boolean, entriesProcessed: opt(Num) })
}
const checkers: ReadonlyMap<string, (value: unknown) => Result.Result<unknown, Schema.SchemaError>> = new Map(
  Object.entries(resultSchemas).map(([method, schema]) => [method, decoder(schema)])
)

/** The result unchanged when it has the method's shape, else what is wrong with it (methods not listed pass). */
export const checkResult = (method: string, value: unknown): Result.Result<unknown, string> => {
  const decode = checkers.get(method)
  if (decode === undefined) return Result.succeed(value)
  const decoded = decode(value)
  return Result.isFailure(decoded) ? Result.fail(decoded.failure.message) : Result.succeed(value)
}
