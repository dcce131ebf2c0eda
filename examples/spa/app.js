import { API_URL } from './config.js'
import { createLatchkeyClient } from './client/index.js'
import { startAccountPage } from './account-page.js'
import { startMailPage } from './mail-pages.js'
import { $ } from './ui.js'

// The three-line setup: one client per page, the refresh token in an HttpOnly cookie (the default).
const latchkey = createLatchkeyClient({ baseUrl: API_URL })

// Every event is logged, whichever tab caused it: another tab's sign-out arrives here too.
latchkey.onAuthStateChange((event) => {
  $('#event-log').textContent = `${$('#event-log').textContent} ${event}`.trim()
})

const page = location.pathname.replace(/^\/(index\.html)?$/, '/account').slice(1)
document.body.dataset.page = page
$(`#page-${page}`).hidden = false
if (page === 'account') startAccountPage(latchkey)
else startMailPage(page, latchkey)
