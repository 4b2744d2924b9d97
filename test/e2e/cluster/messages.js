#!/usr/bin/env node
// The messaging check of checks.sh: what a subscriber printed against what was published.
//   node messages.js check TOPIC INBOX PUBLISHER PUBLISHED SENT LOG
// PUBLISHED: one line per `pastry pub --json` from the host, in order: its JSON output, a
// tab, the payload sent. SENT: the same for the one `pastry send --json`. LOG: the client
// pod's output: `pastry sub TOPIC --from 1 --count N --json` lines (plus anything it said on
// stderr), then a line `--- inbox ...` and the `pastry sub --inbox INBOX --from 1 --count 1
// --json` output.
// Passes (printing a summary) when the topic's subscriber got exactly the published messages,
// sequences 1..N in order, each with its payload, id and publisher, no gap, and the inbox
// the sent message; else exits 1 printing what differs and what was received.
'use strict';
const fs = require('node:fs');

const [op, topic, inbox, publisher, publishedFile, sentFile, logFile] = process.argv.slice(2);
if (op !== 'check' || !logFile) {
  console.error('usage: messages.js check TOPIC INBOX PUBLISHER PUBLISHED SENT LOG');
  process.exit(2);
}

/** [{ sequence, id, payload }] from lines `<pub --json output>\t<payload>`. */
function sentLines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((line) => {
    const tab = line.indexOf('\t');
    const r = JSON.parse(line.slice(0, tab));
    return { sequence: r.sequence, id: r.id, payload: line.slice(tab + 1) };
  });
}

/** The JSON lines of a section of the log ({ messages, gaps }) and the rest (stderr). */
function received(lines) {
  const out = { messages: [], gaps: [], other: [] };
  for (const line of lines) {
    let v;
    try {
      v = line.startsWith('{') ? JSON.parse(line) : undefined;
    } catch {
      v = undefined;
    }
    if (v === undefined) {
      if (line.trim() !== '' && !line.startsWith('--- ')) out.other.push(line);
    } else if (v.gap) out.gaps.push(v.gap);
    else out.messages.push(v);
  }
  return out;
}

/** Problems with `got` (received messages) against `want` (published), in order. */
function compare(what, wantTopic, want, got) {
  const bad = [];
  if (got.gaps.length > 0) bad.push(`${what}: gap events ${JSON.stringify(got.gaps)}`);
  if (got.messages.length !== want.length) bad.push(`${what}: ${got.messages.length} messages, expected ${want.length}`);
  const seqs = got.messages.map((m) => m.sequence);
  const missing = want.map((_, i) => i + 1).filter((s) => !seqs.includes(s));
  const repeated = seqs.filter((s, i) => seqs.indexOf(s) !== i);
  if (missing.length > 0) bad.push(`${what}: sequences missing: ${missing.join(', ')}`);
  if (repeated.length > 0) bad.push(`${what}: sequences received more than once: ${repeated.join(', ')}`);
  for (let i = 0; i < Math.max(want.length, got.messages.length); i++) {
    const w = want[i];
    const g = got.messages[i];
    if (!w || !g) continue;
    const diffs = [];
    if (g.sequence !== i + 1) diffs.push(`sequence ${g.sequence}, expected ${i + 1}`);
    if (g.topic !== wantTopic) diffs.push(`topic ${JSON.stringify(g.topic)}, expected ${JSON.stringify(wantTopic)}`);
    if (g.payload !== w.payload) diffs.push(`payload ${JSON.stringify(g.payload ?? g.payloadBase64)}, expected ${JSON.stringify(w.payload)}`);
    if (g.id !== w.id) diffs.push(`id ${g.id}, the publish answered ${w.id}`);
    if (g.publisher !== publisher) diffs.push(`publisher ${JSON.stringify(g.publisher)}, expected ${JSON.stringify(publisher)}`);
    if (diffs.length > 0) bad.push(`${what}, message ${i + 1}: ${diffs.join('; ')}`);
  }
  return bad;
}

const published = sentLines(publishedFile);
const sent = sentLines(sentFile);
const log = fs.readFileSync(logFile, 'utf8').split('\n');
const cut = log.findIndex((l) => l.startsWith('--- inbox'));
const topicGot = received(cut < 0 ? log : log.slice(0, cut));
const inboxGot = received(cut < 0 ? [] : log.slice(cut + 1));

const bad = [];
// The topic was new: its root numbered the publishes 1..N in the order they were made.
published.forEach((p, i) => {
  if (p.sequence !== i + 1) bad.push(`publish ${i + 1} was answered with sequence ${p.sequence}`);
});
if (sent.length !== 1 || sent[0].sequence !== 1) bad.push(`the send was answered with ${JSON.stringify(sent)}, expected sequence 1 of a new inbox`);
bad.push(...compare(`topic ${topic}`, topic, published, topicGot));
if (cut < 0) bad.push('no inbox section in the client pod output');
else bad.push(...compare(`inbox ${inbox}`, `inbox/${inbox}`, sent, inboxGot));

if (bad.length > 0) {
  console.log(bad.join('\n'));
  const show = (m) => `  ${m.sequence} ${JSON.stringify(m.payload ?? m.payloadBase64)} id ${m.id} from ${JSON.stringify(m.publisher)}`;
  console.log(`received on ${topic} (${topicGot.messages.length}):\n${topicGot.messages.map(show).join('\n')}`);
  console.log(`received on inbox ${inbox} (${inboxGot.messages.length}):\n${inboxGot.messages.map(show).join('\n')}`);
  const other = [...topicGot.other, ...inboxGot.other];
  if (other.length > 0) console.log(`other output:\n  ${other.join('\n  ')}`);
  process.exit(1);
}
console.log(`${topic}: ${published.length} messages, sequences 1..${published.length} in order with the published payloads and ids; ` +
  `inbox ${inbox}: the sent message (id ${sent[0].id.slice(0, 8)}..)` +
  (topicGot.other.length + inboxGot.other.length > 0 ? ` (stderr: ${[...topicGot.other, ...inboxGot.other].join(' | ')})` : ''));
