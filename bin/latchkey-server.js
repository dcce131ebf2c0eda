#!/usr/bin/env node
// `npm start`: runs src/server.ts with two start-up settings that need to be in place before the
// first module loads, hence this JavaScript entry.
//
// Node's module compile cache. Node keeps the type-stripped and compiled code of every module on
// disk, keyed by the module's content, so a restart neither strips types again nor loads the type
// stripper at all (here ~300 ms and ~20 MB less per start). The cache lives with the installed
// dependencies rather than in a shared temporary directory that another local user could write to.
// NODE_COMPILE_CACHE moves it, NODE_DISABLE_COMPILE_CACHE=1 turns it off, and a read-only install
// runs without it (enabling it never throws).
//
// V8's young generation, held at its initial size until the server listens. Loading the modules
// allocates a lot that survives, which V8 reads as a reason to grow the young generation to its
// maximum (16 MB semi-spaces, ~28 MB resident), and an idle instance would keep that memory. Once
// the server listens, growth is back to V8's default factor, and V8 sizes the young generation by
// the actual load as usual.
import module from 'node:module'
import process from 'node:process'
import { URL, fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'

if (!process.features.typescript) {
  process.stderr.write(`latchkey: Node ${process.versions.node} cannot run TypeScript; use Node 22.18+ or 24 (npm start uses the project's Node)\n`)
  process.exit(1)
}

module.enableCompileCache(process.env.NODE_COMPILE_CACHE || fileURLToPath(new URL('../node_modules/.cache/latchkey-compile', import.meta.url)))
setFlagsFromString('--semi-space-growth-factor=1')
const { started } = await import('../src/server.ts')
// Written now rather than at exit, so an instance that is killed rather than stopped still leaves it.
module.flushCompileCache()
await started
setFlagsFromString('--semi-space-growth-factor=2') // V8's default
