import type { MessagePort as WorkerPort } from 'node:worker_threads'
import { z } from 'zod'
import { execTaskSchema, type ExecTask } from '../engine/exec/task.js'
import type { ColumnArray } from '../engine/exec/types.js'
import type { EncryptedColumn } from '../engine/he/types.js'
import type { ExecResult } from '../engine/exec/executor.js'

/**
 * The messages between the main process and a sandbox worker. A request is a
 * task (column names, constants, bounds) plus views of the columns it reads,
 * over SharedArrayBuffer: posting them shares the memory, nothing is copied.
 * No API key, budget, grant or secret is part of either message; both sides
 * validate what they receive.
 */

const codes = z.union([z.instanceof(Uint8Array), z.instanceof(Uint16Array), z.instanceof(Uint32Array)])
const nulls = z.instanceof(Uint8Array).nullable()

const columnSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('f64'), values: z.instanceof(Float64Array), nulls }),
  z.strictObject({ kind: z.literal('i32'), values: z.instanceof(Int32Array), nulls }),
  z.strictObject({
    kind: z.literal('code'),
    values: codes,
    // Categories and booleans as strings; an id column's units packed in shared memory (engine/exec/types.ts).
    dictionary: z.union([
      z.array(z.string()),
      z.strictObject({
        kind: z.literal('ids'),
        length: z.number().int().min(0),
        bytes: z.instanceof(Uint8Array),
        offsets: z.instanceof(Uint32Array),
        special: z.map(z.number().int().min(0), z.string()).nullable(),
      }),
    ]),
    nulls,
  }),
])

const bytes = z.instanceof(Uint8Array)

/**
 * What a worker needs for encrypted measures: the profile (re-validated in
 * the worker), the Galois keys (public, in shared memory; `id` names them so
 * a worker loads them once) and the batch ciphertexts of the columns the task
 * reads (shared memory too). Public material and ciphertexts only: there is
 * no field a secret key could travel in.
 */
const heRequestSchema = z.strictObject({
  material: z.strictObject({
    id: z.string().regex(/^[0-9a-f]{64}$/),
    profile: z.string().max(1 << 20),
    galois: z
      .array(z.strictObject({ keys: bytes, steps: z.array(z.number().int().min(0)).max(64), publicKey: bytes }))
      .min(1)
      .max(8),
  }),
  columns: z.record(
    z.string(),
    z.strictObject({
      profileId: z.string().regex(/^[0-9a-f]{64}$/),
      column: z.string(),
      rows: z.number().int().min(1),
      batchRows: z.number().int().min(1),
      values: z.array(z.array(bytes)),
      squares: z.array(z.array(bytes)).nullable(),
    }),
  ),
})

export interface WorkerHeRequest {
  readonly material: {
    readonly id: string
    readonly profile: string
    readonly galois: readonly {
      readonly keys: Uint8Array
      readonly steps: readonly number[]
      readonly publicKey: Uint8Array
    }[]
  }
  readonly columns: Readonly<Record<string, EncryptedColumn>>
}

export const workerRequestSchema = z.strictObject({
  task: execTaskSchema,
  rows: z.number().int().min(0),
  keep: z.instanceof(Uint8Array),
  columns: z.record(z.string(), columnSchema),
  he: heRequestSchema.optional(),
  /** A join task's joined version: its rows, contribution bound and the columns it reads (by their own names). */
  joined: z
    .strictObject({
      rows: z.number().int().min(0),
      keep: z.instanceof(Uint8Array),
      columns: z.record(z.string(), columnSchema),
    })
    .optional(),
  started: z.custom<WorkerPort>((v) => v instanceof MessagePort).optional(),
})

export interface WorkerRequest {
  readonly task: ExecTask
  readonly rows: number
  readonly keep: Uint8Array
  readonly columns: Record<string, ColumnArray>
  readonly he?: WorkerHeRequest
  readonly joined?: {
    readonly rows: number
    readonly keep: Uint8Array
    readonly columns: Record<string, ColumnArray>
  }
  /** The worker posts one message here when it starts the task: the deadline counts from then, not from the queue. */
  readonly started?: WorkerPort
}

const measureResultSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('moments'),
    nonNull: z.instanceof(Float64Array),
    sum: z.array(z.bigint()),
    sumSquares: z.array(z.bigint()).nullable(),
  }),
  z.strictObject({ kind: z.literal('nonNull'), nonNull: z.instanceof(Float64Array) }),
  z.strictObject({ kind: z.literal('histogram'), counts: z.instanceof(Float64Array), bins: z.number().int().min(1) }),
])

const encryptedAggregateSchema = z.strictObject({
  column: z.string(),
  kind: z.enum(['sum', 'sumSquares']),
  group: z.number().int().min(0),
  rows: z.number().int().min(0),
  ciphertexts: z.array(bytes).min(1).max(8),
})

const encryptedResultSchema = z.strictObject({
  profileId: z.string(),
  column: z.string(),
  counts: z.array(z.number().int().min(0)),
  sums: z.array(encryptedAggregateSchema),
  sumSquares: z.array(encryptedAggregateSchema).nullable(),
})

export const workerResponseSchema = z.discriminatedUnion('ok', [
  z.strictObject({
    ok: z.literal(true),
    result: z.strictObject({
      count: z.instanceof(Float64Array),
      measures: z.array(measureResultSchema),
      keys: z.array(z.string()).optional(),
      encrypted: z.array(encryptedResultSchema).optional(),
    }),
  }),
  /** A refusal the worker could name (a broken contract): its code and detail, never a stack. */
  z.strictObject({ ok: z.literal(false), code: z.string().regex(/^VEILBOX_ERR_[A-Z_]+$/), detail: z.string() }),
])

export type WorkerResponse =
  | { readonly ok: true; readonly result: ExecResult }
  | { readonly ok: false; readonly code: string; readonly detail: string }

export { taskColumns } from '../engine/exec/task.js'
