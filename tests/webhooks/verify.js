// verify.js - checks every recorded webhook request with the npm standardwebhooks package
// (an implementation independent of apf's). Input: a file of JSON lines
// {secret, id, timestamp, signature, body} written by tests/api/whrecv.c.
// Prints "verified N" and exits 0 when every signature verifies, else names the first failure
// and exits 1. Usage: node verify.js FILE
'use strict';
const fs = require('fs');
const { Webhook } = require('standardwebhooks');

const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.length);
let n = 0;
for (const line of lines) {
  const r = JSON.parse(line);
  const wh = new Webhook(r.secret);
  try {
    const payload = wh.verify(r.body, {
      'webhook-id': r.id,
      'webhook-timestamp': r.timestamp,
      'webhook-signature': r.signature,
    });
    if (payload.id !== r.id) throw new Error(`body id ${payload.id} is not webhook-id ${r.id}`);
  } catch (e) {
    console.log(`FAILED ${r.id}: ${e.message}`);
    process.exit(1);
  }
  n++;
}
console.log(`verified ${n}`);
