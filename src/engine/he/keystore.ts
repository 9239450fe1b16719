import { randomUUID } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { SecretKey } from 'node-seal/implementation/secret-key.js'
import { VeilboxError } from '../../errors/index.js'
import { identifierSchema } from '../../schema.js'
import { contextFor, type HeContext } from './context.js'
import { heError } from './he-error.js'
import { galoisSteps, generateContextKeys, loadSecretKey } from './keys.js'
import { profileFromJson, profileToJson, type HeProfile } from './profile.js'
import type { PublicContextKeys, PublicMaterial } from './types.js'

/**
 * The custodian's key directory. Layout:
 *
 *   <dir>/                   0700, owned by the custodian's user
 *     <dataset>/             0700
 *       profile.json         the public HE profile the keys belong to
 *       secret-<i>.key       secret key of context i      (0600)
 *       public-<i>.key       public key of context i      (0600)
 *       galois-<i>.key       Galois keys of context i     (0600)
 *
 * Every file is 0600, public ones included: the custodian hands out public
 * material through `publicMaterial`, so nothing else needs to read the
 * directory, and one rule is easier to check than two. Modes are checked
 * before a secret key is read, like ssh does with its keys: a key store that
 * others can read is refused rather than used, because its secret may
 * already be gone.
 *
 * A dataset's keys are written into a fresh temporary directory and renamed
 * into place in one step, so a crash leaves either all keys or none, and two
 * custodians racing to create keys for one dataset cannot mix their files.
 * Keys are never replaced: ciphertexts already made depend on them.
 */

const PROFILE = 'profile.json'
const secretFile = (i: number): string => `secret-${i}.key`
const publicFile = (i: number): string => `public-${i}.key`
const galoisFile = (i: number): string => `galois-${i}.key`

function insecure(detail: string): VeilboxError {
  return heError('VEILBOX_ERR_CUSTODIAN_KEYSTORE_INSECURE', detail)
}

function corrupt(detail: string, cause?: unknown): VeilboxError {
  return heError('VEILBOX_ERR_CUSTODIAN_KEYSTORE_CORRUPT', detail, {}, cause)
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT'
}

function checkDatasetId(dataset: string): void {
  // Dataset ids are identifiers (schema.ts); checking again here keeps a
  // crafted id from naming a path outside the key directory.
  if (!identifierSchema.safeParse(dataset).success) {
    throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', `not a dataset id: ${JSON.stringify(dataset)}`)
  }
}

async function checkPrivate(p: string, kind: 'directory' | 'file'): Promise<void> {
  const st = await fs.lstat(p)
  if (kind === 'directory' ? !st.isDirectory() : !st.isFile()) {
    throw insecure(`${p} must be a ${kind}, not a link or anything else`)
  }
  if ((st.mode & 0o077) !== 0) {
    throw insecure(
      `${p} has mode ${(st.mode & 0o777).toString(8)}; the key store needs ${kind === 'directory' ? '0700' : '0600'} (no access for group or others)`,
    )
  }
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid)
    throw insecure(`${p} belongs to user ${st.uid}, not to the custodian (user ${uid})`)
}

async function writePrivateFile(p: string, bytes: Uint8Array | string): Promise<void> {
  // O_EXCL: never write through a file (or link) that is already there.
  const fh = await fs.open(p, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600)
  try {
    await fh.writeFile(bytes)
    // The umask can only clear bits, but a mode is a promise: set it outright.
    await fh.chmod(0o600)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export class KeyStore {
  private constructor(readonly dir: string) {}

  /** Opens (creating if needed, mode 0700) the key directory and checks its mode. */
  static async open(dir: string): Promise<KeyStore> {
    const abs = path.resolve(dir)
    // Directories this creates are 0700; one that exists keeps its mode and
    // must already be private.
    await fs.mkdir(abs, { recursive: true, mode: 0o700 })
    await checkPrivate(abs, 'directory')
    return new KeyStore(abs)
  }

  private datasetDir(dataset: string): string {
    checkDatasetId(dataset)
    return path.join(this.dir, dataset)
  }

  async has(dataset: string): Promise<boolean> {
    try {
      await fs.lstat(this.datasetDir(dataset))
      return true
    } catch (e) {
      if (isNotFound(e)) return false
      throw e
    }
  }

  /** Generates and stores the keys of every context in `profile`. */
  async create(profile: HeProfile): Promise<void> {
    const final = this.datasetDir(profile.dataset)
    if (await this.has(profile.dataset)) {
      throw heError(
        'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST',
        `HE keys for dataset ${profile.dataset} already exist; they are never replaced, because ciphertexts depend on them`,
      )
    }
    const tmp = path.join(this.dir, `.tmp-${profile.dataset}-${randomUUID()}`)
    await fs.mkdir(tmp, { mode: 0o700 })
    try {
      await fs.chmod(tmp, 0o700)
      for (let i = 0; i < profile.contexts.length; i++) {
        const keys = await generateContextKeys(profile.contexts[i]!)
        try {
          await writePrivateFile(path.join(tmp, secretFile(i)), keys.secretKey)
        } finally {
          // The only copy of the secret outside the file: clear it now.
          keys.secretKey.fill(0)
        }
        await writePrivateFile(path.join(tmp, publicFile(i)), keys.publicKey)
        await writePrivateFile(path.join(tmp, galoisFile(i)), keys.galoisKeys)
      }
      await writePrivateFile(path.join(tmp, PROFILE), profileToJson(profile))
      try {
        // rename(2) onto an existing non-empty directory fails: a racing
        // creator that got there first wins, and we report that.
        await fs.rename(tmp, final)
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          throw heError(
            'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST',
            `HE keys for dataset ${profile.dataset} were created concurrently; keeping those`,
          )
        }
        throw e
      }
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true })
      throw e
    }
  }

  private async readFile(dataset: string, name: string): Promise<Buffer> {
    const dir = this.datasetDir(dataset)
    try {
      await checkPrivate(dir, 'directory')
      const p = path.join(dir, name)
      await checkPrivate(p, 'file')
      return await fs.readFile(p)
    } catch (e) {
      if (isNotFound(e)) {
        if (!(await this.has(dataset))) {
          throw heError(
            'VEILBOX_ERR_CUSTODIAN_NO_KEYS',
            `the custodian holds no HE keys for dataset ${dataset}; create them first`,
          )
        }
        throw corrupt(`the key store of dataset ${dataset} lacks ${name}`, e)
      }
      throw e
    }
  }

  async profile(dataset: string): Promise<HeProfile> {
    const text = (await this.readFile(dataset, PROFILE)).toString('utf8')
    let profile: HeProfile
    try {
      profile = profileFromJson(text)
    } catch (e) {
      throw corrupt(
        `the stored HE profile of dataset ${dataset} is damaged: ${e instanceof VeilboxError ? e.detail : String(e)}`,
        e,
      )
    }
    if (profile.dataset !== dataset)
      throw corrupt(`the stored HE profile under ${dataset} is for dataset ${profile.dataset}`)
    return profile
  }

  /** The public profile and, per context, the public and Galois keys. Never a secret key. */
  async publicMaterial(dataset: string): Promise<PublicMaterial> {
    const profile = await this.profile(dataset)
    const contexts: PublicContextKeys[] = []
    for (let i = 0; i < profile.contexts.length; i++) {
      contexts.push({
        publicKey: new Uint8Array(await this.readFile(dataset, publicFile(i))),
        galoisKeys: new Uint8Array(await this.readFile(dataset, galoisFile(i))),
        galoisSteps: galoisSteps(profile.contexts[i]!),
      })
    }
    return { dataset, profile, contexts }
  }

  /** The public key of one context: what an encryptor needs, without the Galois keys (14 MB at n = 8192). */
  async publicKey(dataset: string, context: number): Promise<Uint8Array> {
    return new Uint8Array(await this.readFile(dataset, publicFile(context)))
  }

  /**
   * Runs `fn` with the SEAL secret keys of the listed contexts of `dataset`,
   * and deletes them (and wipes their bytes) when it returns or throws. The
   * key objects must not escape `fn`. For the custodian's decryptor and the
   * data owner's encryptor only.
   */
  async withSecretKeys<T>(
    dataset: string,
    contextIndices: readonly number[],
    fn: (
      keys: readonly { readonly ctx: HeContext; readonly secretKey: SecretKey }[],
      profile: HeProfile,
    ) => Promise<T> | T,
  ): Promise<T> {
    const profile = await this.profile(dataset)
    const loaded: { ctx: HeContext; secretKey: SecretKey }[] = []
    try {
      for (const i of contextIndices) {
        const params = profile.contexts[i]
        if (params === undefined)
          throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', `dataset ${dataset} has no HE context ${i}`)
        const ctx = await contextFor(params)
        const bytes = await this.readFile(dataset, secretFile(i))
        try {
          loaded.push({ ctx, secretKey: loadSecretKey(ctx, bytes) })
        } finally {
          bytes.fill(0)
        }
      }
      return await fn(loaded, profile)
    } finally {
      for (const k of loaded) k.secretKey.delete()
    }
  }
}
