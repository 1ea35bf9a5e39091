// An independent Vilnius server: Node.js + socket.io 4, written from CONTRACT.md alone.
//
// It exists to prove that the Python SDK works against a server that is not ours
// (tests/contract_node/test_sdk_against_node.py). It follows the contract the way the
// production Node.js server would, and deliberately differs from the bundled Python
// reference server (mock_server) wherever the contract allows:
//   - ids are UUIDs (conversations, messages); agent names differ from their ids;
//   - payloads carry extra fields the SDK does not know (serverVersion, channel, ...);
//   - new-message carries an aiSuggestion (a Message) in hitl mode;
//   - heartbeat-ack echoes the client's timestamp exactly as received (epoch ms);
//   - tokens are JWTs (HS256), agent tokens live one hour;
//   - ties in auto-assignment go to the agent that joined first; busy from 3 chats;
//   - join-conversation and typing do not check that the conversation exists
//     (socket.join, like the production server); an agent whose last socket leaves
//     hands its chats to the other available agents (tickets-reassigned agent_offline);
//   - GET /api/messages pages hold at most 500 messages (default 100).
// State is in memory; with --state FILE it is also written to FILE after every change
// and read back at start (a restart then keeps seq, like the persisted production server).
//
// Usage: node server.js [--host 127.0.0.1] [--port 3002] [--auth token|none]
//                       [--agent-key KEY] [--secret SECRET] [--state FILE] [--verbose]
// Prints "listening on http://HOST:PORT" on stdout once it listens (--port 0: a free port).
"use strict";

const http = require("http");
const crypto = require("crypto");
const fs = require("fs");
const { Server } = require("socket.io");

const SERVER_VERSION = "contract-node/1.0.0";
const AGENTS = "agents";
const AGENT_TOKEN_TTL_S = 3600;
const CUSTOMER_TOKEN_TTL_S = 7 * 24 * 3600;
const BODY_LIMIT = 1024 * 1024;
const BUSY_AT = 3;
const AUTOPILOT_ID = "autopilot-bot";
const AUTOPILOT_REPLY = "Hi! I am the automatic assistant; a human agent will take over soon.";
const OFFLINE_NOTICE = "We are offline at the moment. Leave your message and we will answer later.";
const MODES = ["hitl", "autopilot", "off"];
const STATUS_OF_CODE = {
  invalid_payload: 422,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  not_joined: 409,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
};

// ---------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const options = { host: "127.0.0.1", port: 3002, auth: "token", agentKey: null, secret: null, state: null, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--host") options.host = value();
    else if (arg === "--port") options.port = Number(value());
    else if (arg === "--auth") options.auth = value();
    else if (arg === "--agent-key") options.agentKey = value();
    else if (arg === "--secret") options.secret = value();
    else if (arg === "--state") options.state = value();
    else if (arg === "--verbose") options.verbose = true;
    else fail(`unknown option ${arg}`);
  }
  if (!["token", "none"].includes(options.auth)) fail("--auth must be token or none");
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) fail("bad --port");
  return options;
}

function fail(message) {
  process.stderr.write(`server.js: ${message}\n`);
  process.exit(2);
}

const options = parseArgs(process.argv.slice(2));
if (options.auth === "token" && !options.agentKey) {
  options.agentKey = crypto.randomBytes(18).toString("base64url");
  process.stdout.write(`agent key: ${options.agentKey}\n`);
}
// Tokens survive a restart when the secret (or the agent key it derives from) stays the same.
const SECRET = crypto
  .createHash("sha256")
  .update(options.secret || `vilnius-contract-node:${options.agentKey || "none"}`)
  .digest();

function log(...parts) {
  if (options.verbose) process.stderr.write(parts.join(" ") + "\n");
}

const now = () => new Date().toISOString();

// ---------------------------------------------------------------------------
// Errors

class ContractError extends Error {
  constructor(code, message, details = null, status = undefined) {
    super(message);
    this.code = code;
    this.details = details;
    this.status = status || STATUS_OF_CODE[code] || 400;
  }
}

const invalid = (message, details) => new ContractError("invalid_payload", message, details);

function asContractError(err) {
  if (err instanceof ContractError) return err;
  log("internal error:", err && err.stack);
  return new ContractError("internal", "something went wrong on the server", null, 500);
}

// ---------------------------------------------------------------------------
// State

const state = {
  seq: 0,
  mode: "hitl",
  conversations: new Map(), // id -> Conversation (wire shape)
  offlineNoticeSent: new Set(), // conversation ids
  messages: [], // in seq order
  messagesOf: new Map(), // conversation id -> messages in seq order
  agents: new Map(), // id -> {id, name, personalStatus, lastSeen, sockets: Set}
  idempotent: new Map(), // "scope\0key" -> {status, body}
};

function persist() {
  if (!options.state) return;
  const snapshot = {
    seq: state.seq,
    mode: state.mode,
    conversations: [...state.conversations.values()],
    offlineNoticeSent: [...state.offlineNoticeSent],
    messages: state.messages,
    agents: [...state.agents.values()].map(({ sockets, ...agent }) => agent),
    idempotent: [...state.idempotent.entries()],
  };
  const tmp = `${options.state}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(snapshot));
  fs.renameSync(tmp, options.state);
}

function restore() {
  if (!options.state || !fs.existsSync(options.state)) return;
  const snapshot = JSON.parse(fs.readFileSync(options.state, "utf8"));
  state.seq = snapshot.seq;
  state.mode = snapshot.mode;
  for (const conversation of snapshot.conversations) state.conversations.set(conversation.id, conversation);
  for (const id of snapshot.offlineNoticeSent) state.offlineNoticeSent.add(id);
  for (const message of snapshot.messages) storeMessage(message);
  for (const agent of snapshot.agents) {
    // Nobody is connected after a restart.
    const personalStatus = agent.personalStatus === "online" ? "offline" : agent.personalStatus;
    state.agents.set(agent.id, { ...agent, personalStatus, sockets: new Set() });
  }
  for (const [key, value] of snapshot.idempotent) state.idempotent.set(key, value);
}

function storeMessage(message) {
  state.messages.push(message);
  let list = state.messagesOf.get(message.conversationId);
  if (!list) state.messagesOf.set(message.conversationId, (list = []));
  list.push(message);
}

function addMessage(conversationId, content, sender, { agentId = null, metadata = {} } = {}) {
  const message = {
    id: crypto.randomUUID(),
    conversationId,
    content,
    sender,
    timestamp: now(),
    agentId,
    metadata,
    seq: ++state.seq,
    channel: "web",
    edited: false,
  };
  storeMessage(message);
  return message;
}

function createConversation(id, visitorId, metadata) {
  const conversation = {
    id,
    visitorId: visitorId || `visitor-${crypto.randomUUID()}`,
    startedAt: now(),
    assignedAgent: null,
    status: "active",
    metadata: metadata || {},
    priority: "normal",
    tags: [],
  };
  state.conversations.set(id, conversation);
  return conversation;
}

function agentRecord(agentId) {
  let agent = state.agents.get(agentId);
  if (!agent) {
    agent = { id: agentId, name: `Agent ${agentId}`, personalStatus: "offline", lastSeen: null, sockets: new Set() };
    state.agents.set(agentId, agent);
  }
  return agent;
}

function activeChats(agentId) {
  let count = 0;
  for (const conversation of state.conversations.values()) {
    if (conversation.status === "active" && conversation.assignedAgent === agentId) count++;
  }
  return count;
}

function agentData(agent) {
  const connected = agent.sockets.size > 0;
  const chats = activeChats(agent.id);
  let status = "online";
  if (!connected) status = "offline";
  else if (agent.personalStatus === "afk" || chats >= BUSY_AT) status = "busy";
  return {
    id: agent.id,
    name: agent.name,
    status,
    personalStatus: agent.personalStatus,
    lastSeen: agent.lastSeen,
    activeChats: chats,
    connected,
    avatarUrl: null,
    socketIds: [...agent.sockets],
  };
}

const agentList = () => [...state.agents.values()].map(agentData);

function available(exclude = null) {
  return [...state.agents.values()].filter(
    (agent) => agent.sockets.size > 0 && agent.personalStatus === "online" && agent.id !== exclude,
  );
}

// Fewest active chats; ties go to the agent known first (Map order), not the smallest id.
function pickAgent(candidates, load) {
  let best = null;
  for (const agent of candidates) {
    if (best === null || (load.get(agent.id) || 0) < (load.get(best.id) || 0)) best = agent;
  }
  return best;
}

function loadMap() {
  const load = new Map();
  for (const conversation of state.conversations.values()) {
    if (conversation.status === "active" && conversation.assignedAgent) {
      load.set(conversation.assignedAgent, (load.get(conversation.assignedAgent) || 0) + 1);
    }
  }
  return load;
}

function assignOrphans(limit, reason) {
  const candidates = available();
  if (candidates.length === 0) return [];
  const load = loadMap();
  const moves = [];
  for (const conversation of state.conversations.values()) {
    if (moves.length >= limit) break;
    if (conversation.status !== "active" || conversation.assignedAgent) continue;
    const target = pickAgent(candidates, load);
    conversation.assignedAgent = target.id;
    load.set(target.id, (load.get(target.id) || 0) + 1);
    moves.push({ conversationId: conversation.id, fromAgentId: null, toAgentId: target.id });
  }
  announceMoves(moves, reason);
  return moves;
}

function handOver(agentId, reason, { toNobody }) {
  const candidates = available(agentId);
  const load = loadMap();
  const moves = [];
  for (const conversation of state.conversations.values()) {
    if (conversation.status !== "active" || conversation.assignedAgent !== agentId) continue;
    const target = pickAgent(candidates, load);
    if (!target && !toNobody) continue;
    conversation.assignedAgent = target ? target.id : null;
    if (target) load.set(target.id, (load.get(target.id) || 0) + 1);
    moves.push({ conversationId: conversation.id, fromAgentId: agentId, toAgentId: target ? target.id : null });
  }
  announceMoves(moves, reason);
  return moves;
}

function announceMoves(moves, reason) {
  if (moves.length > 0) {
    io.to(AGENTS).emit("tickets-reassigned", { reassignments: moves, reason, serverVersion: SERVER_VERSION });
  }
}

function announceAgents() {
  io.to(AGENTS).emit("connected-agents-update", { agents: agentList(), serverVersion: SERVER_VERSION });
}

function announceMessage(message, { toRoom }) {
  const timestamp = now();
  if (toRoom) {
    io.to(message.conversationId).emit("agent-message", { message, timestamp, serverVersion: SERVER_VERSION });
  }
  let aiSuggestion = null;
  if (message.sender === "visitor" && state.mode === "hitl") {
    // A draft for the agents, not stored: seq 0 (Message requires an integer seq).
    aiSuggestion = {
      id: crypto.randomUUID(),
      conversationId: message.conversationId,
      content: "Suggested reply: thank you, let me check that for you.",
      sender: "agent",
      timestamp,
      agentId: "ai-assistant",
      metadata: { suggestion: true, confidence: 0.42 },
      seq: 0,
    };
  }
  io.to(AGENTS).emit("new-message", {
    conversationId: message.conversationId,
    message,
    aiSuggestion,
    timestamp,
    serverVersion: SERVER_VERSION,
  });
}

function announceConversation(conversation) {
  io.to(AGENTS).emit("new-conversation", {
    conversationId: conversation.id,
    conversation,
    timestamp: now(),
    serverVersion: SERVER_VERSION,
  });
}

function requireConversation(id) {
  const conversation = state.conversations.get(id);
  if (!conversation) throw new ContractError("not_found", `no conversation ${id}`, { conversationId: id });
  return conversation;
}

function requireActive(conversation) {
  if (conversation.status !== "active") {
    throw new ContractError("conflict", `conversation ${conversation.id} is ${conversation.status}`, {
      conversationId: conversation.id,
      status: conversation.status,
    });
  }
}

// ---------------------------------------------------------------------------
// Tokens and identities (§8): JWT HS256

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

function sign(claims, ttl) {
  const issued = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ ...claims, iat: issued, exp: issued + ttl })}`;
  const signature = crypto.createHmac("sha256", SECRET).update(body).digest("base64url");
  return { token: `${body}.${signature}`, expires: issued + ttl };
}

function verify(token) {
  if (typeof token !== "string") throw new ContractError("unauthorized", "a token is required");
  const parts = token.split(".");
  if (parts.length !== 3) throw new ContractError("unauthorized", "malformed token");
  const expected = crypto.createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new ContractError("unauthorized", "invalid token signature");
  }
  let claims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    throw new ContractError("unauthorized", "malformed token");
  }
  if (typeof claims.exp !== "number" || claims.exp * 1000 < Date.now()) {
    throw new ContractError("unauthorized", "token expired");
  }
  if (claims.role === "agent" && typeof claims.sub === "string") return { kind: "agent", sub: claims.sub };
  if (claims.role === "customer" && typeof claims.conversationId === "string") {
    return { kind: "customer", sub: claims.conversationId };
  }
  throw new ContractError("unauthorized", "malformed token");
}

const customerToken = (conversationId) =>
  sign({ role: "customer", sub: `customer:${conversationId}`, conversationId }, CUSTOMER_TOKEN_TTL_S).token;

const OPEN = { kind: "open", sub: null };
const ANONYMOUS = { kind: "anonymous", sub: null };

function mustBeAuthenticated(identity) {
  if (identity.kind === "anonymous") throw new ContractError("unauthorized", "authentication required");
}

function mustBeAgent(identity, agentId = null) {
  mustBeAuthenticated(identity);
  if (identity.kind === "open") return;
  if (identity.kind !== "agent") throw new ContractError("forbidden", "agents only");
  if (agentId !== null && agentId !== identity.sub) {
    throw new ContractError("forbidden", `this token is agent ${identity.sub}'s, not ${agentId}'s`);
  }
}

function mayUseConversation(identity, conversationId) {
  mustBeAuthenticated(identity);
  if (identity.kind === "customer" && identity.sub !== conversationId) {
    throw new ContractError("forbidden", "this token is for another conversation");
  }
}

// ---------------------------------------------------------------------------
// Validation helpers

function str(value, field, { max = 255, optional = false } = {}) {
  if (value === undefined || value === null) {
    if (optional) return null;
    throw invalid(`${field} is required`, [{ path: field, problem: "missing" }]);
  }
  if (typeof value !== "string" || value.length === 0 || value.length > max) {
    throw invalid(`${field} must be a string of 1 to ${max} characters`, [{ path: field, problem: "type" }]);
  }
  return value;
}

function object(value, field = "payload") {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(`${field} must be an object`, [{ path: field, problem: "type" }]);
  }
  return value;
}

function typing(payload) {
  object(payload);
  const conversationId = str(payload.conversationId, "conversationId");
  if (typeof payload.isTyping !== "boolean") {
    throw invalid("isTyping must be a boolean", [{ path: "isTyping", problem: "type" }]);
  }
  return { conversationId, isTyping: payload.isTyping };
}

// ---------------------------------------------------------------------------
// HTTP server and Socket.IO

const httpServer = http.createServer((req, res) => {
  handleHttp(req, res).catch((err) => {
    const error = asContractError(err);
    sendError(res, error);
  });
});

const io = new Server(httpServer, { serveClient: false, cors: { origin: "*" } });

// Socket auth (§8): refused with connect_error carrying {code, message}.
io.use((socket, next) => {
  if (options.auth === "none") {
    socket.data.identity = OPEN;
    return next();
  }
  try {
    const token = socket.handshake.auth ? socket.handshake.auth.token : undefined;
    if (token === undefined || token === null || token === "") {
      throw new ContractError("unauthorized", "a token is required");
    }
    socket.data.identity = verify(token);
    return next();
  } catch (err) {
    const error = asContractError(err);
    const refusal = new Error(error.message);
    refusal.data = { code: error.code, message: error.message };
    return next(refusal);
  }
});

io.on("connection", (socket) => {
  log("connect", socket.id, JSON.stringify(socket.data.identity));

  // Every client -> server event: one payload, an optional ack callback.
  const on = (event, handler) => {
    socket.on(event, (...args) => {
      const ack = args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
      try {
        if (args.length !== 1) {
          throw invalid(`${event} takes one argument, got ${args.length}`, [{ path: "", problem: "arity" }]);
        }
        handler(args[0]);
        persist();
        if (ack) ack({ ok: true });
      } catch (err) {
        const error = asContractError(err);
        socket.emit("error-event", {
          code: error.code,
          message: error.message,
          event,
          details: error.details,
          serverVersion: SERVER_VERSION,
        });
        if (ack) ack({ ok: false, error: { code: error.code, message: error.message } });
      }
    });
  };

  on("join-agent-dashboard", (payload) => {
    const agentId = str(payload, "agentId");
    mustBeAgent(socket.data.identity, agentId);
    const previous = socket.data.agentId;
    if (previous !== undefined && previous !== agentId) leaveAsAgent(socket, previous);
    socket.join(AGENTS);
    socket.data.agentId = agentId;
    const agent = agentRecord(agentId);
    agent.sockets.add(socket.id);
    if (agent.personalStatus === "offline") agent.personalStatus = "online";
    agent.lastSeen = now();
    socket.emit("system-mode-update", { mode: state.mode, serverVersion: SERVER_VERSION });
    assignOrphans(2, "agent_joined");
    announceAgents();
  });

  on("agent-typing", (payload) => {
    const { conversationId, isTyping } = typing(payload);
    const identity = socket.data.identity;
    if (identity.kind === "customer") throw new ContractError("forbidden", "customers cannot type as agents");
    const agentId = socket.data.agentId || null;
    if (agentId) agentRecord(agentId).lastSeen = now();
    socket.to(conversationId).emit("agent-typing-status", {
      isTyping,
      timestamp: now(),
      conversationId,
      agentId,
      serverVersion: SERVER_VERSION,
    });
  });

  on("heartbeat", (payload) => {
    object(payload);
    const stamp = payload.timestamp;
    const valid =
      (typeof stamp === "number" && Number.isFinite(stamp)) ||
      (typeof stamp === "string" && !Number.isNaN(Date.parse(stamp)));
    if (!valid) {
      throw invalid("timestamp must be epoch milliseconds", [{ path: "timestamp", problem: "type" }]);
    }
    const agentId = socket.data.agentId;
    if (!agentId) throw new ContractError("not_joined", "join-agent-dashboard first");
    agentRecord(agentId).lastSeen = now();
    // Echoed exactly as received (a number, Date.now() style).
    socket.emit("heartbeat-ack", { timestamp: payload.timestamp, agentId, serverTime: now() });
  });

  on("request-current-state", (payload) => {
    if (payload === "connected-agents") {
      mustBeAgent(socket.data.identity);
      socket.emit("current-state", { type: payload, data: agentList(), serverVersion: SERVER_VERSION });
    } else if (payload === "system-mode") {
      socket.emit("current-state", { type: payload, data: state.mode, serverVersion: SERVER_VERSION });
    } else {
      throw invalid("expected 'connected-agents' or 'system-mode'", [
        { path: "", problem: "enum", allowed: ["connected-agents", "system-mode"] },
      ]);
    }
  });

  on("join-conversation", (payload) => {
    const conversationId = str(payload, "conversationId");
    mayUseConversation(socket.data.identity, conversationId);
    socket.join(conversationId); // like production: no existence check
  });

  on("customer-typing", (payload) => {
    const { conversationId, isTyping } = typing(payload);
    mayUseConversation(socket.data.identity, conversationId);
    io.to(AGENTS).emit("customer-typing-status", {
      conversationId,
      isTyping,
      timestamp: now(),
      serverVersion: SERVER_VERSION,
    });
  });

  socket.on("disconnect", (reason) => {
    log("disconnect", socket.id, reason);
    if (socket.data.agentId) {
      leaveAsAgent(socket, socket.data.agentId);
      persist();
    }
  });
});

function leaveAsAgent(socket, agentId) {
  const agent = agentRecord(agentId);
  agent.sockets.delete(socket.id);
  agent.lastSeen = now();
  if (agent.sockets.size === 0) {
    if (agent.personalStatus === "online") agent.personalStatus = "offline";
    handOver(agentId, "agent_offline", { toNobody: false });
    announceAgents();
  }
}

// ---------------------------------------------------------------------------
// REST (§6)

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "X-Server": SERVER_VERSION,
  });
  res.end(text);
}

function sendError(res, error) {
  if (res.headersSent) return res.destroy();
  sendJson(res, error.status, { error: error.message, code: error.code, details: error.details });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > BODY_LIMIT) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) return reject(new ContractError("payload_too_large", "the body is larger than 1 MB"));
      const text = Buffer.concat(chunks).toString("utf8");
      if (text.trim() === "") return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ContractError("invalid_payload", "the body is not JSON", null, 400));
      }
    });
    req.on("error", reject);
  });
}

function identityOf(req) {
  if (options.auth === "none") return OPEN;
  const header = req.headers.authorization;
  if (header === undefined) return ANONYMOUS;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new ContractError("unauthorized", "expected 'Authorization: Bearer <token>'");
  return verify(match[1]);
}

function intParam(query, name, { fallback, min, max }) {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ContractError("invalid_payload", `${name} must be a non-negative integer`, [{ path: name, problem: "type" }], 400);
  }
  const value = Number(raw);
  if (value < min) throw invalid(`${name} must be at least ${min}`, [{ path: name, problem: "range" }]);
  return Math.min(value, max);
}

function idempotencyKey(req) {
  const key = req.headers["idempotency-key"];
  if (key === undefined) return null;
  if (key.length === 0 || key.length > 255) {
    throw invalid("Idempotency-Key must be 1 to 255 characters", [{ path: "Idempotency-Key", problem: "length" }]);
  }
  return key;
}

// Runs `produce` once per key; a repeat answers what the first answered, doing nothing.
function once(scope, key, produce) {
  if (key === null) return produce();
  const id = `${scope}\u0000${key}`;
  const cached = state.idempotent.get(id);
  if (cached) return cached;
  const answer = produce();
  state.idempotent.set(id, answer);
  if (state.idempotent.size > 10000) state.idempotent.delete(state.idempotent.keys().next().value);
  return answer;
}

const routes = [];
const route = (method, pattern, handler) => routes.push({ method, pattern, handler });

async function handleHttp(req, res) {
  const url = new URL(req.url, "http://localhost");
  for (const { method, pattern, handler } of routes) {
    const match = pattern.exec(url.pathname);
    if (!match) continue;
    if (req.method !== method) continue;
    const body = method === "POST" ? await readBody(req) : {};
    const params = match.slice(1).map(decodeURIComponent);
    const [status, answer] = handler({ req, body, query: url.searchParams, params });
    persist();
    return sendJson(res, status, answer);
  }
  throw new ContractError("not_found", `no route ${req.method} ${url.pathname}`);
}

// CONTRACT.md §0: a contract server lists what it offers (every feature, here).
const CONTRACT = {
  name: "vilnius",
  version: 1,
  features: ["acks", "seq", "catch-up", "idempotency", "agent-token", "customer-token", "error-event"],
};

route("GET", /^\/health$/, () => [
  200,
  {
    status: "ok",
    contract: CONTRACT,
    serverVersion: SERVER_VERSION,
    auth: options.auth,
    uptime: process.uptime(),
  },
]);

route("POST", /^\/api\/auth\/agent-token$/, ({ body }) => {
  object(body, "body");
  const agentId = str(body.agentId, "agentId");
  const agentKey = str(body.agentKey, "agentKey", { max: 1024 });
  if (options.auth === "token") {
    const given = crypto.createHash("sha256").update(agentKey).digest();
    const expected = crypto.createHash("sha256").update(options.agentKey).digest();
    if (!crypto.timingSafeEqual(given, expected)) throw new ContractError("unauthorized", "wrong agent key");
  }
  const { token, expires } = sign({ role: "agent", sub: agentId }, AGENT_TOKEN_TTL_S);
  return [200, { token, agentId, expiresAt: new Date(expires * 1000).toISOString(), tokenType: "Bearer" }];
});

route("POST", /^\/api\/conversations$/, ({ req, body }) => {
  identityOf(req); // a bad token is refused; no token is fine (a new widget)
  object(body, "body");
  const visitorId = str(body.visitorId, "visitorId", { optional: true });
  const metadata = body.metadata === undefined || body.metadata === null ? {} : object(body.metadata, "metadata");
  const conversation = createConversation(crypto.randomUUID(), visitorId, metadata);
  announceConversation(conversation);
  return [
    201,
    { conversationId: conversation.id, conversation, token: customerToken(conversation.id), serverVersion: SERVER_VERSION },
  ];
});

route("POST", /^\/api\/messages$/, ({ req, body }) => {
  const identity = identityOf(req);
  const key = idempotencyKey(req);
  object(body, "body");
  const conversationId = str(body.conversationId, "conversationId");
  const text = str(body.message, "message", { max: 10000 });
  const visitorId = str(body.visitorId, "visitorId", { optional: true });
  // A repeat answers what the first answered, even when that first request created the
  // conversation and the client never saw the token (a retry after a lost answer).
  const repeated = key === null ? undefined : state.idempotent.get(`messages\u0000${key}`);
  if (repeated) return repeated;
  let conversation = state.conversations.get(conversationId);
  if (conversation) {
    mayUseConversation(identity, conversationId);
    requireActive(conversation);
  } else if (identity.kind === "customer" && identity.sub !== conversationId) {
    throw new ContractError("forbidden", "this token is for another conversation");
  }
  return once("messages", key, () => {
    let token;
    if (!conversation) {
      conversation = createConversation(conversationId, visitorId, {});
      token = customerToken(conversationId);
      announceConversation(conversation);
    }
    const userMessage = addMessage(conversationId, text, "visitor");
    announceMessage(userMessage, { toRoom: false });
    let aiMessage = null;
    if (state.mode === "hitl") {
      if (!conversation.assignedAgent) {
        const target = pickAgent(available(), loadMap());
        if (target) conversation.assignedAgent = target.id;
      }
    } else if (state.mode === "autopilot") {
      aiMessage = addMessage(conversationId, AUTOPILOT_REPLY, "agent", {
        agentId: AUTOPILOT_ID,
        metadata: { autopilot: true },
      });
      announceMessage(aiMessage, { toRoom: true });
    } else if (!state.offlineNoticeSent.has(conversationId)) {
      state.offlineNoticeSent.add(conversationId);
      aiMessage = addMessage(conversationId, OFFLINE_NOTICE, "system", { metadata: { offlineNotice: true } });
      announceMessage(aiMessage, { toRoom: false });
    }
    const answer = { conversationId, userMessage, aiMessage, serverVersion: SERVER_VERSION };
    if (token !== undefined) answer.token = token;
    return [200, answer];
  });
});

route("GET", /^\/api\/conversations\/([^/]+)\/messages$/, ({ req, query, params }) => {
  const [conversationId] = params;
  mayUseConversation(identityOf(req), conversationId);
  requireConversation(conversationId);
  const after = intParam(query, "after", { fallback: 0, min: 0, max: Number.MAX_SAFE_INTEGER });
  const limit = intParam(query, "limit", { fallback: 100, min: 1, max: 500 });
  const messages = (state.messagesOf.get(conversationId) || []).filter((m) => m.seq > after).slice(0, limit);
  return [200, { conversationId, messages, serverVersion: SERVER_VERSION }];
});

route("GET", /^\/api\/messages$/, ({ req, query }) => {
  mustBeAgent(identityOf(req));
  const after = intParam(query, "after", { fallback: 0, min: 0, max: Number.MAX_SAFE_INTEGER });
  const limit = intParam(query, "limit", { fallback: 100, min: 1, max: 500 });
  const messages = state.messages.filter((m) => m.seq > after).slice(0, limit);
  return [200, { messages, lastSeq: state.seq, serverVersion: SERVER_VERSION }];
});

route("GET", /^\/api\/admin\/conversations$/, ({ req, query }) => {
  mustBeAgent(identityOf(req));
  const status = query.get("status");
  if (status !== null && !["active", "ended", "archived"].includes(status)) {
    throw invalid("status must be active, ended or archived", [{ path: "status", problem: "enum" }]);
  }
  const conversations = [...state.conversations.values()].filter((c) => status === null || c.status === status);
  return [200, { conversations, total: conversations.length }];
});

route("POST", /^\/api\/agent\/respond$/, ({ req, body }) => {
  const identity = identityOf(req);
  const key = idempotencyKey(req);
  object(body, "body");
  const conversationId = str(body.conversationId, "conversationId");
  const text = str(body.message, "message", { max: 10000 });
  const agentId = str(body.agentId, "agentId");
  mustBeAgent(identity, agentId);
  return once("respond", key, () => {
    const conversation = requireConversation(conversationId);
    requireActive(conversation);
    agentRecord(agentId).lastSeen = now();
    conversation.assignedAgent = agentId;
    const message = addMessage(conversationId, text, "agent", { agentId });
    announceMessage(message, { toRoom: true });
    return [200, { success: true, message, serverVersion: SERVER_VERSION }];
  });
});

route("POST", /^\/api\/agent\/personal-status$/, ({ req, body }) => {
  const identity = identityOf(req);
  object(body, "body");
  const agentId = str(body.agentId, "agentId");
  if (!["online", "afk"].includes(body.personalStatus)) {
    throw invalid("personalStatus must be online or afk", [{ path: "personalStatus", problem: "enum" }]);
  }
  mustBeAgent(identity, agentId);
  const agent = agentRecord(agentId);
  agent.personalStatus = body.personalStatus;
  agent.lastSeen = now();
  const reassignments =
    body.personalStatus === "afk"
      ? handOver(agentId, "agent_afk", { toNobody: true })
      : assignOrphans(Infinity, "agent_online");
  announceAgents();
  return [200, { success: true, agent: agentData(agent), reassignments }];
});

route("GET", /^\/api\/system\/mode$/, ({ req }) => {
  mustBeAuthenticated(identityOf(req));
  return [200, { mode: state.mode, availableModes: MODES }];
});

route("POST", /^\/api\/system\/mode$/, ({ req, body }) => {
  mustBeAgent(identityOf(req));
  object(body, "body");
  if (!MODES.includes(body.mode)) throw invalid("mode must be hitl, autopilot or off", [{ path: "mode", problem: "enum" }]);
  if (body.mode !== state.mode) {
    state.mode = body.mode;
    if (state.mode === "off") state.offlineNoticeSent.clear();
    io.to(AGENTS).emit("system-mode-update", { mode: state.mode, serverVersion: SERVER_VERSION });
  }
  return [200, { success: true, mode: state.mode }];
});

route("GET", /^\/api\/agents\/connected$/, ({ req }) => {
  mustBeAgent(identityOf(req));
  return [200, { agents: agentList(), systemMode: state.mode, serverVersion: SERVER_VERSION }];
});

route("POST", /^\/api\/conversations\/([^/]+)\/assign$/, ({ req, body, params }) => {
  mustBeAgent(identityOf(req));
  object(body, "body");
  const agentId = str(body.agentId, "agentId");
  const conversation = requireConversation(params[0]);
  requireActive(conversation);
  const from = conversation.assignedAgent;
  conversation.assignedAgent = agentId;
  agentRecord(agentId);
  announceMoves([{ conversationId: conversation.id, fromAgentId: from, toAgentId: agentId }], "manual_assign");
  return [200, { success: true, conversation }];
});

route("POST", /^\/api\/conversations\/([^/]+)\/end$/, ({ req, body, params }) => {
  const identity = identityOf(req);
  object(body, "body");
  str(body.agentId, "agentId", { optional: true });
  mayUseConversation(identity, params[0]);
  const conversation = requireConversation(params[0]);
  if (conversation.status === "active") {
    conversation.status = "ended";
    conversation.endedAt = now();
  }
  return [200, { success: true }];
});

route("POST", /^\/api\/admin\/conversations\/bulk-assign$/, ({ req, body }) => {
  mustBeAgent(identityOf(req));
  object(body, "body");
  const agentId = str(body.agentId, "agentId");
  const ids = body.conversationIds;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000) {
    throw invalid("conversationIds must be a list of 1 to 1000 ids", [{ path: "conversationIds", problem: "type" }]);
  }
  ids.forEach((id, i) => str(id, `conversationIds.${i}`));
  const missing = ids.filter((id) => !state.conversations.has(id));
  if (missing.length > 0) throw new ContractError("not_found", "unknown conversations", { conversationIds: missing });
  agentRecord(agentId);
  const moves = [];
  for (const id of new Set(ids)) {
    const conversation = state.conversations.get(id);
    if (conversation.status !== "active") continue; // ended ones are left alone
    moves.push({ conversationId: id, fromAgentId: conversation.assignedAgent, toAgentId: agentId });
    conversation.assignedAgent = agentId;
  }
  announceMoves(moves, "bulk_assign");
  return [200, { success: true, reassigned: moves, count: moves.length }];
});

// ---------------------------------------------------------------------------

restore();
httpServer.listen(options.port, options.host, () => {
  const { port } = httpServer.address();
  process.stdout.write(`listening on http://${options.host}:${port}\n`);
});
