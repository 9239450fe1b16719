import type { Problem } from './types.js'

/**
 * The console's only way to the service: the public HTTP API, with the key in
 * the Authorization header (never in a URL, so it reaches no log, history or
 * Referer). Every failure becomes an ApiError carrying an
 * application/problem+json body, so every screen shows errors one way.
 */

/** Codes the console makes itself when no problem body came back. */
export const CONSOLE_CODES = [
  'CONSOLE_NETWORK',
  'CONSOLE_BAD_RESPONSE',
  'CONSOLE_ABORTED',
  'CONSOLE_FAILURE',
  'CONSOLE_BAD_JSON',
] as const

export class ApiError extends Error {
  readonly problem: Problem
  constructor(problem: Problem) {
    super(problem.detail)
    this.problem = problem
  }
  get code(): string {
    return this.problem.code
  }
  get status(): number {
    return this.problem.status
  }
}

function consoleProblem(code: (typeof CONSOLE_CODES)[number], status: number, detail: string): Problem {
  return { type: 'about:blank', title: code, status, detail, code, instance: '' }
}

function isProblem(v: unknown): v is Problem {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Problem).code === 'string' &&
    typeof (v as Problem).status === 'number'
  )
}

async function problemFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '')
  try {
    const body: unknown = JSON.parse(text)
    if (isProblem(body)) return new ApiError({ ...body, detail: String(body.detail ?? '') })
  } catch {
    // not JSON: a proxy's page, or a cut connection; said below
  }
  return new ApiError(consoleProblem('CONSOLE_BAD_RESPONSE', res.status, `HTTP ${res.status} ${res.statusText}`))
}

export interface UploadProgress {
  /** bytes sent so far */
  loaded: number
  total: number
  /** 'sending' while the body goes up; 'checking' once it is all sent and the server checks and stores the rows */
  phase: 'sending' | 'checking'
}

export class Api {
  /**
   * @param key the API key, sent as a bearer token
   * @param onUnauthorized called on any 401 once signed in: a revoked or expired key ends the session
   */
  constructor(
    private readonly key: string,
    private readonly onUnauthorized: (err: ApiError) => void = () => {},
  ) {}

  private fail(err: ApiError): never {
    if (err.status === 401) this.onUnauthorized(err)
    throw err
  }

  private async send(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body: unknown,
    query: Record<string, string | number | undefined> | undefined,
    accept: string,
  ): Promise<Response> {
    let url = path
    if (query) {
      const qs = new URLSearchParams()
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') qs.set(k, String(v))
      const s = qs.toString()
      if (s) url += `?${s}`
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      })
    } catch (err) {
      throw new ApiError(consoleProblem('CONSOLE_NETWORK', 0, (err as Error).message))
    }
    if (!res.ok) this.fail(await problemFrom(res))
    return res
  }

  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    query?: Record<string, string | number | undefined>,
  ): Promise<T> {
    const res = await this.send(method, path, body, query, 'application/json, application/problem+json')
    try {
      return (await res.json()) as T
    } catch {
      throw new ApiError(consoleProblem('CONSOLE_BAD_RESPONSE', res.status, 'the answer is not JSON'))
    }
  }

  /** A GET whose answer is a document to save as it came (a signed CSV or JSON statement): its exact text. */
  async text(path: string, query?: Record<string, string | number | undefined>): Promise<string> {
    const res = await this.send('GET', path, undefined, query, 'text/csv, application/json, application/problem+json')
    return res.text()
  }

  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    return this.request<T>('GET', path, undefined, query)
  }
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body)
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body)
  }
  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path)
  }

  /**
   * Uploads a file as the request body. XMLHttpRequest, not fetch: only it
   * reports upload progress in every browser (fetch streams need HTTP/2 and
   * half-duplex support that a plain HTTP/1.1 veilbox does not offer).
   */
  upload<T>(
    path: string,
    file: Blob,
    contentType: string,
    onProgress: (p: UploadProgress) => void,
    signal?: AbortSignal,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      xhr.open('POST', path)
      xhr.setRequestHeader('authorization', `Bearer ${this.key}`)
      xhr.setRequestHeader('content-type', contentType)
      xhr.setRequestHeader('accept', 'application/json, application/problem+json')
      xhr.responseType = 'text'
      const total = file.size
      onProgress({ loaded: 0, total, phase: 'sending' })
      xhr.upload.onprogress = (e) =>
        onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : total, phase: 'sending' })
      xhr.upload.onload = () => onProgress({ loaded: total, total, phase: 'checking' })
      xhr.onerror = () => reject(new ApiError(consoleProblem('CONSOLE_NETWORK', 0, 'the upload connection failed')))
      xhr.onabort = () => reject(new ApiError(consoleProblem('CONSOLE_ABORTED', 0, 'the upload was cancelled')))
      xhr.onload = () => {
        const text = xhr.responseText
        let body: unknown = null
        try {
          body = JSON.parse(text)
        } catch {
          body = null
        }
        if (xhr.status >= 200 && xhr.status < 300 && body !== null) {
          resolve(body as T)
          return
        }
        const err = isProblem(body)
          ? new ApiError(body)
          : new ApiError(consoleProblem('CONSOLE_BAD_RESPONSE', xhr.status, `HTTP ${xhr.status} ${xhr.statusText}`))
        if (err.status === 401) this.onUnauthorized(err)
        reject(err)
      }
      signal?.addEventListener('abort', () => xhr.abort(), { once: true })
      xhr.send(file)
    })
  }
}

/** Any thrown value as an ApiError, so a screen has one kind of error to show. */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  return new ApiError(consoleProblem('CONSOLE_FAILURE', 0, err instanceof Error ? err.message : String(err)))
}
