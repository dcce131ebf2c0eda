import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Every message Latchkey sends; each has `<name>.txt` (first line `Subject: …`) and `<name>.html`. */
export const MAIL_TEMPLATE_NAMES = ['verify_email', 'confirm_email_change', 'email_change_notice', 'reset_password', 'password_changed'] as const
export type MailTemplateName = (typeof MAIL_TEMPLATE_NAMES)[number]

export interface MailTemplate {
  subject: string
  text: string
  html: string
}

export type MailTemplates = Record<MailTemplateName, MailTemplate>

export interface RenderedMail {
  subject: string
  text: string
  html: string
}

export const BUILT_IN_TEMPLATES_DIR = fileURLToPath(new URL('./templates/', import.meta.url))

export class MailTemplateError extends Error {
  override name = 'MailTemplateError'
}

function parseText(name: string, source: string): { subject: string; text: string } {
  const match = /^Subject: *(.+)\r?\n\r?\n/.exec(source)
  if (!match) throw new MailTemplateError(`mail template ${name}.txt must start with "Subject: …" and a blank line`)
  return { subject: match[1]!.trim(), text: source.slice(match[0].length) }
}

/**
 * Reads the templates: each file from `overrideDir` (MAIL_TEMPLATES_DIR) when it has one, else the
 * built-in one, so a deployment replaces only what it wants to. Read once at start (by server.ts);
 * a broken template stops the start rather than the first send.
 */
export function loadMailTemplates(overrideDir?: string): MailTemplates {
  const read = (file: string) => {
    const custom = overrideDir === undefined ? undefined : join(overrideDir, file)
    return readFileSync(custom && existsSync(custom) ? custom : join(BUILT_IN_TEMPLATES_DIR, file), 'utf8')
  }
  const templates = {} as MailTemplates
  for (const name of MAIL_TEMPLATE_NAMES) {
    templates[name] = { ...parseText(name, read(`${name}.txt`)), html: read(`${name}.html`) }
  }
  return templates
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)

function fill(template: string, data: Record<string, string>, escape: (v: string) => string): string {
  // An unknown placeholder renders empty rather than leaking "{{…}}" into a user's mail.
  return template.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_, key: string) => escape(data[key] ?? ''))
}

/** Fills `{{name}}` placeholders: as they are in the subject and text, HTML-escaped in the HTML. */
export function renderMail(templates: MailTemplates, name: string, data: Record<string, string>): RenderedMail {
  const template = templates[name as MailTemplateName]
  if (!template) throw new MailTemplateError(`no mail template named ${name}`)
  const subject = fill(template.subject, data, (v) => v.replace(/[\r\n]+/g, ' '))
  return { subject, text: fill(template.text, data, (v) => v), html: fill(template.html, data, escapeHtml) }
}
