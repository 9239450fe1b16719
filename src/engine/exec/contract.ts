import { VeilboxError } from '../../errors/index.js'

/** The one error of the exec area for a broken contract: an engine bug, never the analyst's. */
export function badArgument(detail: string): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_EXEC_BAD_ARGUMENT', detail)
}

/** A short, stable description of an unexpected argument for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (v === undefined) return 'undefined'
  if (ArrayBuffer.isView(v)) return v.constructor.name
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${String(v)}`
}
