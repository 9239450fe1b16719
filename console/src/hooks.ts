import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { asApiError, type ApiError } from './api.js'

export interface Loaded<T> {
  readonly data: T | undefined
  readonly error: ApiError | null
  readonly loading: boolean
  reload(): void
}

/**
 * Loads something from the API when `deps` change. A late answer to an older
 * request is dropped, so a quick switch of dataset never shows stale data.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: ApiError | null; loading: boolean }>({
    data: undefined,
    error: null,
    loading: true,
  })
  const [tick, setTick] = useState(0)
  const seq = useRef(0)
  useEffect(() => {
    const mine = ++seq.current
    setState((s) => ({ ...s, loading: true, error: null }))
    load().then(
      (data) => mine === seq.current && setState({ data, error: null, loading: false }),
      (err: unknown) =>
        mine === seq.current && setState((s) => ({ data: s.data, error: asApiError(err), loading: false })),
    )
    // `load` is a fresh closure on every render; `deps` say when it means something new.
  }, [...deps, tick])
  const reload = useCallback(() => setTick((n) => n + 1), [])
  return { ...state, reload }
}

/** Runs an action (a button), keeping its pending state and its error for the screen to show. */
export function useAction<A extends unknown[], R>(action: (...args: A) => Promise<R>) {
  const [pending, setPending] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)
  const run = useCallback(
    async (...args: A): Promise<R | undefined> => {
      setPending(true)
      setError(null)
      try {
        return await action(...args)
      } catch (err) {
        setError(asApiError(err))
        return undefined
      } finally {
        setPending(false)
      }
    },
    [action],
  )
  return { run, pending, error, setError }
}
