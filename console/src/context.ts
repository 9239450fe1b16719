import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Api } from './api.js'
import type { Formatter, Lang, Translate } from './i18n/index.js'
import type { Role } from './types.js'

export interface Session {
  readonly role: Role
  /** The principal's name, when the role's answers tell it (analysts). */
  readonly name: string | null
}

export interface AppCtx {
  readonly lang: Lang
  readonly t: Translate
  readonly f: Formatter
  readonly api: Api
  readonly session: Session
  /** Query part of the current route (#/query?grant=...). */
  readonly params: URLSearchParams
  navigate(hash: string): void
}

export const AppContext = createContext<AppCtx | null>(null)

export function useApp(): AppCtx {
  const ctx = useContext(AppContext)
  if (!ctx) throw new Error('useApp outside the signed-in console')
  return ctx
}
