'use strict'
// A short hash of the addon's sources (native/src/* and binding.gyp). The
// build bakes it into the addon (binding.gyp runs this file), and the loader
// recomputes it: an addon built from other sources than the ones checked out
// (a `git pull` without `npm run native:rebuild`) is not used.
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

function sourceHash(dir = __dirname) {
  const src = path.join(dir, 'src')
  const files = fs
    .readdirSync(src)
    .filter((f) => /\.(cc|h)$/.test(f))
    .sort()
    .map((f) => path.join('src', f))
  const hash = crypto.createHash('sha256')
  for (const f of ['binding.gyp', ...files]) {
    // Line endings normalized, so a checkout with CRLF hashes alike.
    const text = fs.readFileSync(path.join(dir, f), 'utf8').replace(/\r\n/g, '\n')
    hash.update(`${f.split(path.sep).join('/')}\0${text}\0`)
  }
  return hash.digest('hex').slice(0, 16)
}

module.exports = { sourceHash }

if (require.main === module) process.stdout.write(sourceHash())
