import { Api, ApiError } from './api.js'
import type { Session } from './context.js'
import type { MyUsage, Role } from './types.js'
import { ROLES } from './types.js'

/**
 * The key lives in sessionStorage only: it goes when the tab closes, is never
 * put in a URL (so no history entry, log line or Referer carries it) and is
 * sent only in the Authorization header.
 */
const KEY = 'veilbox.console.key'

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY)
  } catch {
    return null
  }
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY, key)
}

export function forgetKey(): void {
  try {
    sessionStorage.removeItem(KEY)
  } catch {
    // nothing stored then
  }
}

/**
 * Finds the key's role through the public API alone. GET /v1/me/usage answers
 * an analyst with its name; any other valid key is refused with
 * VEILBOX_ERR_AUTH_FORBIDDEN_ROLE, whose problem body names the caller's role.
 * An invalid key is a 401, thrown to the sign-in form.
 */
export async function probeRole(key: string): Promise<Session> {
  const api = new Api(key)
  try {
    const usage = await api.get<MyUsage>('/v1/me/usage')
    return { role: 'analyst', name: usage.analyst }
  } catch (err) {
    if (err instanceof ApiError && err.code === 'VEILBOX_ERR_AUTH_FORBIDDEN_ROLE') {
      const role = err.problem.role
      if (typeof role === 'string' && (ROLES as readonly string[]).includes(role))
        return { role: role as Role, name: null }
    }
    throw err
  }
}
