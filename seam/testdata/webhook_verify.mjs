// webhook_verify.mjs checks one webhook delivery with Seam's own webhook SDK
// (@seamapi/webhook, pinned in package.json): the way a Seam customer verifies the
// Svix signature of what Seam sends.
//
// Run from the repository root so that node_modules resolves:
//
//   WEBHOOK_SECRET=whsec_… node seam/testdata/webhook_verify.mjs DELIVERY.json
//
// DELIVERY.json is {"payload": "<raw body>", "headers": {"svix-id": …, …}}. It
// prints one JSON line on stdout: {"ok": true, "event_type": …, "event_id": …} when
// the signature verifies, {"ok": false, "error": …} otherwise (exit 1); 2 on bad
// usage. The secret is never printed.
import { readFileSync } from 'node:fs'
import { SeamWebhook } from '@seamapi/webhook'

const usage = (msg) => {
  console.error(`webhook_verify: ${msg}`)
  process.exit(2)
}

const secret = process.env.WEBHOOK_SECRET
const file = process.argv[2]
if (!secret || !file) usage('WEBHOOK_SECRET and a delivery file are required')

let delivery
try {
  delivery = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  usage(`read ${file}: ${err.message}`)
}
if (typeof delivery.payload !== 'string' || typeof delivery.headers !== 'object') usage('the file needs payload (string) and headers (object)')

try {
  const event = new SeamWebhook(secret).verify(delivery.payload, delivery.headers)
  console.log(JSON.stringify({ ok: true, event_type: event.event_type, event_id: event.event_id }))
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: `${err.name}: ${err.message}` }))
  process.exit(1)
}
