import os from 'node:os'
import type { AuditActor } from '../store/audit.js'

/** Who ran a CLI command that writes to the database directly, for the audit chain. */
export function cliActor(): AuditActor {
  let user = 'unknown'
  try {
    user = os.userInfo().username
  } catch {
    // No passwd entry (some containers): the audit record says unknown.
  }
  return { principal: `cli:${user}`, role: 'operator' }
}
