import { VeilboxError } from '../../errors/index.js'
import { SourceError, type SourceEngine, type SourceParam } from '../../sources/index.js'

/** A source that cannot be reached: nothing was charged, retry later. */
export function unavailable(err: SourceError): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_SOURCE_UNAVAILABLE',
    `${err.message}; nothing was charged. Retry later; the operator can check the source`,
    { source: err.source },
    { cause: err, headers: { 'retry-after': '5' } },
  )
}

/** One statement at the source, bounded by the statement timeout; its failures as the service's errors. */
export async function runStatement(
  engine: SourceEngine,
  timeoutMs: number,
  statement: { readonly sql: string; readonly params: readonly SourceParam[] },
): Promise<unknown[][]> {
  try {
    return await engine.run(statement.sql, statement.params, { timeoutMs })
  } catch (err) {
    if (!(err instanceof SourceError)) throw err
    if (err.kind === 'timeout')
      throw new VeilboxError(
        'VEILBOX_ERR_SANDBOX_TIMEOUT',
        `the source did not answer within ${timeoutMs} ms`,
        { timeoutMs },
        { cause: err },
      )
    if (err.kind === 'unavailable') throw unavailable(err)
    if (err.kind === 'busy')
      throw new VeilboxError(
        'VEILBOX_ERR_SANDBOX_BUSY',
        "the dataset's source is busy with other queries; nothing was charged. Retry shortly",
        {},
        { cause: err, headers: { 'retry-after': '1' } },
      )
    throw new VeilboxError('VEILBOX_ERR_SOURCE_FAILED', err.message, { source: err.source }, { cause: err })
  }
}
