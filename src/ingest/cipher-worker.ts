import { move } from 'piscina'
import { errorToData } from '../errors/index.js'
import { CiphertextChecker } from '../engine/he/upload.js'
import { readCiphertext, type PoolAnswer, type PoolJob } from './cipher-checks.js'

/**
 * The ciphertext-check worker (cipher-checks.ts): SEAL loaded once per
 * thread, a checker (contexts and a scratch ciphertext) per HE profile, the
 * four most recently used kept. It sees ciphertexts and public parameters
 * only. The checked bytes move back to the main thread, not copied.
 */

const checkers = new Map<string, Promise<CiphertextChecker>>()

async function checkerFor(job: PoolJob): Promise<CiphertextChecker> {
  let entry = checkers.get(job.profile.id)
  if (entry === undefined) {
    entry = CiphertextChecker.open(job.profile)
    entry.catch(() => checkers.delete(job.profile.id))
    checkers.set(job.profile.id, entry)
    if (checkers.size > 4) {
      const [oldest, evicted] = checkers.entries().next().value as [string, Promise<CiphertextChecker>]
      checkers.delete(oldest)
      void evicted.then((c) => c.close()).catch(() => {})
    }
  } else {
    // Most recently used last.
    checkers.delete(job.profile.id)
    checkers.set(job.profile.id, entry)
  }
  return entry
}

export default async function checkCiphertext(job: PoolJob): Promise<PoolAnswer> {
  try {
    const bytes = readCiphertext(await checkerFor(job), job)
    // A buffer of its own (base64 decoding of a large text allocates one) can move; a pooled slice is copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
    return move(own) as Uint8Array
  } catch (e) {
    return { error: errorToData(e) }
  }
}
