import type { ErrorCode } from '../errors/index.js'

/**
 * What the query engine tells whoever counts its outcomes (the API's
 * Prometheus metrics, src/api/metrics.ts): counts and the epsilon each
 * dataset was charged, never who asked, in which grant, or what.
 * Every method is called once per event and must not throw.
 */
export interface QueryObserver {
  /** A fresh answer was committed (charged and stored). */
  released(): void
  /** A query was answered with its stored answer, free (cached: true). */
  reread(): void
  /** A query was refused or failed, with the code the analyst saw. */
  refused(code: ErrorCode): void
  /** A dataset's budget was charged this epsilon (a release, or a deadline hit charged as one), as a float for display. */
  charged(dataset: string, epsilon: number): void
}

/** The observer that counts nothing: the engine's default. */
export const NO_OBSERVER: QueryObserver = {
  released() {},
  reread() {},
  refused() {},
  charged() {},
}
