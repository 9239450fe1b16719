import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { isWithin, loadConfig, realPath } from '../../src/config/index.js'
import { readSwitch, switchValue } from '../../src/config/switch.js'

const base = () => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-config-')))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('the custodian directory may not resolve into the data directory, however it is spelled', async (t) => {
  const root = base()
  const data = path.join(root, 'data')
  fs.mkdirSync(data)
  const refused = (custodian: string, why: string) =>
    t.throws(
      () => loadConfig({ VEILBOX_DATA_DIR: data, VEILBOX_CUSTODIAN_DIR: custodian }),
      { code: 'VEILBOX_ERR_CONFIG_INVALID', message: /inside the data directory/ },
      why,
    )
  refused(path.join(data, 'keys'), 'a plain subdirectory')
  refused(data, 'the data directory itself')
  refused(path.join(data, '..keys'), 'a name starting with two dots is still inside')
  refused(path.join(data, 'a', '..', 'b'), 'dot segments')
  // A link outside that points inside.
  fs.symlinkSync(data, path.join(root, 'link-to-data'))
  refused(path.join(root, 'link-to-data', 'keys'), 'through a symbolic link')
  // The data directory itself behind a link.
  fs.symlinkSync(data, path.join(root, 'data-link'))
  t.throws(
    () =>
      loadConfig({ VEILBOX_DATA_DIR: path.join(root, 'data-link'), VEILBOX_CUSTODIAN_DIR: path.join(data, 'keys') }),
    { code: 'VEILBOX_ERR_CONFIG_INVALID' },
    'a data directory given through a link',
  )

  for (const ok of [path.join(root, 'custodian'), path.join(root, 'data-keys'), path.join(root, 'data..', 'keys')]) {
    t.doesNotThrow(
      () => loadConfig({ VEILBOX_DATA_DIR: data, VEILBOX_CUSTODIAN_DIR: ok }),
      `${path.relative(root, ok)} is outside`,
    )
  }
})

t.test('realPath resolves links in the part of a path that exists and keeps the rest', async (t) => {
  const root = base()
  fs.mkdirSync(path.join(root, 'real'))
  fs.symlinkSync(path.join(root, 'real'), path.join(root, 'alias'))
  t.equal(realPath(path.join(root, 'alias', 'not', 'yet')), path.join(root, 'real', 'not', 'yet'))
  t.equal(realPath(path.join(root, 'alias')), path.join(root, 'real'))
  t.ok(isWithin('/a/b', '/a/b'))
  t.ok(isWithin('/a/b', '/a/b/..c'))
  t.notOk(isWithin('/a/b', '/a/bc'))
  t.notOk(isWithin('/a/b', '/a'))
})

t.test(
  'VEILBOX_NATIVE takes the words of every on/off switch, in any case; another word is a configuration error',
  async (t) => {
    const dir = base()
    const native = (v?: string) =>
      loadConfig({ VEILBOX_DATA_DIR: path.join(dir, 'data'), ...(v === undefined ? {} : { VEILBOX_NATIVE: v }) }).native
    t.equal(native(), true, 'on by default')
    t.equal(native(''), true, 'empty is unset')
    for (const on of ['1', 'true', 'on', 'yes', 'TRUE', 'On', ' yes ']) t.equal(native(on), true, JSON.stringify(on))
    for (const off of ['0', 'false', 'off', 'no', 'FALSE', 'Off', ' no '])
      t.equal(native(off), false, JSON.stringify(off))
    for (const bad of ['2', 'enabled', 'nope', 'y']) {
      t.throws(
        () => native(bad),
        {
          code: 'VEILBOX_ERR_CONFIG_INVALID',
          message: `invalid environment: VEILBOX_NATIVE: must be one of 1, true, on, yes (on) or 0, false, off, no (off), in any case, got ${JSON.stringify(bad)}`,
        },
        JSON.stringify(bad),
      )
    }
  },
)

t.test('readSwitch: one reading for the configuration and the kernel loader', async (t) => {
  t.equal(switchValue(' Yes '), true)
  t.equal(switchValue('OFF'), false)
  t.equal(switchValue('maybe'), null)
  t.equal(readSwitch({}, 'X', true), true, 'unset: the default')
  t.equal(readSwitch({ X: ' ' }, 'X', false), false, 'blank: the default')
  t.equal(readSwitch({ X: 'no' }, 'X', true), false)
  t.throws(() => readSwitch({ X: 'maybe' }, 'X', true), {
    code: 'VEILBOX_ERR_CONFIG_INVALID',
    detail: /^invalid environment: X: must be one of .*, got "maybe"$/,
  })
})

t.test('the metrics settings: defaults, a port of their own, the token, and what is refused', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-config-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const env = { VEILBOX_DATA_DIR: dataDir, VEILBOX_HOST: '0.0.0.0' }
  const d = loadConfig(env)
  t.equal(d.metrics, true)
  t.equal(d.metricsPort, null)
  t.equal(d.metricsHost, '0.0.0.0', 'the service host by default')
  t.equal(d.metricsToken, null)
  const token = 'a'.repeat(32)
  const c = loadConfig({
    ...env,
    VEILBOX_METRICS: 'off',
    VEILBOX_METRICS_PORT: '9464',
    VEILBOX_METRICS_HOST: '10.0.0.5',
    VEILBOX_METRICS_TOKEN: token,
  })
  t.same([c.metrics, c.metricsPort, c.metricsHost, c.metricsToken], [false, 9464, '10.0.0.5', token])
  for (const [extra, why] of [
    [{ VEILBOX_METRICS_TOKEN: 'short' }, 'a token under 32 characters'],
    [{ VEILBOX_METRICS_PORT: '8080' }, 'the service port'],
    [{ VEILBOX_PORT: '9000', VEILBOX_METRICS_PORT: '9000' }, 'the service port, set'],
    [{ VEILBOX_METRICS_PORT: '70000' }, 'no port'],
    [{ VEILBOX_METRICS: 'maybe' }, 'no switch word'],
  ] as const)
    t.throws(() => loadConfig({ ...env, ...extra }), { code: 'VEILBOX_ERR_CONFIG_INVALID' }, why)
})
