import os from 'node:os'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { MessageChannel } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { errorFromData, VeilboxError } from '../errors/index.js'
import { heProfileOf } from '../engine/he/material.js'
import type { HeProfile } from '../engine/he/profile.js'
import { CiphertextChecker } from '../engine/he/upload.js'
import type { DatasetSpec } from '../schema.js'
import type { AuditActor } from '../store/audit.js'
import { getDataset } from '../store/datasets.js'
import type { Sql } from '../store/sql.js'
import { EncryptedReader, parseLine } from './encrypted-reader.js'
import type { EncryptedReadTask, FromEncryptedParser, ToEncryptedParser } from './encrypted-worker.js'
import { WORKER_BYTES } from './fast.js'
import { refuseSourced, StagedVersion, type IngestResult } from './index.js'
import { DEFAULT_INGEST_LIMITS, readLines, type IngestLimits } from './lines.js'

/**
 * Loads a version from an encrypted upload (`veilbox encrypt`'s file, format
 * in src/engine/he/upload.ts), all or nothing, streamed like a CSV upload.
 *
 * Everything is checked before the version exists (encrypted-reader.ts):
 * the file is for this dataset and its current HE profile; its columns are
 * exactly the dataset's (he columns encrypted, the others plain); every
 * plain cell passes the same RowChecker as a CSV cell; every ciphertext is a
 * fresh encryption under its context, names a batch within the rows, and
 * arrives once; every batch of every he column arrives; the end line's row
 * count agrees. A file cut short has no end line and stores nothing.
 *
 * As with a CSV upload (fast.ts), an upload of WORKER_BYTES or more, or of
 * unknown size, is read in a worker thread of its own (encrypted-worker.ts:
 * lines, JSON, rows and the SEAL checks of its ciphertexts), so that this
 * thread, which answers queries, only stages what it is sent, and the two
 * run on two cores; a smaller one is read here, where SEAL is already loaded.
 * Either way refusals come in file order: the first bad line is the one named.
 */
export async function ingestEncrypted(
  db: Sql,
  datasetId: string,
  input: Readable,
  actor: AuditActor,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
  /** The upload's size when known (Content-Length): a small one is read on this thread. */
  expectedBytes: number | null = null,
): Promise<IngestResult> {
  const { spec } = await getDataset(db, datasetId)
  refuseSourced(spec)
  if (!spec.columns.some((c) => c.protection === 'he')) {
    throw new VeilboxError(
      'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
      `dataset ${datasetId} has no encrypted (he) columns; upload it as text/csv or application/x-ndjson`,
      { dataset: datasetId },
    )
  }
  const profile = await heProfileOf(db, datasetId)
  const staging = new Staging(db, spec, profile)
  try {
    if (expectedBytes !== null && expectedBytes < WORKER_BYTES) await readHere(staging, input, limits)
    else await readInWorker(staging, input, limits)
    return await (await staging.version()).commit(actor, 'owner')
  } catch (err) {
    await staging.discard()
    throw err
  }
}

/** Milliseconds of work between two turns of the event loop. */
const TURN_MS = 5

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** The staged version, started when the first checked row or ciphertext arrives (a refused header stages nothing). */
class Staging {
  private staged: StagedVersion | null = null
  private lastTurn = performance.now()

  constructor(
    private readonly db: Sql,
    readonly spec: DatasetSpec,
    readonly profile: HeProfile,
  ) {}

  async version(): Promise<StagedVersion> {
    this.staged ??= await StagedVersion.start(this.db, this.spec, this.profile)
    return this.staged
  }

  /** Writes what is due, and gives the event loop a turn every few milliseconds. */
  async settle(): Promise<void> {
    const staged = await this.version()
    if (staged.needsFlush) await staged.flush()
    if (performance.now() - this.lastTurn >= TURN_MS) {
      await nextTurn()
      this.lastTurn = performance.now()
    }
  }

  async discard(): Promise<void> {
    await this.staged?.discard()
  }
}

async function readHere(staging: Staging, input: Readable, limits: IngestLimits): Promise<void> {
  const { spec, profile } = staging
  const checker = await CiphertextChecker.open(profile)
  try {
    const reader = new EncryptedReader(spec, profile, () => checker, limits.maxFieldChars)
    let lines = 0
    for await (const { text, line } of readLines(input, limits.maxLineBytes)) {
      if (text.trim() === '') continue
      const raw = parseLine(text, line)
      if (!reader.hasHeader) {
        reader.header(raw, line)
        continue
      }
      reader.line(raw, line, await staging.version())
      if (++lines % 64 === 0) await staging.settle()
    }
    reader.finish()
  } finally {
    checker.close()
  }
}

/** Bytes sent to the worker and not yet read, past which reading the upload waits. */
const MAX_BYTES_IN_FLIGHT = 8 * 1024 * 1024

const workerFailed = (message: string): VeilboxError =>
  new VeilboxError('VEILBOX_ERR_HE_SEAL_FAILURE', `the encrypted upload's reader failed: ${message}`)

// Under tsx the sources run as .ts and workers need tsx to load them; the build runs compiled .js.
const FROM_SOURCE = import.meta.url.endsWith('.ts')

let readers: Piscina | null = null

/**
 * The process's reader threads, started on first use and ended when idle:
 * one beside the event loop's thread on two cores, more on more.
 */
function readerPool(): Piscina {
  if (readers === null) {
    readers = new Piscina({
      filename: fileURLToPath(new URL(`./encrypted-worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url)),
      minThreads: 0,
      maxThreads: Math.max(1, Math.min(4, os.availableParallelism() - 1)),
      idleTimeout: 60_000,
      execArgv: FROM_SOURCE ? ['--import', 'tsx'] : [],
    })
    readers.on('error', () => {})
  }
  return readers
}

async function readInWorker(staging: Staging, input: Readable, limits: IngestLimits): Promise<void> {
  const { spec, profile } = staging
  const channel = new MessageChannel()
  const port = channel.port1
  const task: EncryptedReadTask = { port: channel.port2, spec, profile, limits }
  const run = readerPool().run(task, { transferList: [channel.port2] }) as Promise<void>
  const post = (m: ToEncryptedParser, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer)
  const inbox: FromEncryptedParser[] = []
  let failed: unknown = null
  let inFlight = 0
  let wakeReader: (() => void) | null = null
  let wakeStager: (() => void) | null = null
  let verdict = false
  const fail = (e: unknown) => {
    failed ??= e
    wakeReader?.()
    wakeStager?.()
  }
  port.on('message', (m: FromEncryptedParser) => {
    if (m.type === 'consumed') {
      inFlight -= m.bytes
      if (inFlight <= MAX_BYTES_IN_FLIGHT / 2) wakeReader?.()
      return
    }
    if (m.type === 'done' || m.type === 'refused') verdict = true
    inbox.push(m)
    wakeStager?.()
  })
  // The reader closes its port after its last message (`done` or `refused`), which comes before the close.
  port.once('close', () => {
    if (!verdict) fail(workerFailed('it ended without a verdict'))
  })
  run.catch((e: unknown) => fail(workerFailed(e instanceof Error ? e.message : String(e))))

  // Stages what the worker sends, in order; ends at its `done` or its refusal, or at a refusal of its own.
  const stager = (async () => {
    for (;;) {
      while (inbox.length === 0) {
        if (failed !== null) throw failed
        await new Promise<void>((resolve) => (wakeStager = resolve))
        wakeStager = null
      }
      const m = inbox.shift()!
      switch (m.type) {
        case 'rows': {
          const staged = await staging.version()
          for (let i = 0; i < m.lines.length; i++)
            staged.pushRow(m.values.slice(i * m.width, (i + 1) * m.width), { row: m.first + i, line: m.lines[i]! })
          break
        }
        case 'cipher':
          ;(await staging.version()).putCiphertext(m.column, m.kind, m.context, m.batch, m.bytes)
          break
        case 'done':
          return
        case 'refused':
          throw errorFromData(m.error, workerFailed)
        case 'consumed':
          // Counted where it arrives, never queued.
          break
      }
      post({ type: 'ack' })
      await staging.settle()
    }
  })()
  stager.catch(fail)
  try {
    for await (const chunk of input) {
      if (failed !== null) break
      const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer)
      // A copy the worker owns: the stream's buffers may share memory with others.
      const owned = new Uint8Array(bytes.length)
      owned.set(bytes)
      // Counted before the post: the transferred buffer reads as empty here afterwards.
      inFlight += owned.length
      post({ type: 'bytes', bytes: owned }, [owned.buffer])
      while (inFlight > MAX_BYTES_IN_FLIGHT && failed === null) {
        await new Promise<void>((resolve) => (wakeReader = resolve))
        wakeReader = null
      }
    }
    if (failed === null) post({ type: 'end' })
    await stager
  } finally {
    // After its verdict the reader has closed the port; if this side failed first, closing it stops the reader.
    port.close()
    await run.catch(() => {})
    // The stager, if it still waits (the upload's stream failed), ends too.
    fail(workerFailed('the upload ended'))
  }
}
