import { API_URL, DPOP } from './config.js'
import { createLatchkeyClient } from './client/index.js'
import { startAccountPage } from './account-page.js'
import { startMailPage } from './mail-pages.js'
import { $ } from './ui.js'

// DPoP (docs/dpop.md): on when the server of this page says so, or when the visitor ticked the box.
// The choice is kept per browser; the key itself lives in IndexedDB, so a reload keeps the binding.
const dpopChoice = localStorage.getItem('latchkey.dpop')
const dpop = dpopChoice === null ? DPOP : dpopChoice === 'on'
$('#use-dpop').checked = dpop
$('#use-dpop').addEventListener('change', (event) => {
  localStorage.setItem('latchkey.dpop', event.target.checked ? 'on' : 'off')
  location.reload()
})

// The three-line setup: one client per page, the refresh token in an HttpOnly cookie (the default).
const latchkey = createLatchkeyClient({ baseUrl: API_URL, dpop })

// Every event is logged, whichever tab caused it: another tab's sign-out arrives here too.
latchkey.onAuthStateChange((event) => {
  $('#event-log').textContent = `${$('#event-log').textContent} ${event}`.trim()
})

const page = location.pathname.replace(/^\/(index\.html)?$/, '/account').slice(1)
document.body.dataset.page = page
$(`#page-${page}`).hidden = false
if (page === 'account') startAccountPage(latchkey)
else startMailPage(page, latchkey)
