/**
 * A JSON array of strings (as the store keeps a column's dictionary) packed
 * into one UTF-8 byte array and an offset per entry, without a JavaScript
 * string per entry: entry k is bytes[offsets[k]] up to bytes[offsets[k + 1]].
 * Both arrays are over SharedArrayBuffer, so a thread that packs them hands
 * them over without a copy, and a sandbox worker reads them in place.
 *
 * An id column's dictionary holds one entry per unit: ten million ids were
 * 120 MB of JSON read in one statement on the event loop's thread, then ten
 * million strings in its heap, which every later full garbage collection
 * walked (0.8 s each). Packed, they are two arrays the collector never looks
 * into.
 *
 * An entry whose text is not well-formed UTF-16 (a lone surrogate, which
 * JSON can carry as an escape) has no UTF-8 form; it is kept as a string in
 * `special`, with no bytes in the array, so no two entries ever read back
 * the same.
 */
export interface PackedStrings {
  readonly count: number
  readonly bytes: Uint8Array
  /** count + 1 offsets into bytes. */
  readonly offsets: Uint32Array
  /** Entries with no UTF-8 form, by index; null when there are none. */
  readonly special: ReadonlyMap<number, string> | null
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
/** In a `u` expression a surrogate pair is one code point, so this finds only lone surrogates. */
const LONE_SURROGATE = /\p{Cs}/u

function bad(at: number): SyntaxError {
  return new SyntaxError(`a stored dictionary is not a JSON array of strings (at byte ${at})`)
}

/** The closing quote of the string whose opening quote is at i; whether it has escapes. */
function stringEnd(json: Uint8Array, i: number, end: number): { close: number; escaped: boolean } {
  let j = i + 1
  let escaped = false
  for (;;) {
    if (j >= end) throw bad(j)
    const c = json[j]!
    if (c === QUOTE) return { close: j, escaped }
    if (c === BACKSLASH) {
      escaped = true
      j += 2
    } else j += 1
  }
}

/** Entries in the array, and the bytes of their unescaped text at most (escaped ones count their JSON length). */
function measure(json: Uint8Array): { count: number; bytes: number } {
  const end = json.length - 1
  if (json.length < 2 || json[0] !== 0x5b || json[end] !== 0x5d) throw bad(0)
  let count = 0
  let bytes = 0
  let i = 1
  while (i < end) {
    if (json[i] !== QUOTE) throw bad(i)
    const { close } = stringEnd(json, i, end)
    count += 1
    // An escape is never shorter than what it stands for in UTF-8 (\uXXXX: 6 bytes for at most 3).
    bytes += close - i - 1
    i = close + 1
    if (i < end) {
      if (json[i] !== COMMA) throw bad(i)
      i += 1
      if (i >= end) throw bad(i)
    }
  }
  return { count, bytes }
}

/** Packs the JSON array of strings in `json` (UTF-8). Throws SyntaxError on anything else. */
export function packJsonStrings(json: Uint8Array): PackedStrings {
  const { count, bytes: size } = measure(json)
  const bytes = new Uint8Array(new SharedArrayBuffer(Math.max(1, size)), 0, size)
  const offsets = new Uint32Array(new SharedArrayBuffer(4 * (count + 1)))
  let special: Map<number, string> | null = null
  const end = json.length - 1
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const encoder = new TextEncoder()
  let at = 0
  let k = 0
  let i = 1
  while (i < end) {
    const { close, escaped } = stringEnd(json, i, end)
    if (!escaped) {
      bytes.set(json.subarray(i + 1, close), at)
      at += close - i - 1
    } else {
      const text = JSON.parse(decoder.decode(json.subarray(i, close + 1))) as string
      if (!LONE_SURROGATE.test(text)) {
        at += encoder.encodeInto(text, bytes.subarray(at)).written
      } else {
        special ??= new Map()
        special.set(k, text)
      }
    }
    k += 1
    offsets[k] = at
    i = close + 2
  }
  return { count, bytes: bytes.subarray(0, at), offsets, special }
}
