import { VeilboxError } from '../../src/errors/index.js'

/** The VeilboxError fn throws; anything else it throws is rethrown, and not throwing is a failure. */
export function errorOf(fn: () => unknown): VeilboxError {
  try {
    fn()
  } catch (e) {
    if (e instanceof VeilboxError) return e
    throw e
  }
  throw new Error('did not throw')
}

/** The same for a promise: the VeilboxError it rejects with. */
export async function rejectionOf(fn: () => Promise<unknown>): Promise<VeilboxError> {
  try {
    await fn()
  } catch (e) {
    if (e instanceof VeilboxError) return e
    throw e
  }
  throw new Error('did not reject')
}
