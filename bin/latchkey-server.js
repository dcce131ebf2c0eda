#!/usr/bin/env node
// `npm start`: runs src/server.ts with Node's module compile cache on. Node then keeps the
// type-stripped and compiled code of every module on disk, keyed by its content, so a restart
// neither strips types again nor loads the type stripper at all (here ~300 ms and ~20 MB less per
// start). It must be enabled before the first TypeScript file loads, hence this JavaScript entry.
// The cache lives with the installed dependencies rather than in a shared temporary directory that
// another local user could write to. NODE_COMPILE_CACHE moves it, NODE_DISABLE_COMPILE_CACHE=1 turns
// it off, and a read-only install runs without it (enabling it never throws).
import module from 'node:module'
import process from 'node:process'
import { URL, fileURLToPath } from 'node:url'

if (!process.features.typescript) {
  process.stderr.write(`latchkey: Node ${process.versions.node} cannot run TypeScript; use Node 22.18+ or 24 (npm start uses the project's Node)\n`)
  process.exit(1)
}

module.enableCompileCache(process.env.NODE_COMPILE_CACHE || fileURLToPath(new URL('../node_modules/.cache/latchkey-compile', import.meta.url)))
await import('../src/server.ts')
// Written now rather than at exit, so an instance that is killed rather than stopped still leaves it.
module.flushCompileCache()
