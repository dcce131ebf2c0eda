// Writes src/error-codes.ts from openapi.yaml's ErrorCode enum, so `LatchkeyError.code` is the
// server's own list. `--check` fails (exit 1) when the file on disk differs from what it would write.
import { readFileSync, writeFileSync } from 'node:fs'
import { parse } from 'yaml'

const specUrl = new URL('../../../openapi.yaml', import.meta.url)
const outUrl = new URL('../src/error-codes.ts', import.meta.url)

/** The generated module for the ErrorCode enum of `specText`. */
export function renderErrorCodes(specText: string): string {
  const spec = parse(specText) as { components?: { schemas?: { ErrorCode?: { enum?: unknown } } } }
  const codes = spec.components?.schemas?.ErrorCode?.enum
  if (!Array.isArray(codes) || codes.length === 0 || !codes.every((c) => typeof c === 'string')) {
    throw new Error('openapi.yaml: components.schemas.ErrorCode.enum must be a non-empty list of strings')
  }
  return [
    '// Generated from openapi.yaml (components.schemas.ErrorCode) by `npm run generate:codes -w @latchkey/client`.',
    '// Do not edit: a test fails when this file no longer matches the spec.',
    '',
    '/** Every problem `code` the Latchkey API documents. */',
    'export const ERROR_CODES = [',
    ...codes.map((c) => `  ${JSON.stringify(c)},`),
    '] as const',
    '',
    'export type ErrorCode = (typeof ERROR_CODES)[number]',
    '',
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const expected = renderErrorCodes(readFileSync(specUrl, 'utf8'))
  if (process.argv.includes('--check')) {
    const actual = readFileSync(outUrl, 'utf8')
    if (actual !== expected) {
      console.error('packages/client/src/error-codes.ts is stale: run `npm run generate:codes -w @latchkey/client`')
      process.exit(1)
    }
  } else {
    writeFileSync(outUrl, expected)
    console.log(`wrote ${outUrl.pathname}`)
  }
}
