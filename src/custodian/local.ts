import { KeyHolder } from '../engine/he/key-holder.js'
import { KeyStore } from '../engine/he/keystore.js'
import type { HeKeyOptions, HeProfile } from '../engine/he/profile.js'
import type { Custodian, DecryptRequest, DecryptResponse, PublicMaterial } from '../engine/he/types.js'
import type { DatasetSpec } from '../schema.js'

/**
 * The in-process custodian of the service's default configuration: a
 * KeyHolder over the key directory VEILBOX_CUSTODIAN_DIR (outside the
 * data directory; config checks that), opened on first use, so that a
 * service that never touches an encrypted column never creates the
 * directory.
 */
export class DeferredLocalCustodian implements Custodian {
  private inner: Promise<KeyHolder> | null = null

  constructor(readonly dir: string) {}

  private get(): Promise<KeyHolder> {
    this.inner ??= KeyStore.open(this.dir).then(
      (ks) => new KeyHolder(ks),
      (err: unknown) => {
        this.inner = null
        throw err
      },
    )
    return this.inner
  }

  async createKeys(dataset: string, spec: DatasetSpec, options: HeKeyOptions): Promise<HeProfile> {
    return (await this.get()).createKeys(dataset, spec, options)
  }

  async publicMaterial(dataset: string): Promise<PublicMaterial> {
    return (await this.get()).publicMaterial(dataset)
  }

  async decryptAggregates(request: DecryptRequest): Promise<DecryptResponse> {
    return (await this.get()).decryptAggregates(request)
  }
}

/** The custodian the service's configuration names. */
export async function custodianFor(config: {
  custodianUrl: string | null
  custodianToken: string | null
  custodianDir: string
  custodianTimeoutMs: number
}): Promise<Custodian> {
  if (config.custodianUrl !== null) {
    const { RemoteCustodian } = await import('./client.js')
    return new RemoteCustodian(config.custodianUrl, config.custodianToken ?? '', config.custodianTimeoutMs)
  }
  return new DeferredLocalCustodian(config.custodianDir)
}
