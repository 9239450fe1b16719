// Long on purpose: the column cache is one lifecycle (load a version chunk by chunk, apply the contribution
// bound, share it with workers, lease and evict it by bytes); its leases and its eviction must see each other.
import { VeilboxError } from '../../errors/index.js'
import { profileFromJson } from '../he/profile.js'
import type { EncryptedColumn } from '../he/types.js'
import { columnBatchRows, kindContexts } from '../he/upload.js'
import type { ColumnSpec, DatasetSpec } from '../../schema.js'
import type { CodeArray, ColumnArray, Dictionary } from './types.js'
import { isPacked } from './dictionary.js'
import type { Sql } from '../../store/sql.js'
import { getDataset, getVersion } from '../../store/datasets.js'
import { loadWorkerMaterial, type HeWorkerMaterial } from '../he/material.js'
import { uploadEncryption } from '../../store/he.js'
import { packedDictionary } from '../../store/dictionaries.js'
import {
  ciphertextBytes,
  ciphertextList,
  chunkList,
  columnDictionary,
  readChunk,
  readCiphertext,
} from '../../store/chunks.js'
import { bytesPerValue, CHUNK_ROWS, decodeChunk, type Encoding } from '../../store/encoding.js'

/**
 * A dataset version in memory: one typed array per column over a
 * SharedArrayBuffer, so sandbox workers read it in place (posting a view of a
 * SharedArrayBuffer shares it; nothing is copied per task). Loading is a copy
 * of the stored column chunks, not a row scan.
 *
 * `keep` applies the contribution bound: one byte per row, 1 for the first
 * `maxRowsPerUnit` rows of each privacy unit in upload order, 0 for the rest.
 * The rule looks only at the unit ids and the row order, never at a query.
 */
export interface LoadedVersion {
  readonly dataset: string
  readonly version: number
  readonly rows: number
  readonly spec: DatasetSpec
  readonly columns: ReadonlyMap<string, ColumnArray>
  readonly keep: Uint8Array
  readonly bytes: number
  /** The version's encrypted (he) columns, when the dataset has any. */
  readonly he?: LoadedEncrypted | null
}

/**
 * A version's he columns as the sandbox reads them: every batch ciphertext a
 * view over one SharedArrayBuffer (posting the views to a worker shares the
 * memory; nothing is copied per task), and the Galois keys of the profile
 * they were encrypted under, shared the same way.
 */
export interface LoadedEncrypted {
  readonly profileId: string
  readonly encryptedBy: 'owner' | 'service'
  readonly material: HeWorkerMaterial
  readonly columns: ReadonlyMap<string, EncryptedColumn>
}

function sharedArray(encoding: Encoding | 'u8', length: number) {
  const bytes = Math.max(1, length * bytesPerValue(encoding))
  const sab = new SharedArrayBuffer(bytes)
  switch (encoding) {
    case 'f64':
      return new Float64Array(sab, 0, length)
    case 'i32':
      return new Int32Array(sab, 0, length)
    case 'u8':
      return new Uint8Array(sab, 0, length)
    case 'u16':
      return new Uint16Array(sab, 0, length)
    case 'u32':
      return new Uint32Array(sab, 0, length)
  }
}

/** Narrowest code width that holds `size` dictionary entries. */
function codeEncoding(size: number): 'u8' | 'u16' | 'u32' {
  return size <= 256 ? 'u8' : size <= 65_536 ? 'u16' : 'u32'
}

/** Booleans and declared categories: the dictionary is the declaration. */
function declaredDomain(col: ColumnSpec): boolean {
  return col.type === 'boolean' || (col.type === 'category' && col.categories !== undefined)
}

function dictionaryFor(col: ColumnSpec, stored: Dictionary | undefined): Dictionary | null {
  if (col.type === 'boolean') return ['false', 'true']
  if (col.type === 'category') return col.categories ?? stored ?? []
  if (col.type === 'id') return stored ?? []
  return null
}

type MaterialOf = (dataset: string) => Promise<HeWorkerMaterial>

/**
 * `material` supplies a profile's Galois keys; the column cache passes its
 * cache, so versions of one dataset share one copy. In one go: for tools and
 * tests. The service loads with loadVersionAsync, which gives the event loop
 * a turn between chunks.
 */
export async function loadVersion(
  db: Sql,
  dataset: string,
  version: number,
  material: MaterialOf = (d) => loadWorkerMaterial(db, d),
): Promise<LoadedVersion> {
  const steps = loadSteps(db, dataset, version, material)
  for (;;) {
    const r = await steps.next()
    if (r.done === true) return r.value
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * The same load, a chunk at a time: a million-row version took 615 ms of the
 * main thread in one piece, and every request waited behind it. Between steps
 * (a column chunk of 65,536 rows, a few ciphertexts, a slice of the keep
 * mask) other requests run; each step reads the store with a statement of
 * its own, so nothing holds a connection across a turn.
 */
export async function loadVersionAsync(
  db: Sql,
  dataset: string,
  version: number,
  material: MaterialOf = (d) => loadWorkerMaterial(db, d),
): Promise<LoadedVersion> {
  const steps = loadSteps(db, dataset, version, material)
  for (;;) {
    const r = await steps.next()
    if (r.done === true) return r.value
    await nextTurn()
  }
}

/** Rows of the keep mask computed per step. */
const KEEP_STEP = 1 << 18

async function* loadSteps(
  db: Sql,
  dataset: string,
  version: number,
  material: MaterialOf,
): AsyncGenerator<void, LoadedVersion> {
  const { spec } = await getDataset(db, dataset)
  const v = await getVersion(db, dataset, version)
  const rows = v.rows
  const dicts = new Map<string, Dictionary>()
  for (const col of spec.columns) {
    if (col.type === 'id') {
      // One entry per unit: read and packed on another thread (store/dictionaries.ts), never a string per unit here.
      const packed = await packedDictionary(db, v.uploadId, col.name)
      if (packed !== null) {
        const { count, bytes, offsets, special } = packed
        dicts.set(col.name, { kind: 'ids', length: count, bytes, offsets, special })
      }
    } else if (col.type === 'category' && col.categories === undefined) {
      // At most the column's declared maxKeys entries.
      const json = await columnDictionary(db, v.uploadId, col.name)
      if (json !== undefined) dicts.set(col.name, yield* parseStringArray(json))
    }
  }
  yield
  const columns = new Map<string, ColumnArray>()
  let bytes = 0
  const he = yield* loadEncrypted(db, spec, v.uploadId, rows, material)
  if (he !== null) bytes += [...he.columns.values()].reduce((n, c) => n + encryptedBytes(c), 0)
  for (const col of spec.columns) {
    if (he !== null && col.protection === 'he') continue
    const dictionary = dictionaryFor(col, dicts.get(col.name))
    const list = await chunkList(db, v.uploadId, col.name)
    // The in-memory shape of a column is a function of its declaration, never of its values: a declared
    // domain sets the code width, an undeclared one is always 32-bit (its size is the number of distinct
    // values, a private fact), and a nullable column always has a null bitmap, all zeros when no row is null.
    // The kernels pick their loops by shape, so a shape taken from the data would show in the running time.
    const target: Encoding =
      dictionary === null ? list[0]!.encoding : declaredDomain(col) ? codeEncoding(dictionary.length) : 'u32'
    const values = sharedArray(target, rows)
    let nulls: Uint8Array | null =
      col.nullable === true
        ? new Uint8Array(new SharedArrayBuffer(Math.max(1, Math.ceil(rows / 8))), 0, Math.ceil(rows / 8))
        : null
    for (const { chunk } of list) {
      const c = await readChunk(db, v.uploadId, col.name, chunk)
      const offset = chunk * CHUNK_ROWS
      // Copied into an aligned array: stored blobs carry no alignment guarantee.
      const src = decodeChunk(c.encoding, c.data, c.rows)
      // Same width: a byte copy; stored u32 codes narrowed to the loaded width otherwise.
      values.set(src as ArrayLike<number> & Float64Array, offset)
      if (c.nulls) {
        nulls ??= new Uint8Array(new SharedArrayBuffer(Math.ceil(rows / 8)))
        nulls.set(c.nulls, offset / 8)
      }
      yield
    }
    bytes += values.byteLength + (nulls?.byteLength ?? 0)
    if (dictionary !== null && isPacked(dictionary))
      bytes += dictionary.bytes.byteLength + dictionary.offsets.byteLength
    const arr: ColumnArray =
      dictionary !== null
        ? { kind: 'code', values: values as CodeArray, dictionary, nulls }
        : target === 'i32'
          ? { kind: 'i32', values: values as Int32Array, nulls }
          : { kind: 'f64', values: values as Float64Array, nulls }
    columns.set(col.name, arr)
  }
  // A public table has no unit: every row counts (its key is unique, ingest checks).
  const keep =
    spec.public === true
      ? new Uint8Array(new SharedArrayBuffer(Math.max(1, rows)), 0, rows).fill(1)
      : yield* keepMask(columns.get(spec.privacyUnit)!, rows, spec.maxRowsPerUnit)
  bytes += keep.byteLength
  return { dataset, version, rows, spec, columns, keep, bytes, he }
}

function encryptedBytes(c: EncryptedColumn): number {
  return [...c.values, ...(c.squares ?? [])].reduce((n, s) => n + s.reduce((m, b) => m + b.byteLength, 0), 0)
}

/** The ciphertexts of a version's he columns, read once into shared memory; null for a version without any. */
async function* loadEncrypted(
  db: Sql,
  spec: DatasetSpec,
  uploadId: number,
  rows: number,
  material: MaterialOf,
): AsyncGenerator<void, LoadedEncrypted | null> {
  const enc = await uploadEncryption(db, uploadId)
  if (enc === null) return null
  const m = await material(spec.id)
  if (m.profileId !== enc.profileId) {
    throw new VeilboxError(
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      `this version of ${spec.id} was encrypted under HE profile ${enc.profileId.slice(0, 12)}, not the dataset's ${m.profileId.slice(0, 12)}`,
    )
  }
  const profile = profileFromJson(m.profile)
  const total = await ciphertextBytes(db, uploadId)
  const sab = new SharedArrayBuffer(Math.max(1, total))
  const columns = new Map<string, { values: Uint8Array[][]; squares: Uint8Array[][] | null; batchRows: number }>()
  for (const plan of profile.columns) {
    columns.set(plan.name, {
      values: plan.sumContexts.map(() => []),
      squares: plan.squareContexts === null ? null : plan.squareContexts.map(() => []),
      batchRows: columnBatchRows(profile, plan.name),
    })
  }
  let offset = 0
  // A list first, then one ciphertext per read: no statement stays open across a turn of the event loop.
  const list = await ciphertextList(db, uploadId)
  let sinceTurn = 0
  for (const item of list) {
    if (++sinceTurn % 8 === 0) yield
    const r = { ...item, data: await readCiphertext(db, uploadId, item) }
    const col = columns.get(r.column_name)
    const contexts = kindContexts(profile, r.column_name, r.kind)
    const share = contexts.indexOf(r.context)
    const list = col === undefined || share < 0 ? undefined : (r.kind === 'values' ? col.values : col.squares)?.[share]
    if (list === undefined || r.batch !== list.length) {
      throw new VeilboxError(
        'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
        `the stored ciphertexts of ${spec.id} do not match its HE profile (${r.column_name} ${r.kind} batch ${r.batch})`,
      )
    }
    const view = new Uint8Array(sab, offset, r.data.byteLength)
    view.set(r.data)
    offset += r.data.byteLength
    list.push(view)
  }
  const out = new Map<string, EncryptedColumn>()
  for (const [name, c] of columns) {
    const batches = Math.ceil(rows / c.batchRows)
    if ([...c.values, ...(c.squares ?? [])].some((l) => l.length !== batches)) {
      throw new VeilboxError(
        'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
        `the stored ciphertexts of ${spec.id}.${name} lack batches: ${batches} expected per context`,
      )
    }
    out.set(name, {
      profileId: profile.id,
      column: name,
      rows,
      batchRows: c.batchRows,
      values: c.values,
      squares: c.squares,
    })
  }
  return { profileId: profile.id, encryptedBy: enc.encryptedBy, material: m, columns: out }
}

function* keepMask(unit: ColumnArray, rows: number, maxRowsPerUnit: number): Generator<void, Uint8Array> {
  const keep = new Uint8Array(new SharedArrayBuffer(Math.max(1, rows)), 0, rows)
  if (unit.kind !== 'code') throw new Error('the privacy unit column must be dictionary-encoded')
  const seen = new Uint16Array(unit.dictionary.length)
  const codes = unit.values
  for (let i = 0; i < rows; i++) {
    const c = codes[i]!
    if (seen[c]! < maxRowsPerUnit) {
      seen[c]! += 1
      keep[i] = 1
    }
    if ((i + 1) % KEEP_STEP === 0) yield
  }
  return keep
}

/** A loaded version held for one task: pinned in the cache until `end()`. */
export interface Lease {
  readonly version: LoadedVersion
  /** Gives the version back: it may be evicted once no lease holds it. Safe to call twice. */
  end(): void
}

interface Entry {
  /** Null while the version is being loaded (`loading`). */
  loaded: LoadedVersion | null
  loading: Promise<LoadedVersion> | null
  pins: number
  lastUsed: number
}

/**
 * Loaded versions, kept under a byte budget and evicted least recently used.
 * A version leased to a running query is pinned: it is never evicted under it,
 * even when that means running over the budget until the lease ends. The
 * service acquires with acquire, which loads a chunk at a time and lets
 * every query of a version wait for its one load.
 */
export class ColumnCache {
  private readonly entries = new Map<string, Entry>()
  /** Galois keys per dataset, loaded once: they are the same for every version. */
  private readonly material = new Map<string, Promise<HeWorkerMaterial>>()
  private clock = 0
  loads = 0
  /** Versions dropped to stay under the byte budget, since start (read by the metrics). */
  evictions = 0

  constructor(
    private readonly db: Sql,
    private readonly budgetBytes: number,
  ) {}

  /** A version's columns, loaded once (every query of a version waits for its one load), leased until the lease ends. */
  async acquire(dataset: string, version: number): Promise<Lease> {
    const key = `${dataset}@${version}`
    let entry = this.entries.get(key)
    if (!entry) {
      const loading = loadVersionAsync(this.db, dataset, version, (d) => this.materialOf(d))
      const created: Entry = { loaded: null, loading, pins: 0, lastUsed: 0 }
      entry = created
      this.loads += 1
      this.entries.set(key, created)
      loading.then(
        (v) => {
          created.loaded = v
          created.loading = null
        },
        () => {
          if (this.entries.get(key) === created) this.entries.delete(key)
        },
      )
    }
    if (entry.loaded !== null) return this.lease(entry, entry.loaded)
    // Pinned while it loads, so that nothing evicts it in between.
    entry.pins += 1
    try {
      const loaded = await entry.loading!
      return this.lease(entry, loaded)
    } finally {
      entry.pins -= 1
    }
  }

  private lease(entry: Entry, loaded: LoadedVersion): Lease {
    entry.pins += 1
    entry.lastUsed = ++this.clock
    this.evict()
    let ended = false
    return {
      version: loaded,
      end: () => {
        if (ended) return
        ended = true
        entry.pins -= 1
        this.evict()
      },
    }
  }

  private materialOf(dataset: string): Promise<HeWorkerMaterial> {
    let m = this.material.get(dataset)
    if (m === undefined) {
      m = loadWorkerMaterial(this.db, dataset)
      this.material.set(dataset, m)
      // A failed load is not kept: the next query tries again.
      m.catch(() => this.material.delete(dataset))
    }
    return m
  }

  get bytes(): number {
    let n = 0
    for (const e of this.entries.values()) n += e.loaded?.bytes ?? 0
    return n
  }

  get size(): number {
    return this.entries.size
  }

  has(dataset: string, version: number): boolean {
    return this.entries.has(`${dataset}@${version}`)
  }

  private evict(): void {
    let total = this.bytes
    if (total <= this.budgetBytes) return
    const candidates = [...this.entries.entries()]
      .filter(([, e]) => e.pins === 0 && e.loaded !== null)
      .sort(([, a], [, b]) => a.lastUsed - b.lastUsed)
    for (const [key, e] of candidates) {
      if (total <= this.budgetBytes) break
      this.entries.delete(key)
      this.evictions += 1
      total -= e.loaded?.bytes ?? 0
    }
  }
}

/** Characters of a dictionary's JSON parsed per step. */
const DICTIONARY_SLICE = 1 << 18

/**
 * JSON.parse of an array of strings (as JSON.stringify writes it), a slice
 * at a time: the text is walked string by string, and the event loop gets a
 * turn every `slice` characters. A string without escapes is taken as it
 * stands in the text (a slice: strings of 13 characters or more share the
 * text's memory), one with escapes through JSON.parse. JSON.parse of the
 * whole array would be slower for an id dictionary: V8 interns every string
 * value of up to 10 characters it parses, and 10,000,000 short ids took it
 * 4-5 times as long as slicing them.
 */
export function* parseStringArray(text: string, slice = DICTIONARY_SLICE): Generator<void, string[]> {
  if (text.length <= slice) return JSON.parse(text) as string[]
  const out: string[] = []
  const n = text.length
  const bad = (at: number) => new SyntaxError(`a dictionary is not a JSON array of strings (at character ${at})`)
  if (text.charCodeAt(0) !== 0x5b || text.charCodeAt(n - 1) !== 0x5d) throw bad(0)
  let i = 1 // after '['
  let sinceTurn = i
  while (i < n - 1) {
    // A string: its opening quote at i, its closing one at j.
    if (text.charCodeAt(i) !== 0x22) throw bad(i)
    let j = i + 1
    let escaped = false
    for (;;) {
      if (j >= n - 1) throw bad(j)
      const c = text.charCodeAt(j)
      if (c === 0x22) break
      if (c === 0x5c) {
        escaped = true
        j += 2
      } else j += 1
    }
    out.push(escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j))
    i = j + 1
    if (i < n - 1) {
      if (text.charCodeAt(i) !== 0x2c) throw bad(i)
      i += 1
      if (i >= n - 1) throw bad(i)
    }
    if (i - sinceTurn >= slice) {
      sinceTurn = i
      yield
    }
  }
  return out
}
