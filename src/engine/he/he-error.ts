import { VeilboxError, type ErrorCode } from '../../errors/index.js'

/**
 * Errors of the HE core. SEAL reports failures as plain Error objects (or, from
 * deep inside the wasm module, as bare numbers); every SEAL call that can fail
 * goes through `sealCall` so that callers only ever see a VeilboxError with a
 * stable code, and the SEAL text survives as the cause.
 */
export function heError(
  code: ErrorCode,
  detail: string,
  extra: Record<string, unknown> = {},
  cause?: unknown,
): VeilboxError {
  return new VeilboxError(code, detail, extra, cause === undefined ? {} : { cause })
}

export function badArgument(detail: string): VeilboxError {
  return heError('VEILBOX_ERR_HE_BAD_ARGUMENT', detail)
}

export function sealMessage(e: unknown): string {
  if (e instanceof Error) return e.message
  return String(e)
}

/**
 * Run one SEAL step; a failure becomes `code` with `what` and SEAL's message.
 * A VeilboxError thrown inside passes through untouched.
 */
export function sealCall<T>(code: ErrorCode, what: string, fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    if (e instanceof VeilboxError) throw e
    throw heError(code, `${what}: ${sealMessage(e)}`, {}, e)
  }
}
