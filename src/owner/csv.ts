import { once } from 'node:events'
import { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { parse as csvParse, type Options } from 'csv-parse'

/**
 * The records of the data owner's CSV, in arrays of as many as are at hand,
 * exactly as csv-parse gives them with `{ bom: true, relax_column_count:
 * true }` (an empty line is the record [""]), but several times faster for
 * the usual file.
 *
 * While the text holds no quote and no carriage return, a record is a line
 * and its fields are what lies between the commas: that is all csv-parse
 * would make of it, and the lines are handed out as they are. At the first quote or carriage
 * return (from the record boundary before it), the rest of the file goes to
 * csv-parse itself, told that records end in "\n" if lines were already read
 * (as it would have found out by then), so quoting, escaped quotes, line
 * breaks inside fields and its errors are csv-parse's own.
 */

/** Text split at a time in the fast path: records come in arrays of about this many characters' worth. */
const SLICE_CHARS = 1 << 20

/**
 * The parser's records in arrays, as many as are readable at a time: an
 * await per record (the stream's own async iterator) costs more than
 * parsing the record.
 */
async function* parserBatches(parser: Readable): AsyncGenerator<string[][]> {
  const ended = new Promise<void>((resolve, reject) => {
    parser.once('end', resolve)
    parser.once('error', reject)
  })
  let done = false
  void ended.then(
    () => (done = true),
    () => (done = true),
  )
  for (;;) {
    const batch: string[][] = []
    for (let record = parser.read() as string[] | null; record !== null; record = parser.read() as string[] | null) {
      batch.push(record)
    }
    if (batch.length > 0) yield batch
    if (done) break
    await Promise.race([once(parser, 'readable'), ended])
  }
  await ended
}

/** The lines of text[from, to): each "\n" ends one; what follows the last one is the file's last line. */
function splitLines(text: string, from: number, to: number): string[] {
  const lines: string[] = []
  let start = from
  for (;;) {
    const nl = text.indexOf('\n', start)
    if (nl === -1 || nl >= to) break
    lines.push(text.slice(start, nl))
    start = nl + 1
  }
  if (start < to) lines.push(text.slice(start, to))
  return lines
}

/** The rest of the file through csv-parse: `head` (starting at a record boundary), then the chunks still to come. */
function viaCsvParse(
  head: string,
  chunks: AsyncIterator<Buffer | string>,
  decoder: StringDecoder,
  linesSeen: boolean,
): AsyncGenerator<string[][]> {
  const options: Options = linesSeen
    ? { relax_column_count: true, record_delimiter: '\n' }
    : { bom: true, relax_column_count: true }
  const parser = csvParse(options)
  async function* rest(): AsyncGenerator<string> {
    if (head !== '') yield head
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) {
      const text = typeof next.value === 'string' ? next.value : decoder.write(next.value)
      if (text !== '') yield text
    }
    const tail = decoder.end()
    if (tail !== '') yield tail
  }
  const source = Readable.from(rest(), { objectMode: false })
  source.on('error', (e) => parser.destroy(e))
  source.pipe(parser)
  return parserBatches(parser)
}

/**
 * Records as they come: quote-free lines, each one record whose fields are
 * what lies between its commas (the caller splits them, or reads them in
 * place), or csv-parse's records, whose fields may hold line breaks.
 */
export type RecordBatch =
  | { readonly kind: 'lines'; readonly lines: readonly string[] }
  | { readonly kind: 'records'; readonly records: readonly string[][] }

export async function* csvRecords(input: Readable): AsyncGenerator<RecordBatch> {
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>
  const decoder = new StringDecoder('utf8')
  let carry = ''
  let first = true
  let linesSeen = false
  for (;;) {
    const next = await chunks.next()
    const done = next.done === true
    let text =
      carry + (done ? decoder.end() : typeof next.value === 'string' ? next.value : decoder.write(next.value as Buffer))
    if (first && text !== '') {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      first = false
    }
    if (text.includes('"') || text.includes('\r')) {
      for await (const records of viaCsvParse(text, chunks, decoder, linesSeen)) yield { kind: 'records', records }
      return
    }
    // Whole lines only, unless the file ended: the rest waits for the next chunk.
    const end = done ? text.length : text.lastIndexOf('\n') + 1
    for (let at = 0; at < end; ) {
      let to = end
      if (end - at > SLICE_CHARS) {
        const nl = text.lastIndexOf('\n', at + SLICE_CHARS)
        to = nl >= at ? nl + 1 : text.indexOf('\n', at + SLICE_CHARS) + 1 || end
      }
      const lines = splitLines(text, at, to)
      if (lines.length > 0) {
        linesSeen = true
        yield { kind: 'lines', lines }
      }
      at = to
    }
    carry = text.slice(end)
    if (done) return
  }
}
