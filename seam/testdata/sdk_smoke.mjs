// sdk_smoke.mjs drives a Seam API server with Seam's own JavaScript SDK
// (@seamapi/http, pinned in package.json), the way a third-party client of the
// Latchkey sandbox would: list a user's devices (page by page, then in one go),
// create a Connect Webview, unlock a lock and wait for the action attempt.
//
// Run from the repository root so that node_modules resolves:
//
//   SEAM_ENDPOINT=http://127.0.0.1:PORT SEAM_API_KEY=seam_… USER_KEY=user-1 EXPECT=3 \
//     node seam/testdata/sdk_smoke.mjs
//
// It prints one JSON summary line on stdout and exits 1 on any mismatch, 2 on
// bad usage. The API key is never printed.
import { SeamHttp } from '@seamapi/http/connect'

const usage = (msg) => {
  console.error(`sdk_smoke: ${msg}`)
  process.exit(2)
}

const endpoint = process.env.SEAM_ENDPOINT
const apiKey = process.env.SEAM_API_KEY
const userKey = process.env.USER_KEY
const expect = Number.parseInt(process.env.EXPECT ?? '', 10)
if (!endpoint || !apiKey || !userKey) usage('SEAM_ENDPOINT, SEAM_API_KEY and USER_KEY are required')
if (!Number.isInteger(expect) || expect < 2) usage('EXPECT must be an integer >= 2 (pagination needs two pages)')

const problems = []
const check = (ok, msg) => {
  if (!ok) problems.push(msg)
}

const seam = SeamHttp.fromApiKey(apiKey, {
  endpoint,
  // The sandbox runs with a short action delay; poll quickly, give up well
  // before the Go test's own timeout.
  waitForActionAttempt: { pollingInterval: 10, timeout: 5000 },
})

const summary = { sdk: '@seamapi/http', node: process.version }
try {
  // 1. The user's devices in one page, as a portal would list them.
  const devices = await seam.devices.list({ user_identifier_key: userKey })
  summary.devices = devices.length
  summary.device_ids = devices.map((d) => d.device_id).sort()
  check(devices.length === expect, `devices/list: ${devices.length} devices, want ${expect}`)
  for (const d of devices) {
    check(typeof d.device_id === 'string' && d.device_id !== '', 'device without device_id')
    check(typeof d.display_name === 'string', `device ${d.device_id}: display_name not a string`)
    check(typeof d.properties?.locked === 'boolean', `device ${d.device_id}: properties.locked not a boolean`)
    check(Array.isArray(d.capabilities_supported), `device ${d.device_id}: capabilities_supported not an array`)
  }

  // 2. The same list through the SDK's paginator, one device per page: proves
  // the server's page_cursor round-trips through the SDK's GET query.
  const paged = await seam
    .createPaginator(seam.devices.list({ user_identifier_key: userKey, limit: 1 }))
    .flattenToArray()
  summary.paged_devices = paged.length
  const pagedIDs = paged.map((d) => d.device_id).sort()
  check(JSON.stringify(pagedIDs) === JSON.stringify(summary.device_ids),
    `paginated devices/list: ${JSON.stringify(pagedIDs)}, want ${JSON.stringify(summary.device_ids)}`)

  // 3. A Connect Webview for the user to sign in with.
  const webview = await seam.connectWebviews.create({
    custom_redirect_url: 'http://127.0.0.1:8080/connect/done',
    wait_for_device_creation: true,
  })
  summary.connect_webview_id = webview.connect_webview_id
  summary.webview_status = webview.status
  check(typeof webview.connect_webview_id === 'string' && webview.connect_webview_id !== '', 'connect_webviews/create: no connect_webview_id')
  check(webview.status === 'pending', `connect_webviews/create: status ${webview.status}, want pending`)
  check(typeof webview.url === 'string' && webview.url.startsWith('http'), `connect_webviews/create: url ${webview.url}`)
  const got = await seam.connectWebviews.get({ connect_webview_id: webview.connect_webview_id })
  check(got.connect_webview_id === webview.connect_webview_id, 'connect_webviews/get: another webview')

  // 4. Unlock a locked device once, then let the SDK poll action_attempts/get
  // until the attempt leaves "pending" (the client's waitForActionAttempt above
  // applies to every request whose answer is an action attempt).
  const target = devices.find((d) => d.properties?.locked === true && d.can_remotely_unlock)
  check(target != null, 'no locked, remotely unlockable device to unlock')
  if (target != null) {
    summary.unlocked_device_id = target.device_id
    const started = await seam.locks.unlockDoor({ device_id: target.device_id }, { waitForActionAttempt: false })
    summary.action_attempt_id = started.action_attempt_id
    summary.initial_status = started.status
    check(started.status === 'pending', `unlock: status ${started.status}, want pending at first`)
    const attempt = await seam.actionAttempts.get({ action_attempt_id: started.action_attempt_id })
    summary.action_type = attempt.action_type
    summary.action_status = attempt.status
    check(attempt.action_attempt_id === started.action_attempt_id, 'action_attempts/get: another attempt')
    check(attempt.action_type === 'UNLOCK_DOOR', `unlock: action_type ${attempt.action_type}`)
    check(attempt.status === 'success', `unlock: status ${attempt.status}, want success`)
    const after = await seam.devices.get({ device_id: target.device_id })
    summary.locked_after = after.properties?.locked
    check(after.properties?.locked === false, `devices/get after unlock: locked ${after.properties?.locked}, want false`)
  }
} catch (err) {
  // SeamHttpApiError carries code, statusCode and requestId; nothing here holds the key.
  problems.push(`${err.name}: ${err.message}${err.code ? ` (${err.code}, HTTP ${err.statusCode})` : ''}`)
}

summary.ok = problems.length === 0
summary.problems = problems
console.log(JSON.stringify(summary))
process.exit(summary.ok ? 0 : 1)
