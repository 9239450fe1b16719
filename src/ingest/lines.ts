import { isUtf8 } from 'node:buffer'
import { Transform, type Readable } from 'node:stream'
import { VeilboxError } from '../errors/index.js'

/**
 * Reading uploads as bytes, with the bounds no client input may pass:
 *
 * - a line is never longer than `maxLineBytes`. readline builds each line as
 *   one string, and a single line of 600 MiB ended the whole process
 *   (`RangeError: Invalid string length`, thrown where nothing could catch
 *   it); here a line is gathered as buffers and refused with 413 as soon as
 *   it passes the cap, naming the line;
 * - the bytes are valid UTF-8. Decoding replaced invalid bytes with U+FFFD,
 *   so two distinct ids could collapse into one privacy unit; they are
 *   refused instead, naming the line and the byte.
 */
export interface IngestLimits {
  /** Bytes of one line (a CSV record, an NDJSON row, a line of an encrypted upload). */
  readonly maxLineBytes: number
  /** Characters of one field of a data row. */
  readonly maxFieldChars: number
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = Object.freeze({
  maxLineBytes: 16 * 1024 * 1024,
  maxFieldChars: 64 * 1024,
})

export function lineTooLong(line: number, max: number): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_LINE_TOO_LONG',
    `line ${line} is longer than ${max} bytes (VEILBOX_INGEST_MAX_LINE_MB); a missing line break or quote can run rows together. Nothing was stored`,
    { line, maxBytes: max },
  )
}

function badEncoding(line: number, byte: number): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_BAD_ENCODING',
    `line ${line} holds bytes that are not valid UTF-8 (at byte ${byte} of the upload); save the file as UTF-8. Nothing was stored`,
    { line, byte },
  )
}

/** Bytes of an incomplete UTF-8 sequence at the end of `b` (0 to 3), to carry into the next chunk. */
function incompleteTail(b: Uint8Array): number {
  for (let k = 1; k <= Math.min(3, b.length); k++) {
    const c = b[b.length - k]!
    if ((c & 0xc0) !== 0x80) {
      // A lead byte k bytes from the end: is its sequence longer than what is left?
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1
      return need > k ? k : 0
    }
  }
  return 0
}

/** The offset of the first byte of `b` that breaks UTF-8 (`b` known to be invalid). */
function firstInvalid(b: Uint8Array): number {
  let lo = 0
  let hi = b.length
  // The longest valid prefix, by bisection on isUtf8 (a cut inside a sequence is invalid too, so step back over continuations).
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    let cut = mid
    while (cut > 0 && cut < b.length && (b[cut]! & 0xc0) === 0x80) cut--
    if (isUtf8(b.subarray(0, cut))) lo = mid
    else hi = mid - 1
  }
  return lo
}

function countNewlines(b: Uint8Array, end = b.length): number {
  let n = 0
  let i = b.indexOf(0x0a)
  while (i !== -1 && i < end) {
    n++
    i = b.indexOf(0x0a, i + 1)
  }
  return n
}

/**
 * Checks a byte stream's chunks for valid UTF-8 as they come: a sequence
 * split across chunks is carried into the next. `check` returns the bytes
 * known whole (the carried tail waits for its end); `final` says no chunk
 * follows. An invalid byte is refused naming its line and offset.
 */
export class Utf8Checker {
  private carry: Buffer = Buffer.alloc(0)
  private offset = 0
  private lines = 1

  check(chunk: Buffer, final: boolean): Buffer {
    const b = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk
    const tail = final ? 0 : incompleteTail(b)
    const whole = b.subarray(0, b.length - tail)
    if (!isUtf8(whole)) {
      const at = firstInvalid(whole)
      throw badEncoding(this.lines + countNewlines(whole, at), this.offset + at)
    }
    this.lines += countNewlines(whole)
    this.offset += whole.length
    this.carry = Buffer.from(b.subarray(b.length - tail))
    return whole
  }

  /** The bytes still carried: an incomplete sequence at the end is invalid once the stream ends. */
  end(): Buffer {
    return this.carry.length > 0 ? this.check(Buffer.alloc(0), true) : Buffer.alloc(0)
  }
}

/**
 * A pass-through that refuses invalid UTF-8, for parsers that read the bytes
 * themselves (csv-parse): a sequence split across chunks is carried over.
 */
export function utf8Guard(): Transform {
  const checker = new Utf8Checker()
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        done(null, checker.check(chunk, false))
      } catch (err) {
        done(err as Error)
      }
    },
    flush(done) {
      try {
        const rest = checker.end()
        if (rest.length > 0) done(null, rest)
        else done()
      } catch (err) {
        done(err as Error)
      }
    },
  })
}

/**
 * The lines of a byte stream as checked strings (UTF-8, at most
 * `maxLineBytes` each, without the line break; a `\r` before it is dropped),
 * with their 1-based numbers.
 */
export async function* readLines(
  input: Readable,
  maxLineBytes: number,
): AsyncGenerator<{ readonly text: string; readonly line: number }> {
  let parts: Buffer[] = []
  let pending = 0
  let line = 0
  // Offset in the upload of the first byte of the line being gathered.
  let lineStart = 0
  const finish = (last: Buffer): { text: string; line: number } => {
    line += 1
    let bytes = parts.length === 0 ? last : Buffer.concat([...parts, last])
    if (!isUtf8(bytes)) throw badEncoding(line, lineStart + firstInvalid(bytes))
    lineStart += bytes.length + 1
    parts = []
    pending = 0
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1)
    return { text: bytes.toString('utf8'), line }
  }
  for await (const chunk of input) {
    const b: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer)
    let start = 0
    for (;;) {
      const nl = b.indexOf(0x0a, start)
      if (nl === -1) break
      if (pending + (nl - start) > maxLineBytes) throw lineTooLong(line + 1, maxLineBytes)
      yield finish(b.subarray(start, nl))
      start = nl + 1
    }
    if (start < b.length) {
      pending += b.length - start
      if (pending > maxLineBytes) throw lineTooLong(line + 1, maxLineBytes)
      parts.push(b.subarray(start))
    }
  }
  if (pending > 0) yield finish(Buffer.alloc(0))
}
