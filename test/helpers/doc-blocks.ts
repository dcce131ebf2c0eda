import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The documentation's code blocks and the convention that keeps them true: every ```sh / ```http
 * block (and bash, shell, console) in README.md and docs/*.md is preceded by
 *   <!-- test: test/path/to/file.test.ts -->   the test that runs it (and contains the command), or
 *   <!-- not-run: why -->                        why no test runs it.
 * test/docs/doc-commands.test.ts enforces it; tests that run a block find it with `docBlock`.
 */
export const ROOT = new URL('../..', import.meta.url).pathname
export const CHECKED_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console', 'http'])

export type Marker = { kind: 'test'; path: string } | { kind: 'not-run'; reason: string }

export interface DocBlock {
  /** Relative to the repository root, e.g. `docs/operations.md`. */
  file: string
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  marker: Marker | null
  body: string
}

/** README.md and every docs/*.md, relative to the repository root. */
export function docFiles(root = ROOT): string[] {
  const docs = existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`) : []
  return ['README.md', ...docs]
}

/** Every fenced block of a Markdown text, with the marker line above it, if any. */
export function parseBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split('\n')
  const blocks: DocBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!)
    if (!open) continue
    const fence = open[2]!
    let end = i + 1
    while (end < lines.length && !lines[end]!.trim().startsWith(fence)) end++
    let above = i - 1
    while (above >= 0 && lines[above]!.trim() === '') above--
    blocks.push({ file, line: i + 1, lang: open[3]!.toLowerCase(), marker: above >= 0 ? parseMarker(lines[above]!) : null, body: lines.slice(i + 1, end).join('\n') })
    i = end
  }
  return blocks
}

export function parseMarker(line: string): Marker | null {
  const test = /^\s*<!--\s*test:\s*(\S+)\s*-->\s*$/.exec(line)
  if (test) return { kind: 'test', path: test[1]! }
  const notRun = /^\s*<!--\s*not-run:\s*(.*?)\s*-->\s*$/.exec(line)
  if (notRun) return { kind: 'not-run', reason: notRun[1]! }
  return null
}

export function readDoc(file: string, root = ROOT): string {
  return readFileSync(join(root, file), 'utf8')
}

/** The blocks the convention covers in one documentation file. */
export function checkedBlocks(file: string, root = ROOT): DocBlock[] {
  return parseBlocks(readDoc(file, root), file).filter((b) => CHECKED_LANGUAGES.has(b.lang))
}

/**
 * The one block of `file` that contains `snippet` and names `testFile` as the test that runs it.
 * Tests that run documentation call this with a recognisable part of the command, so the test file
 * holds that text and doc-commands.test.ts can see that the test runs that block.
 */
export function docBlock(file: string, snippet: string, testFile: string): string {
  const matches = checkedBlocks(file).filter((b) => b.body.includes(snippet))
  if (matches.length !== 1) throw new Error(`${file}: ${matches.length} blocks contain ${JSON.stringify(snippet)}; expected exactly one`)
  const [block] = matches
  if (block!.marker?.kind !== 'test' || block!.marker.path !== testFile) {
    throw new Error(`${file}:${block!.line}: the block containing ${JSON.stringify(snippet)} must be marked <!-- test: ${testFile} -->`)
  }
  return block!.body
}

/** The lines of a block that are commands or requests: no comments, blanks or continuation marks. */
export function commandLines(body: string): string[] {
  return body
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').replace(/\s*\\$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
}

/**
 * Whether a test's source holds a recognisable part of a block: the first 24 characters of one of
 * its command lines, or three consecutive words of one as consecutive string literals (argv form,
 * e.g. `['keys', 'rotate', '--force']`).
 */
export function containsCommand(testSource: string, body: string): boolean {
  for (const line of commandLines(body)) {
    if (testSource.includes(line.slice(0, 24))) return true
    const words = line.split(/\s+/)
    const width = Math.min(3, words.length)
    if (width < 2) continue
    for (let i = 0; i + width <= words.length; i++) {
      const window = words.slice(i, i + width).map((w) => `['"\`]${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"\`]`)
      if (new RegExp(window.join(',\\s*')).test(testSource)) return true
    }
  }
  return false
}

/**
 * Runs a documentation block in bash (`set -euo pipefail`) from the repository root, so `npx latchkey`
 * is this checkout's CLI; the block's `http://127.0.0.1:3000` becomes `url` when given.
 */
export function runBlock(body: string, options: { url?: string; env?: Record<string, string>; timeoutMs?: number } = {}) {
  const script = options.url ? body.replaceAll('http://127.0.0.1:3000', options.url) : body
  return spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    env: { ...process.env, LATCHKEY_PASSWORD: undefined, ...options.env } as NodeJS.ProcessEnv,
  })
}
