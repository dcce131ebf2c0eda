import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { ERROR_CODES, LatchkeyError } from '@latchkey/client'
import { describe, expect, it } from 'vitest'
import { renderErrorCodes } from '../../packages/client/scripts/generate-codes.ts'
import { ERROR_CODES as SERVER_CODES } from '../../src/errors.ts'

const spec = readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')
const generated = new URL('../../packages/client/src/error-codes.ts', import.meta.url)

describe('the client error codes generated from openapi.yaml', () => {
  it('are up to date with the spec (run `npm run generate:codes -w @latchkey/client` if not)', () => {
    expect(readFileSync(generated, 'utf8')).toBe(renderErrorCodes(spec))
  })

  it('the --check script passes now, and a changed spec renders a different file', () => {
    // What docs/client.md tells a contributor to run, in its --check form.
    const root = new URL('../../', import.meta.url).pathname
    expect(() => execFileSync('npm', ['run', '-s', 'generate:codes', '-w', '@latchkey/client', '--', '--check'], { cwd: root, stdio: 'pipe' })).not.toThrow()
    // A spec with one more code renders differently, so a stale file is noticed.
    const grown = spec.replace('        - validation_failed\n', '        - validation_failed\n        - brand_new_code\n')
    expect(grown).not.toBe(spec)
    expect(renderErrorCodes(grown)).not.toBe(renderErrorCodes(spec))
    expect(renderErrorCodes(grown)).toContain('"brand_new_code"')
  })

  it('name only codes the server has (the spec, not the client, decides the list)', () => {
    for (const code of ERROR_CODES) expect(SERVER_CODES).toContain(code)
  })

  it('narrow LatchkeyError.code', () => {
    const err = new LatchkeyError(401, 'token_expired', 'expired')
    const handled = (() => {
      switch (err.code) {
        case 'token_expired':
          return 'refresh'
        case 'network_error':
          return 'retry'
        default:
          return 'other'
      }
    })()
    expect(handled).toBe('refresh')
  })
})
