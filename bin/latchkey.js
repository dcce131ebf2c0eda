#!/usr/bin/env node
// The CLI is TypeScript run by Node's type stripping (Node >= 22.18, or 24). This shim checks for it
// and hides Node's ExperimentalWarnings (node:sqlite prints one), which read like errors to an operator.
import process from 'node:process'

const emitWarning = process.emitWarning
process.emitWarning = function filterExperimental(warning, ...rest) {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0]?.type ?? warning?.name)
  if (type === 'ExperimentalWarning') return
  return emitWarning.call(process, warning, ...rest)
}

if (!process.features.typescript) {
  process.stderr.write(`latchkey: Node ${process.versions.node} cannot run TypeScript; use Node 22.18+ or 24 (npx latchkey uses the project's Node)\n`)
  process.exit(1)
}

const { main } = await import('../src/cli/main.ts')
await main()
