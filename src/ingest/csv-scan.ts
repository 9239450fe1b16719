import { VeilboxError } from '../errors/index.js'
import { lineTooLong } from './lines.js'

/**
 * CSV records found in bytes, without making a string of anything: each
 * record is handed to a sink as field offsets into a buffer, and the sink
 * reads the bytes it needs. This is the ingest fast path's tokenizer
 * (docs/performance.md, "Ingest"); csv-parse made a string of every field
 * and an object of every record, and that alone held ingest to a tenth of
 * PostgreSQL COPY's pace.
 *
 * The dialect is RFC 4180 as csv-parse reads it with veilbox's options: a
 * comma between fields; records end with LF or CRLF (a CR before the LF is
 * not data); a field is quoted with `"` and a quote inside it is doubled;
 * a field that starts unquoted may not hold a quote; after a closing quote
 * only a comma or the record's end may come; empty lines are skipped; a
 * UTF-8 byte order mark at the start is dropped. The caller checks the
 * bytes are UTF-8 (lines.ts Utf8Checker) before they reach the scanner.
 *
 * A record may span chunks: it is scanned again, whole, once enough bytes
 * arrived, and a record is never longer than `maxRecordBytes` (refused
 * with 413 as soon as its bytes pass the cap). Rescans wait for the record's
 * bytes to double, so a long record costs linear time, not quadratic.
 */

/** A field was quoted; its bytes exclude the quotes. */
export const FIELD_QUOTED = 1
/** The quoted field holds doubled quotes: its value is its bytes with each `""` made `"`. */
export const FIELD_ESCAPED = 2

export interface RecordSink {
  /**
   * One record: field i is bytes [starts[i], ends[i]) of `buf` with flags[i]
   * (FIELD_QUOTED, FIELD_ESCAPED); `line` is the 1-based line it ends on.
   * The arrays and buffer are reused after the call returns.
   */
  record(buf: Buffer, fields: number, starts: Int32Array, ends: Int32Array, flags: Uint8Array, line: number): void
}

const COMMA = 0x2c
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22
/** The bytes that end or break an unquoted field: one load per byte instead of four comparisons. */
const SPECIAL = new Uint8Array(256)
for (const b of [COMMA, LF, CR, QUOTE]) SPECIAL[b] = 1

function malformed(line: number, what: string): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_INGEST_MALFORMED', `the CSV cannot be parsed near line ${line}: ${what}`, {
    line,
  })
}

export class CsvScanner {
  /** Bytes received and not yet scanned, after the kept bytes. */
  private queued: Buffer[] = []
  private queuedBytes = 0
  /** The incomplete record's bytes (and, before the first scan, the first few bytes), at [0, keptBytes). */
  private kept = Buffer.alloc(0)
  private keptBytes = 0
  /** An incomplete record waits for this many bytes before it is scanned again. */
  private waitFor = 0
  /** Line of the next record's first byte. */
  private line = 1
  private first = true
  private starts = new Int32Array(16)
  private ends = new Int32Array(16)
  private flags = new Uint8Array(16)

  constructor(
    private readonly sink: RecordSink,
    private readonly maxRecordBytes: number,
  ) {}

  /** More bytes (UTF-8, checked). Records they complete reach the sink before this returns. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.queued.push(chunk)
    this.queuedBytes += chunk.length
    const waiting = this.keptBytes + this.queuedBytes
    // Scanned again once the incomplete record's bytes have doubled, or could be past the cap.
    if (waiting < this.waitFor && waiting <= this.maxRecordBytes) return
    this.scan(false)
  }

  /** The end of the input: the last record needs no line break. */
  end(): void {
    this.scan(true)
  }

  /**
   * The bytes to scan: a chunk as it came when nothing is kept, else the
   * kept bytes and the queued chunks in one buffer that is reused, so that
   * a record across chunks does not cost a new buffer each time.
   */
  private gather(): Buffer {
    if (this.keptBytes === 0 && this.queued.length === 1) return this.queued[0]!
    const total = this.keptBytes + this.queuedBytes
    if (total > this.kept.length) {
      const bigger = Buffer.allocUnsafe(Math.max(total, this.kept.length * 2, 64 * 1024))
      this.kept.copy(bigger, 0, 0, this.keptBytes)
      this.kept = bigger
    }
    let at = this.keptBytes
    for (const c of this.queued) at += c.copy(this.kept, at)
    return this.kept.subarray(0, total)
  }

  private scan(final: boolean): void {
    const buf = this.gather()
    this.queued = []
    this.queuedBytes = 0
    let p = 0
    if (this.first) {
      if (buf.length < 3 && !final) {
        this.keep(buf, 0)
        this.waitFor = 3
        return
      }
      this.first = false
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) p = 3
    }
    const len = buf.length
    while (p < len) {
      const next = this.record(buf, p, len, final)
      if (next < 0) break
      p = next
    }
    if (p >= len) {
      this.keptBytes = 0
      this.waitFor = 0
      return
    }
    // An incomplete record: keep its bytes, and scan it again when they have doubled.
    const rest = len - p
    if (rest > this.maxRecordBytes) throw lineTooLong(this.line, this.maxRecordBytes)
    this.keep(buf, p)
    this.waitFor = Math.max(rest * 2, 64 * 1024)
  }

  /** Keeps buf[p, end) at the start of `kept` (buf may be `kept` itself). */
  private keep(buf: Buffer, p: number): void {
    const rest = buf.length - p
    if (buf.buffer === this.kept.buffer && buf.byteOffset === this.kept.byteOffset) {
      this.kept.copyWithin(0, p, buf.length)
    } else {
      if (rest > this.kept.length) this.kept = Buffer.allocUnsafe(Math.max(rest, 64 * 1024))
      buf.copy(this.kept, 0, p)
    }
    this.keptBytes = rest
  }

  /**
   * Scans the record at `p`. Returns the offset after it, or -1 when the
   * bytes end before it does (not final): nothing was handed on then.
   */
  private record(buf: Buffer, p: number, len: number, final: boolean): number {
    const start = p
    let line = this.line
    let n = 0
    for (;;) {
      if (n === this.starts.length) this.grow()
      let c = p < len ? buf[p]! : -1
      if (c === QUOTE) {
        // A quoted field: to the quote that is not doubled.
        const s = p + 1
        let q = s
        let escaped = 0
        for (;;) {
          const at = buf.indexOf(QUOTE, q)
          const stop = at === -1 ? len : at
          for (let i = q; i < stop; i++) if (buf[i] === LF) line++
          if (at === -1) {
            if (!final) return this.incomplete(start, len)
            throw malformed(line, 'a quoted field is not closed before the end of the upload')
          }
          if (at + 1 < len && buf[at + 1] === QUOTE) {
            escaped = FIELD_ESCAPED
            q = at + 2
            continue
          }
          if (at + 1 >= len && !final) return this.incomplete(start, len)
          this.starts[n] = s
          this.ends[n] = at
          this.flags[n] = FIELD_QUOTED | escaped
          n++
          p = at + 1
          break
        }
        c = p < len ? buf[p]! : -1
        if (c === CR && p + 1 < len && buf[p + 1] === LF) {
          c = LF
          p += 1
        } else if (c === CR && p + 1 >= len && !final) return this.incomplete(start, len)
        if (c !== COMMA && c !== LF && c !== -1)
          throw malformed(line, 'a closing quote must be followed by a comma or the end of the row')
      } else {
        let q = p
        while (q < len) {
          c = buf[q]!
          if (SPECIAL[c] === 1) {
            if (c !== CR) break
            if (q + 1 < len && buf[q + 1] === LF) break
            if (q + 1 >= len && !final) return this.incomplete(start, len)
          }
          q++
        }
        if (q >= len) c = -1
        if (c === QUOTE)
          throw malformed(line, 'a quote inside an unquoted field (quote the whole field, and double its quotes)')
        this.starts[n] = p
        this.ends[n] = q
        this.flags[n] = 0
        n++
        p = q
        if (c === CR) {
          c = LF
          p += 1
        }
      }
      if (c === COMMA) {
        p += 1
        continue
      }
      if (c === -1 && !final) return this.incomplete(start, len)
      // The record ends: at a line break (p on it) or at the end of the upload.
      if (p - start > this.maxRecordBytes) throw lineTooLong(line, this.maxRecordBytes)
      const empty = n === 1 && this.flags[0] === 0 && this.ends[0] === this.starts[0]
      if (!empty) this.sink.record(buf, n, this.starts, this.ends, this.flags, line)
      if (c === LF) {
        this.line = line + 1
        return p + 1
      }
      this.line = line
      return len
    }
  }

  private incomplete(start: number, len: number): number {
    if (len - start > this.maxRecordBytes) throw lineTooLong(this.line, this.maxRecordBytes)
    return -1
  }

  private grow(): void {
    const size = this.starts.length * 2
    const starts = new Int32Array(size)
    const ends = new Int32Array(size)
    const flags = new Uint8Array(size)
    starts.set(this.starts)
    ends.set(this.ends)
    flags.set(this.flags)
    this.starts = starts
    this.ends = ends
    this.flags = flags
  }
}

/** A field's value as text: its bytes decoded, doubled quotes made single. */
export function fieldText(buf: Buffer, start: number, end: number, flags: number): string {
  const text = buf.toString('utf8', start, end)
  return flags & FIELD_ESCAPED ? text.replaceAll('""', '"') : text
}
