'use strict'
// The raw addon, found where node-pre-gyp installed it. veilbox itself loads
// it through src/engine/exec/loader.ts, which adds the self-check against the
// TypeScript kernel and the fallback to it.
const path = require('node:path')
const { find } = require('@mapbox/node-pre-gyp')

module.exports = require(find(path.join(__dirname, 'package.json')))
