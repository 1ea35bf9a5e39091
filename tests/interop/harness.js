// The harness of the interop flow scripts (flows.js, lizdeika_flows.js): a socket.io-client
// peer that logs every event so checks can await them, HTTP, bounded waits, and the report.
//
// Each check prints one JSON line ({"check", "ok", "ms", "error"?}); `run` prints a final summary
// line and exits 1 when any check failed and 2 on the global timeout. Never sleeps to
// synchronise: every wait is for an event or an HTTP answer, bounded by a timeout.
'use strict';

const { io } = require('socket.io-client');

const args = process.argv.slice(2);
const BASE = args.find((arg) => /^https?:\/\//.test(arg));
const SCALE = Number(process.env.VILNIUS_TEST_TIMEOUT_SCALE || '1');
const WAIT_MS = 5000 * SCALE;
const GLOBAL_MS = Number(process.env.INTEROP_GLOBAL_TIMEOUT_MS || 60000 * SCALE);

/** The value that follows `name` on the command line (undefined without it). */
function option(name) {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

const results = [];
const sockets = new Set();

function emitLine(record) {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

class CheckError extends Error {}

function assert(condition, message, detail) {
  if (!condition) {
    const suffix = detail === undefined ? '' : `: ${JSON.stringify(detail).slice(0, 600)}`;
    throw new CheckError(`${message}${suffix}`);
  }
}

function withTimeout(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A socket.io-client socket that logs every event so checks can await them. */
class Peer {
  constructor(name, { token, connect = true, transports = ['websocket'], url = BASE } = {}) {
    this.name = name;
    this.log = [];
    this.waiters = [];
    // transports: null keeps socket.io-client's default (long-polling, then upgrade), as a browser does.
    const options = { reconnection: false, forceNew: true, timeout: WAIT_MS };
    if (transports) options.transports = transports;
    if (token !== undefined) options.auth = { token };
    this.socket = io(url, { ...options, autoConnect: false });
    sockets.add(this.socket);
    this.socket.onAny((event, ...payload) => {
      this.log.push({ event, data: payload[0] });
      this.waiters = this.waiters.filter((waiter) => !waiter());
    });
    if (connect) this.connectPromise = this.connect();
  }

  connect() {
    return withTimeout(
      new Promise((resolve, reject) => {
        this.socket.once('connect', resolve);
        this.socket.once('connect_error', reject);
        this.socket.connect();
      }),
      `${this.name} to connect`,
    );
  }

  mark() {
    return this.log.length;
  }

  /** The first `event` received at or after `mark` whose payload satisfies `predicate`. */
  waitFor(event, mark, predicate = () => true) {
    const find = () => this.log.slice(mark).find((entry) => entry.event === event && predicate(entry.data));
    return withTimeout(
      new Promise((resolve) => {
        const hit = find();
        if (hit) {
          resolve(hit.data);
          return;
        }
        this.waiters.push(() => {
          const found = find();
          if (found) resolve(found.data);
          return Boolean(found);
        });
      }),
      `${event} on ${this.name} (got ${JSON.stringify(this.log.slice(mark).map((entry) => entry.event))})`,
    );
  }

  since(mark, event) {
    return this.log.slice(mark).filter((entry) => entry.event === event).map((entry) => entry.data);
  }

  emit(event, ...payload) {
    this.socket.emit(event, ...payload);
  }

  /** Emit with an acknowledgement callback and return what the server acknowledged. */
  emitWithAck(event, ...payload) {
    return withTimeout(this.socket.timeout(WAIT_MS).emitWithAck(event, ...payload), `ack of ${event}`);
  }

  /** A round trip on this socket: everything the server sent before it has arrived. */
  async barrier() {
    const mark = this.mark();
    this.emit('request-current-state', 'system-mode');
    await this.waitFor('current-state', mark, (data) => data && data.type === 'system-mode');
  }

  close() {
    this.socket.disconnect();
    sockets.delete(this.socket);
  }
}

async function http(method, path, { body, token, raw, headers: extra = {} } = {}) {
  const headers = { ...extra };
  if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await withTimeout(
    fetch(BASE + path, {
      method,
      headers,
      body: raw !== undefined ? raw : body !== undefined ? JSON.stringify(body) : undefined,
    }),
    `${method} ${path}`,
  );
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

function assertOk(response, status, what) {
  assert(response.status === status, `${what}: expected HTTP ${status}, got ${response.status}`, response.text);
  assert(response.json !== undefined, `${what}: answer is not JSON`, response.text);
  return response.json;
}

async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    const record = { check: name, ok: true, ms: Date.now() - started };
    results.push(record);
    emitLine(record);
  } catch (error) {
    const record = { check: name, ok: false, ms: Date.now() - started, error: String(error && error.message ? error.message : error) };
    results.push(record);
    emitLine(record);
  }
}

/** Run `main` within the global timeout, then print the summary line and exit. */
function run(main) {
  const globalTimer = setTimeout(() => {
    emitLine({ check: 'global-timeout', ok: false, error: `not done within ${GLOBAL_MS} ms` });
    for (const socket of sockets) socket.disconnect();
    process.exit(2);
  }, GLOBAL_MS);
  main()
    .catch((error) => {
      results.push({ check: 'crash', ok: false });
      emitLine({ check: 'crash', ok: false, error: String(error && error.stack ? error.stack : error) });
    })
    .finally(() => {
      clearTimeout(globalTimer);
      for (const socket of sockets) socket.disconnect();
      const failed = results.filter((record) => !record.ok).map((record) => record.check);
      emitLine({ summary: true, ok: failed.length === 0, passed: results.length - failed.length, failed });
      process.exit(failed.length === 0 ? 0 : 1);
    });
}

module.exports = { BASE, option, emitLine, CheckError, assert, Peer, http, assertOk, check, run };
