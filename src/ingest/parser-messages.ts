import type { ErrorCode } from '../errors/codes.js'
import type { ChunkOut } from './columnar.js'

/** What fast.ts sends its parser worker (csv-worker.ts): the upload's bytes in order, then its end. */
export type ToParser = { readonly type: 'bytes'; readonly bytes: Uint8Array } | { readonly type: 'end' }

/** What the parser worker sends back. A refusal ends the worker's part; so does `done`. */
export type FromParser =
  | { readonly type: 'chunks'; readonly chunks: readonly ChunkOut[] }
  | { readonly type: 'consumed'; readonly bytes: number }
  | {
      readonly type: 'done'
      readonly rows: number
      readonly sha256: string
      readonly dictionaries: readonly { column: string; json: string }[]
    }
  | {
      readonly type: 'refused'
      /** A VeilboxError's parts, or (code null) an unexpected failure's text, for the log. */
      readonly error: {
        readonly code: ErrorCode | null
        readonly detail: string
        readonly extra: Record<string, unknown>
      }
    }
