import type { Dictionary, IdDictionary } from './types.js'

/** Reading a code column's dictionary, whichever form it has (types.ts). */

const decoder = new TextDecoder()

export function isPacked(d: Dictionary): d is IdDictionary {
  return !Array.isArray(d)
}

/** Entry k, or undefined past the end. */
export function entryAt(d: Dictionary, k: number): string | undefined {
  if (!isPacked(d)) return d[k]
  if (!Number.isInteger(k) || k < 0 || k >= d.length) return undefined
  const special = d.special?.get(k)
  if (special !== undefined) return special
  return decoder.decode(d.bytes.subarray(d.offsets[k]!, d.offsets[k + 1]!))
}

/** Every entry as a string: for the few uses that need them all (a join by id, a public table's rows). */
export function entries(d: Dictionary): readonly string[] {
  if (!isPacked(d)) return d
  const out = new Array<string>(d.length)
  for (let k = 0; k < d.length; k++) out[k] = entryAt(d, k)!
  return out
}
