import { workerData } from 'node:worker_threads'
import { errorToData } from '../errors/index.js'
import { ColumnEncryptor } from '../engine/he/encrypt.js'
import { KeyStore } from '../engine/he/keystore.js'
import { cipherLines, type BatchJob } from './writer.js'
import type { PoolReply, PoolWorkerData } from './pool.js'

/**
 * An encryption worker of the data owner's pool (pool.ts): its own SEAL
 * (node-seal loads its wasm per thread), its own context and its own copy of
 * the keys, read from the custodian's key directory on the owner's machine as
 * the main thread would read them, once per thread. Each task is one batch;
 * the answer is its ciphertext lines, or the refusal as plain data (an Error
 * thrown across threads loses its code).
 */

const data = workerData as PoolWorkerData

let opened: Promise<ColumnEncryptor> | null = null

async function open(): Promise<ColumnEncryptor> {
  const encryptor = await ColumnEncryptor.open(await KeyStore.open(data.keysDir), data.dataset)
  if (encryptor.profile.id === data.profileId) return encryptor
  encryptor.close()
  throw new Error(
    `the key directory now holds HE profile ${encryptor.profile.id.slice(0, 12)} for dataset ${data.dataset}, not ${data.profileId.slice(0, 12)}`,
  )
}

export default async function encryptBatch(job: BatchJob): Promise<PoolReply> {
  try {
    opened ??= open()
    return { text: cipherLines(await opened, job) }
  } catch (e) {
    job.values.fill(0)
    return { error: errorToData(e) }
  }
}
