#!/usr/bin/env node
// A peer of test_slow_reader: the stock socket.io-client 4 with its DEFAULT options (long-polling
// first, then the upgrade to WebSocket; permessage-deflate offered) as an agent dashboard would
// use it. `forceNew` only so that the process holds its own connection.
//
//   node slow_agent.js http://127.0.0.1:3002
//
// Prints one JSON line per event: {"state": "connected"|"disconnected", ...} and
// {"seq": n, "replayed": bool} per new-message. After every reconnect it re-joins the dashboard
// and recovers what it missed with GET /api/messages?after=<last seq>, as the dashboard does.
'use strict';

const path = require('path');
const { io } = require(path.join(__dirname, '..', 'interop', 'node_modules', 'socket.io-client'));

const BASE = process.argv[2];
const seen = new Set();
let lastSeq = 0;
let catchingUp = null;
let joinedBefore = false;

function line(record) {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

function deliver(message, replayed) {
  if (typeof message.seq !== 'number' || seen.has(message.seq)) return;
  seen.add(message.seq);
  if (message.seq > lastSeq) lastSeq = message.seq;
  line({ seq: message.seq, replayed });
}

async function catchUp() {
  for (;;) {
    const response = await fetch(`${BASE}/api/messages?after=${lastSeq}&limit=1000`);
    if (!response.ok) throw new Error(`GET /api/messages answered ${response.status}`);
    const page = await response.json();
    for (const message of page.messages) deliver(message, true);
    if (page.messages.length < 1000) return;
  }
}

const socket = io(BASE, { forceNew: true });
let held = [];
socket.on('connect', () => {
  line({ state: 'connected', transport: socket.io.engine.transport.name });
  socket.emit('join-agent-dashboard', 'slow-node-agent', () => {
    const first = !joinedBefore;
    joinedBefore = true;
    catchingUp = (first ? Promise.resolve() : catchUp())
      .catch((error) => line({ error: String(error) }))
      .then(() => {
        catchingUp = null;
        const pending = held;
        held = [];
        for (const message of pending) deliver(message, false);
        line({ state: 'joined' });
      });
  });
});
socket.io.engine.on('upgrade', (transport) => line({ upgraded: transport.name }));
socket.on('disconnect', (reason) => line({ state: 'disconnected', reason }));
socket.on('new-message', (event) => {
  if (catchingUp) held.push(event.message);
  else deliver(event.message, false);
});
process.on('SIGTERM', () => {
  socket.disconnect();
  process.exit(0);
});
