import { VeilboxError } from '../errors/index.js'
import type { DatasetSpec } from '../schema.js'

/** Where each schema column sits in the CSV header; refuses missing, repeated and unknown names. */
export function headerOrder(spec: DatasetSpec, header: string[]): number[] {
  const names = header.map((h) => h.trim())
  const known = new Set(spec.columns.map((c) => c.name))
  const seen = new Map<string, number>()
  names.forEach((n, i) => {
    if (seen.has(n)) {
      throw new VeilboxError('VEILBOX_ERR_INGEST_BAD_HEADER', `the header names column "${n}" twice`, { column: n })
    }
    if (!known.has(n)) {
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_BAD_HEADER',
        `the header names column "${n}", which the dataset does not have (it has: ${[...known].join(', ')})`,
        { column: n },
      )
    }
    seen.set(n, i)
  })
  return spec.columns.map((c) => {
    const i = seen.get(c.name)
    if (i === undefined) {
      throw new VeilboxError('VEILBOX_ERR_INGEST_BAD_HEADER', `the header is missing column "${c.name}"`, {
        column: c.name,
      })
    }
    return i
  })
}
