import { ERROR_CODES, type ErrorCode, type ErrorCodeDef } from './codes.js'

export { ERROR_CODES, type ErrorCode, type ErrorCodeDef } from './codes.js'

/**
 * The error every layer throws. `detail` says exactly what to change (for a
 * 4xx); `extra` carries structured fields that the problem+json body exposes
 * (for example `position`, `row`, `column`, `requested`). A 5xx shows its
 * detail and extra fields to the client only if its code is marked
 * `publicDetail` in the registry (codes.ts, `detailIsPublic`); for any other
 * the API answers a fixed sentence per code and logs the real detail.
 */
export class VeilboxError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly extra: Readonly<Record<string, unknown>>
  /** Extra response headers, e.g. Retry-After for backpressure. */
  readonly headers: Readonly<Record<string, string>>

  constructor(
    code: ErrorCode,
    detail: string,
    extra: Record<string, unknown> = {},
    options: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(`${code}: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VeilboxError'
    this.code = code
    this.status = ERROR_CODES[code].status
    this.title = ERROR_CODES[code].title
    this.detail = detail
    this.extra = Object.freeze({ ...extra })
    this.headers = Object.freeze({ ...(options.headers ?? {}) })
  }
}

export function isVeilboxError(e: unknown): e is VeilboxError {
  return e instanceof VeilboxError
}

/**
 * Whether a client may read an error's detail and extra fields: always for a
 * 4xx (it says what to change), and for a 5xx only if its code is marked
 * `publicDetail` in the registry.
 */
export function detailIsPublic(code: ErrorCode): boolean {
  const def: ErrorCodeDef = ERROR_CODES[code]
  return def.status < 500 || def.publicDetail === true
}

/** An error as plain data, to cross a thread (an Error posted between threads loses its code and fields). */
export type ErrorData =
  | { readonly code: ErrorCode; readonly detail: string; readonly extra: Record<string, unknown> }
  | { readonly code: null; readonly detail: string }

export function errorToData(e: unknown): ErrorData {
  if (isVeilboxError(e)) return { code: e.code, detail: e.detail, extra: { ...e.extra } }
  return { code: null, detail: e instanceof Error ? e.message : String(e) }
}

/** The VeilboxError the data describes; anything else becomes `fallback` with its message. */
export function errorFromData(d: ErrorData, fallback: (message: string) => VeilboxError): VeilboxError {
  if (d.code !== null && d.code in ERROR_CODES) return new VeilboxError(d.code, d.detail, d.extra)
  return fallback(d.detail)
}
