// The stock socket.io-client 4 as a benchmark load generator, with its DEFAULT options
// (long-polling first, then the upgrade to WebSocket; permessage-deflate offered), as a
// browser dashboard connects. Only `forceNew: true` is set, so that each socket is its own
// connection (a browser tab each) instead of sharing one Manager.
//
//   node clients.js agents  URL FIRST COUNT   fan-out receivers (benchmarks/fanout.py)
//   node clients.js hold    URL COUNT AGENTS  connections held with heartbeats (capacity.py)
//   node clients.js receive URL COUNT         one receiver of a burst (sdk_overhead.py)
//
// Talks JSON lines: prints {"ready": ...} once connected, then answers the commands read from
// stdin (one JSON value per line) as documented per mode below. Times are CLOCK_MONOTONIC
// seconds (process.hrtime), the clock of Python's time.monotonic() on Linux.
'use strict';

const readline = require('readline');
const { io } = require('socket.io-client');

const [mode, BASE, ...rest] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const out = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connect() {
  // Resolves once the socket is connected and on WebSocket (the upgrade done).
  const socket = io(BASE, { forceNew: true });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connect timed out')), 60000);
    socket.once('connect', () => {
      const engine = socket.io.engine;
      const done = () => {
        clearTimeout(timer);
        resolve(socket);
      };
      if (engine.transport.name === 'websocket') done();
      else engine.once('upgrade', done);
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function call(socket, event, data) {
  return new Promise((resolve, reject) => {
    socket.timeout(30000).emit(event, data, (error, answer) => (error ? reject(error) : resolve(answer)));
  });
}

async function pool(count, width, make) {
  const made = new Array(count);
  let next = 0;
  let failed = 0;
  async function lane() {
    while (next < count) {
      const i = next++;
      try {
        made[i] = await make(i);
      } catch (error) {
        failed += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: width }, lane));
  return { made: made.filter(Boolean), failed };
}

function commands(handle) {
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = JSON.parse(line);
    if (command === null) {
      process.exit(0);
    }
    Promise.resolve(handle(command)).catch((error) => {
      out({ error: String(error && error.stack ? error.stack : error) });
      process.exit(1);
    });
  });
  lines.on('close', () => process.exit(0));
}

// agents: COUNT agent sockets (ids FIRST..), each joined to the dashboard. Command: a phase
// {event, mode, t_start, t_measure, t_end}; answer after t_end and a quiet 0.3 s:
// {in_window, total, records: [[conversation, index, t], ...] (mode "rate" only)}.
async function agents(first, count) {
  let phase = null;
  let inWindow = 0;
  let total = 0;
  let last = 0;
  let records = [];
  let typingIndex = new Map();
  const on = (agent, event) => (data) => {
    const t = now();
    last = t;
    if (phase === null || phase.event !== event) return;
    total += 1;
    if (t >= phase.t_measure && t <= phase.t_end) inWindow += 1;
    if (phase.mode !== 'rate') return;
    const conv = Number(data.conversationId.slice(data.conversationId.lastIndexOf('c') + 1));
    let index;
    if (event === 'customer-typing-status') {
      const key = agent * 100000 + conv;
      index = typingIndex.get(key) || 0;
      typingIndex.set(key, index + 1);
    } else {
      const content = data.message.content;
      index = Number(content.slice(content.lastIndexOf('#') + 1));
    }
    records.push([conv, index, t]);
  };
  const { made, failed } = await pool(count, 20, async (i) => {
    const agent = first + i;
    const socket = await connect();
    socket.on('customer-typing-status', on(agent, 'customer-typing-status'));
    socket.on('new-message', on(agent, 'new-message'));
    await call(socket, 'join-agent-dashboard', `bench-agent-${agent}`);
    return socket;
  });
  if (failed) throw new Error(`${failed} of ${count} agents did not connect`);
  out({ ready: made.length });
  commands(async (next) => {
    phase = next;
    inWindow = total = 0;
    records = [];
    typingIndex = new Map();
    await sleep(Math.max(0, (phase.t_end - now()) * 1000));
    const limit = now() + 10;
    while (now() < limit && now() - last < 0.3) await sleep(Math.max(1, (0.3 - (now() - last)) * 1000));
    const result = { in_window: inWindow, total, records };
    phase = null;
    out(result);
  });
}

// hold: COUNT connections, the first AGENTS of them agents that send `heartbeat` every 5 s,
// the others customers, each joined to its own conversation (POST /api/conversations).
// Prints {ready: connected, failed}; command "report": {alive, heartbeats, acks, ack_p99}.
async function hold(count, agentCount) {
  let heartbeats = 0;
  const sentAt = new Map();
  const roundTrips = [];
  const { made, failed } = await pool(count, 50, async (i) => {
    if (i < agentCount) {
      const socket = await connect();
      socket.on('heartbeat-ack', () => {
        const started = sentAt.get(i);
        if (started !== undefined) roundTrips.push(now() - started);
        sentAt.delete(i);
      });
      await call(socket, 'join-agent-dashboard', `cap-agent-${i}`);
      return { socket, agent: i };
    }
    const response = await fetch(`${BASE}/api/conversations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ visitorId: `v${i}` }),
    });
    const { conversationId } = await response.json();
    const socket = await connect();
    await call(socket, 'join-conversation', conversationId);
    return { socket, agent: -1 };
  });
  out({ ready: made.length, failed });
  const beat = () => {
    for (const { socket, agent } of made) {
      if (agent < 0 || !socket.connected) continue;
      heartbeats += 1;
      sentAt.set(agent, now());
      socket.emit('heartbeat', { timestamp: Date.now() });
    }
  };
  beat();
  setInterval(beat, 5000);
  commands((command) => {
    if (command !== 'report') return;
    const sorted = [...roundTrips].sort((a, b) => a - b);
    const p99 = sorted.length ? sorted[Math.max(0, Math.ceil(0.99 * sorted.length) - 1)] : null;
    out({
      alive: made.filter(({ socket }) => socket.connected).length,
      heartbeats,
      acks: roundTrips.length,
      ack_p99: p99,
    });
  });
}

// receive: one agent socket counting `new-message`. Prints {ready: 1, cpu} and, once COUNT
// events arrived, {last, count, cpu} (cpu: process CPU seconds so far). The parent stops
// the process (SIGSTOP) while the burst is emitted and starts the clock at SIGCONT.
async function receive(count) {
  const socket = await connect();
  let seen = 0;
  const cpu = () => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  };
  socket.on('new-message', () => {
    seen += 1;
    if (seen === count) out({ last: now(), count: seen, cpu: cpu() });
  });
  await call(socket, 'join-agent-dashboard', 'bench-agent');
  out({ ready: 1, cpu: cpu() });
  commands(() => undefined);
}

const modes = {
  agents: () => agents(Number(rest[0]), Number(rest[1])),
  hold: () => hold(Number(rest[0]), Number(rest[1] || 0)),
  receive: () => receive(Number(rest[0])),
};
if (!BASE || !modes[mode]) {
  process.stderr.write('usage: node clients.js agents|hold|receive URL ...\n');
  process.exit(64);
}
modes[mode]().catch((error) => {
  out({ error: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
