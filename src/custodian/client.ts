import { ERROR_CODES, VeilboxError, type ErrorCode } from '../errors/index.js'
import type { Custodian } from '../engine/he/types.js'
import type { HeKeyOptions, HeProfile } from '../engine/he/profile.js'
import type { DecryptRequest, DecryptResponse, DecryptedAggregate, PublicMaterial } from '../engine/he/types.js'
import type { DatasetSpec } from '../schema.js'
import { createKeysResponseSchema, decryptRequestOut, decryptResponseIn, materialIn, profileIn } from './wire.js'

/**
 * The `Custodian` interface over HTTP, for a custodian running as its own
 * process (`veilbox custodian`). Every call carries the shared bearer token.
 * A custodian that does not answer (down, unreachable, past the timeout) or
 * that refuses the token makes the call fail with
 * VEILBOX_ERR_CUSTODIAN_UNAVAILABLE (503): the service cannot release
 * encrypted aggregates then, and says so; its DP queries never call here.
 */

/** Aggregates per decryption call: keeps each request well under the custodian's body limit. */
export const DECRYPT_BATCH = 16

function unavailable(detail: string, cause?: unknown): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE',
    `${detail}; nothing was released or charged. Encrypted columns need it; other queries are unaffected.`,
    {},
    {
      headers: { 'retry-after': '5' },
      ...(cause === undefined ? {} : { cause }),
    },
  )
}

export class RemoteCustodian implements Custodian {
  private readonly base: URL

  constructor(
    url: string,
    private readonly token: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.base = new URL(url.endsWith('/') ? url : `${url}/`)
  }

  private async call(method: 'GET' | 'POST', route: string, body?: unknown): Promise<unknown> {
    let res: Response
    try {
      res = await fetch(new URL(route.replace(/^\//, ''), this.base), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (err) {
      throw unavailable('the key custodian did not answer', err)
    }
    let json: unknown = null
    try {
      json = await res.json()
    } catch (err) {
      if (res.ok) throw unavailable('the key custodian sent an unreadable answer', err)
    }
    if (res.ok) return json
    const p = (json ?? {}) as { code?: string; detail?: string }
    const code = (typeof p.code === 'string' && p.code in ERROR_CODES ? p.code : 'VEILBOX_ERR_INTERNAL') as ErrorCode
    if (res.status === 401) throw unavailable("the key custodian refused this service's token")
    if (res.status >= 500 || code === 'VEILBOX_ERR_INTERNAL') {
      // The custodian's internal messages (paths, key store state) stay with the custodian.
      throw new VeilboxError(
        code === 'VEILBOX_ERR_INTERNAL' ? 'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE' : code,
        `the key custodian failed (${code}); nothing was released or charged`,
        {},
        { headers: { 'retry-after': '5' } },
      )
    }
    throw new VeilboxError(code, p.detail ?? `the key custodian refused (HTTP ${res.status})`)
  }

  async createKeys(dataset: string, spec: DatasetSpec, options: HeKeyOptions): Promise<HeProfile> {
    const raw = await this.call('POST', `v1/datasets/${encodeURIComponent(dataset)}/keys`, { spec, options })
    return profileIn(createKeysResponseSchema.parse(raw).profile)
  }

  async publicMaterial(dataset: string): Promise<PublicMaterial> {
    return materialIn(await this.call('GET', `v1/datasets/${encodeURIComponent(dataset)}/public`))
  }

  async decryptAggregates(request: DecryptRequest): Promise<DecryptResponse> {
    const values: DecryptedAggregate[] = []
    for (let i = 0; i < request.aggregates.length; i += DECRYPT_BATCH) {
      const part = { ...request, aggregates: request.aggregates.slice(i, i + DECRYPT_BATCH) }
      const raw = await this.call(
        'POST',
        `v1/datasets/${encodeURIComponent(request.dataset)}/decrypt`,
        decryptRequestOut(part),
      )
      const res = decryptResponseIn(raw)
      if (res.queryId !== request.queryId)
        throw new VeilboxError('VEILBOX_ERR_CUSTODIAN_REFUSED', 'the key custodian answered for another query')
      values.push(...res.values)
    }
    return { queryId: request.queryId, values }
  }

  /** Whether the custodian answers and accepts the token. */
  async ping(): Promise<boolean> {
    try {
      await this.call('GET', 'v1/ping')
      return true
    } catch {
      return false
    }
  }
}
