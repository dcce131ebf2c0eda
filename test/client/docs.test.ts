import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const root = new URL('../../', import.meta.url)

/** The ```sh and ```http blocks of a Markdown file, each with the comment line just above it. */
export function shellBlocks(markdown: string): Array<{ line: number; annotation: string | undefined; body: string }> {
  const lines = markdown.split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|http)\s*$/.test(lines[i]!)) continue
    const end = lines.indexOf('```', i + 1)
    blocks.push({ line: i + 1, annotation: lines[i - 1]?.match(/^<!-- (test: \S+|not-run: .+) -->$/)?.[1], body: lines.slice(i + 1, end).join('\n') })
    i = end
  }
  return blocks
}

describe('docs/client.md command blocks', () => {
  const doc = readFileSync(new URL('docs/client.md', root), 'utf8')

  it('each says which test runs it, or why none does', () => {
    const blocks = shellBlocks(doc)
    expect(blocks.length).toBeGreaterThan(0)
    for (const block of blocks) expect(block.annotation, `docs/client.md:${block.line} has no <!-- test: … --> or <!-- not-run: … -->`).toBeDefined()
  })

  it('a named test exists and runs the npm script of the block', () => {
    for (const block of shellBlocks(doc).filter((b) => b.annotation?.startsWith('test: '))) {
      const file = new URL(block.annotation!.slice('test: '.length), root)
      expect(existsSync(file), `${file.pathname} (docs/client.md:${block.line})`).toBe(true)
      const source = readFileSync(file, 'utf8')
      for (const script of block.body.matchAll(/npm run (\S+)/g)) expect(source, `docs/client.md:${block.line}`).toContain(`'${script[1]}'`)
    }
  })

  it('the check notices a missing annotation', () => {
    expect(shellBlocks('text\n```sh\nnpm test\n```\n')[0]!.annotation).toBeUndefined()
  })
})
