import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkedBlocks, containsCommand, docFiles, parseBlocks, ROOT, CHECKED_LANGUAGES, type DocBlock } from '../helpers/doc-blocks.ts'

/** What is wrong with one block under the convention (test/helpers/doc-blocks.ts), or nothing. */
function problems(block: DocBlock, root = ROOT): string[] {
  const where = `${block.file}:${block.line}`
  if (block.marker === null) return [`${where}: a \`\`\`${block.lang} block needs <!-- test: … --> or <!-- not-run: … --> on the line above`]
  if (block.marker.kind === 'not-run') return block.marker.reason.length >= 10 ? [] : [`${where}: not-run needs a reason`]
  const path = block.marker.path
  if (!/^test\/.+\.test\.ts$/.test(path)) return [`${where}: ${path} is not a test file under test/`]
  if (!existsSync(join(root, path))) return [`${where}: ${path} does not exist`]
  const source = readFileSync(join(root, path), 'utf8')
  // A test that reads its blocks from the document itself (test/mail/docs-walkthrough.test.ts) runs them as written.
  const readsTheDoc = source.includes(`'${block.file}'`) && source.includes('test: ${')
  if (!readsTheDoc && !containsCommand(source, block.body)) return [`${where}: ${path} does not contain this block's command`]
  return []
}

describe('commands and requests in the documentation', () => {
  const files = docFiles()

  it('covers the README and every docs/*.md', () => {
    expect(files).toContain('README.md')
    expect(files).toContain('docs/operations.md')
    expect(files.length).toBeGreaterThanOrEqual(10)
  })

  it('every sh and http block names the test that runs it, or why none does', () => {
    const found = files.flatMap((f) => checkedBlocks(f).flatMap((b) => problems(b)))
    expect(found).toEqual([])
  })

  it('most blocks are run by a test', () => {
    const blocks = files.flatMap((f) => checkedBlocks(f))
    const run = blocks.filter((b) => b.marker?.kind === 'test')
    expect(run.length).toBeGreaterThanOrEqual(10)
    expect(run.length / blocks.length).toBeGreaterThan(0.6)
  })

  it('the checker refuses a block with no marker, a missing test file and a test that lacks the command', () => {
    const md = [
      '```sh',
      'npx latchkey keys list',
      '```',
      '<!-- test: test/no/such.test.ts -->',
      '```sh',
      'npx latchkey keys list',
      '```',
      '<!-- test: test/cli/keys-cli.test.ts -->',
      '```http',
      'DELETE /nothing-here-at-all HTTP/1.1',
      '```',
      // this file holds the command (in this very array), so the block passes
      '<!-- test: test/docs/doc-commands.test.ts -->',
      '```sh',
      'npx latchkey keys rotate --force',
      '```',
      '<!-- not-run: needs a terminal of its own -->',
      '```bash',
      'npm start',
      '```',
      '```js',
      'console.log("not a command block")',
      '```',
    ].join('\n')
    const blocks = parseBlocks(md, 'x.md').filter((b) => CHECKED_LANGUAGES.has(b.lang))
    expect(blocks.map((b) => problems(b).length)).toEqual([1, 1, 1, 0, 0])
  })

  it('recognises a command written verbatim or as argv', () => {
    expect(containsCommand(`run(['keys', 'rotate', '--force'])`, 'npx latchkey keys rotate --force   # now')).toBe(true)
    expect(containsCommand(`const block = 'curl -s http://127.0.0.1:3000/me'`, 'curl -s http://127.0.0.1:3000/me \\\n  -H "x: y"')).toBe(true)
    expect(containsCommand(`run(['keys', 'list'])`, 'npx latchkey keys rotate --force')).toBe(false)
  })
})
