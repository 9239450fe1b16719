import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { isWithin, loadConfig, realPath } from '../../src/config/index.js'

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
