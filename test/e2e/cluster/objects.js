#!/usr/bin/env node
// Object checks for the e2e scripts, through the built CLI's client (dist/):
//   node objects.js put|read PREFIX COUNT TARGET
//     PREFIX-1..COUNT through TARGET, each tried up to 5 times (a read may meet UNAVAILABLE
//     while a departed pod's replicas are replaced, never a wrong value);
//   node objects.js replicated PREFIX COUNT K SECONDS NAME=IP:PORT...
//     waits until each object has a copy on each of its K closest pods (ids from the pod
//     names: the chart's default id scheme), printing how long that took.
// Exit 1 naming what failed.
'use strict';
const path = require('node:path');
const dist = path.resolve(__dirname, '../../../dist');
const { PastryClient } = require(`${dist}/services/cli/src/client.js`);
const { underReplicated } = require(`${dist}/services/cli/src/replicas.js`);
const { guidForName } = require(`${dist}/services/node/src/dht/guid.js`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const [op, prefix, countArg, ...rest] = process.argv.slice(2);
const count = Number(countArg);
const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);

async function putOrRead(target) {
  const c = new PastryClient(target, 15000);
  const bad = [];
  for (const name of names) {
    const value = `value-${name}`;
    let ok = false;
    let last = '';
    for (let a = 0; a < 5 && !ok; a++) {
      try {
        if (op === 'put') {
          await c.put(name, Buffer.from(value));
          ok = true;
        } else {
          const got = (await c.get(name)).value.toString();
          ok = got === value;
          last = `read "${got}"`;
          if (!ok) break;
        }
      } catch (e) {
        last = String(e.message || e);
        await sleep(1000);
      }
    }
    if (!ok) bad.push(`${name}: ${last}`);
  }
  c.close();
  if (bad.length > 0) {
    console.error(`${bad.length} of ${count} failed:\n${bad.slice(0, 5).join('\n')}`);
    process.exit(1);
  }
}

async function replicated(k, seconds, podArgs) {
  const pods = podArgs.map((a) => {
    const [name, address] = a.split('=');
    return { name, address, id: guidForName(name) };
  });
  const guids = names.map((n) => guidForName(n));
  const t0 = Date.now();
  let missing = [];
  while (Date.now() - t0 < seconds * 1000) {
    try {
      missing = await underReplicated(pods, guids, k);
      if (missing.length === 0) {
        console.log(`${count} objects on all ${k} of their replicas after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return;
      }
    } catch (e) {
      missing = [String(e.message || e)];
    }
    await sleep(1000);
  }
  console.error(`after ${seconds} s, ${missing.length} of ${count} objects short of ${k} replicas:\n${missing.slice(0, 5).join('\n')}`);
  process.exit(1);
}

(async () => {
  if ((op === 'put' || op === 'read') && rest.length === 1 && count > 0) await putOrRead(rest[0]);
  else if (op === 'replicated' && rest.length >= 3 && count > 0) await replicated(Number(rest[0]), Number(rest[1]), rest.slice(2));
  else {
    console.error('usage: objects.js put|read PREFIX COUNT TARGET | replicated PREFIX COUNT K SECONDS NAME=IP:PORT...');
    process.exit(2);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
