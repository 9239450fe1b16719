import { VeilboxError } from '../errors/index.js'

/**
 * The one reading of an on/off environment variable (VEILBOX_NATIVE), for the
 * configuration schema and for the kernel loader, which reads the variable
 * again in each sandbox worker. Case and surrounding blanks do not matter; an
 * unset or empty variable is the default; any other word is refused, so that
 * a typo never quietly picks a side.
 */
const ON = ['1', 'true', 'on', 'yes'] as const
const OFF = ['0', 'false', 'off', 'no'] as const

/** The rule, as the configuration error and docs state it. */
export const SWITCH_WORDS = `${ON.join(', ')} (on) or ${OFF.join(', ')} (off), in any case`

/** true, false, or null for a word that is neither. */
export function switchValue(raw: string): boolean | null {
  const word = raw.trim().toLowerCase()
  if ((ON as readonly string[]).includes(word)) return true
  if ((OFF as readonly string[]).includes(word)) return false
  return null
}

/** `name`'s value in `env`, `fallback` when unset or empty; VEILBOX_ERR_CONFIG_INVALID for any other word. */
export function readSwitch(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallback: boolean,
): boolean {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = switchValue(raw)
  if (value !== null) return value
  const problem = `${name}: must be one of ${SWITCH_WORDS}, got ${JSON.stringify(raw)}`
  throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `invalid environment: ${problem}`, { problems: [problem] })
}
