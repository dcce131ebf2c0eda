import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { docFiles, parseBlocks, readDoc, ROOT } from '../helpers/doc-blocks.ts'

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  const inBlock = new Set(parseBlocks(markdown, '').flatMap((b) => Array.from({ length: b.body.split('\n').length + 2 }, (_, i) => b.line + i)))
  markdown.split('\n').forEach((line, i) => {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (!heading || inBlock.has(i + 1)) return
    const slug = heading[1]!
      .toLowerCase()
      .replace(/<[^>]+>/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    anchors.add(n === 0 ? slug : `${slug}-${n}`)
  })
  for (const m of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!)
  return anchors
}

/** Every Markdown link target outside code: `[text](target)` and `[label]: target`. */
export function linkTargets(markdown: string): string[] {
  const withoutCode = parseBlocks(markdown, '').reduce((text, b) => text.replace(b.body, ''), markdown).replace(/`[^`\n]*`/g, '')
  const inline = [...withoutCode.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!)
  const references = [...withoutCode.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!)
  return [...inline, ...references]
}

/** Why a relative link from `file` does not resolve, or null when it does. */
function brokenLink(file: string, target: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null // http:, https:, mailto:
  const [path, anchor] = target.split('#') as [string, string | undefined]
  const resolved = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)))
  if (resolved.startsWith('..')) return `${file}: ${target} leaves the repository`
  const absolute = join(ROOT, resolved)
  if (!existsSync(absolute)) return `${file}: ${target} → ${resolved} does not exist`
  if (anchor === undefined || anchor === '') return null
  if (!resolved.endsWith('.md') || statSync(absolute).isDirectory()) return `${file}: ${target} has an anchor into a file that is not Markdown`
  return headingAnchors(readFileSync(absolute, 'utf8')).has(anchor) ? null : `${file}: ${target}: no heading #${anchor} in ${resolved}`
}

describe('links in the documentation', () => {
  it('every relative link and anchor in README.md and docs/*.md resolves', () => {
    const broken = docFiles().flatMap((file) => linkTargets(readDoc(file)).map((t) => brokenLink(file, t)).filter((p) => p !== null))
    expect(broken).toEqual([])
  })

  it('the README links to every guide in docs/', () => {
    const targets = new Set(linkTargets(readDoc('README.md')).map((t) => t.split('#')[0]))
    const missing = docFiles().filter((f) => f !== 'README.md' && !targets.has(f))
    expect(missing).toEqual([])
  })

  it("every alert's runbook annotation names a section of docs/operations.md", () => {
    const rules = (parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; annotations: { runbook?: string } }> }> }).groups.flatMap((g) => g.rules)
    const broken = rules.map((r) => (r.annotations.runbook ? brokenLink('README.md', r.annotations.runbook) : `${r.alert} has no runbook`)).filter((p) => p !== null)
    expect(broken).toEqual([])
  })

  it('the checker finds a missing file and a missing anchor, and GitHub-style anchors', () => {
    expect(brokenLink('README.md', 'docs/no-such-guide.md')).toMatch(/does not exist/)
    expect(brokenLink('README.md', 'docs/operations.md#no-such-section')).toMatch(/no heading/)
    expect(brokenLink('README.md', 'https://example.com/x')).toBeNull()
    const anchors = headingAnchors('# A `code` title: yes!\n## Twice\n## Twice\n```sh\n# not a heading\n```\n')
    expect([...anchors]).toEqual(['a-code-title-yes', 'twice', 'twice-1'])
    expect(linkTargets('see [a](docs/a.md#x) and `[b](not/a/link.md)`\n[ref]: docs/r.md\n')).toEqual(['docs/a.md#x', 'docs/r.md'])
  })
})
