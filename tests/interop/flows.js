#!/usr/bin/env node
// Drives a Vilnius server with the real JavaScript socket.io-client 4, the way the production
// agent dashboard and customer widget do, through every flow of CONTRACT.md and the seed's
// events reference.
//
//   node flows.js http://127.0.0.1:3002                # server started with --auth none
//   node flows.js http://127.0.0.1:3002 --agent-key K  # server started with --auth token --agent-key K
//
// Prints one JSON line per check ({"check", "ok", "ms", "error"?}) and a final summary line;
// exits 1 when any check failed and 2 on the global timeout. Never sleeps to synchronise: every
// wait is for an event or an HTTP answer, bounded by a timeout.
'use strict';

const { BASE, option, emitLine, CheckError, assert, Peer, http, assertOk, check, run } = require('./harness');

const AGENT_KEY = option('--agent-key');
const TOKEN_MODE = AGENT_KEY !== undefined;

if (!BASE) {
  process.stderr.write('usage: node flows.js <server-url> [--agent-key KEY]\n');
  process.exit(64);
}

// ---------------------------------------------------------------------------------------------
// Assertions on the contract's shapes

function isIsoTimestamp(value) {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value)) && /T.*Z$|[+-]\d\d:\d\d$/.test(value);
}

function assertErrorBody(response, status, code, what) {
  // A body of the wrong shape may be 400 or 422 (CONTRACT.md §6 lists both).
  const allowed = Array.isArray(status) ? status : [status];
  assert(allowed.includes(response.status), `${what}: expected HTTP ${allowed.join('/')}, got ${response.status}`, response.text);
  const body = response.json;
  assert(body && typeof body.error === 'string' && body.error.length > 0, `${what}: no error message`, body);
  assert(body.code === code, `${what}: expected code ${code}`, body);
  assert('details' in body, `${what}: no details`, body);
}

function assertMessage(message, fields, what) {
  assert(message && typeof message === 'object', `${what}: no message`, message);
  for (const key of ['id', 'conversationId', 'content', 'sender', 'timestamp', 'seq']) {
    assert(key in message, `${what}: message without ${key}`, message);
  }
  assert(Number.isInteger(message.seq), `${what}: seq is not an integer`, message);
  assert(isIsoTimestamp(message.timestamp), `${what}: timestamp is not ISO-8601`, message);
  for (const [key, value] of Object.entries(fields)) {
    assert(message[key] === value, `${what}: message.${key} should be ${JSON.stringify(value)}`, message);
  }
}

function assertAgentData(agent) {
  for (const key of ['id', 'name', 'status', 'personalStatus', 'activeChats', 'connected']) {
    assert(key in agent, `AgentData without ${key}`, agent);
  }
  assert(['online', 'busy', 'offline'].includes(agent.status), 'bad AgentData.status', agent);
  assert(['online', 'afk', 'offline'].includes(agent.personalStatus), 'bad AgentData.personalStatus', agent);
  assert(Number.isInteger(agent.activeChats), 'AgentData.activeChats not an integer', agent);
  assert(typeof agent.connected === 'boolean', 'AgentData.connected not a boolean', agent);
}

function agentIn(list, id, predicate = () => true) {
  return Array.isArray(list) && list.some((agent) => agent.id === id && predicate(agent));
}

// ---------------------------------------------------------------------------------------------
// State shared by the checks, in the order a real session builds it up

const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const AGENT1 = `agent-1-${RUN}`;
const AGENT2 = `agent-2-${RUN}`;
const VISITOR = `visitor-${RUN}`;
const state = {};

async function agentToken(agentId) {
  if (!TOKEN_MODE) return undefined;
  const body = assertOk(await http('POST', '/api/auth/agent-token', { body: { agentId, agentKey: AGENT_KEY } }), 200, 'agent-token');
  assert(typeof body.token === 'string' && body.token.length > 0, 'agent-token: no token', body);
  assert(body.agentId === agentId, 'agent-token: wrong agentId', body);
  assert(isIsoTimestamp(body.expiresAt), 'agent-token: expiresAt is not ISO-8601', body);
  return body.token;
}

const MALFORMED = {
  'join-agent-dashboard': [42, '', { agentId: 'x' }, null, 'x'.repeat(300)],
  'agent-typing': ['conv', { conversationId: 5, isTyping: true }, { conversationId: 'c' }, { conversationId: 'c', isTyping: 'yes' }, null],
  heartbeat: ['now', { timestamp: 'not a time' }, {}, [1, 2], null],
  'request-current-state': ['everything', 7, { type: 'system-mode' }, null],
  'join-conversation': [123, '', ['c'], { conversationId: 'c' }, null],
  'customer-typing': [[], { isTyping: true }, { conversationId: '', isTyping: false }, { conversationId: 'c', isTyping: 1 }, null],
};

async function main() {
  emitLine({ start: BASE, mode: TOKEN_MODE ? 'token' : 'none', run: RUN });

  await check('health', async () => {
    const body = assertOk(await http('GET', '/health'), 200, 'GET /health');
    assert(body.status === 'ok', 'health status', body);
  });

  await check('agent connects and joins the dashboard', async () => {
    state.agent1Token = await agentToken(AGENT1);
    state.agent1 = new Peer('agent1', { token: state.agent1Token });
    await state.agent1.connectPromise;
    const mark = state.agent1.mark();
    state.agent1.emit('join-agent-dashboard', AGENT1);
    const mode = await state.agent1.waitFor('system-mode-update', mark);
    assert(['hitl', 'autopilot', 'off'].includes(mode.mode), 'system-mode-update.mode', mode);
    const update = await state.agent1.waitFor('connected-agents-update', mark, (data) => agentIn(data.agents, AGENT1));
    update.agents.forEach(assertAgentData);
    assert(agentIn(update.agents, AGENT1, (agent) => agent.connected === true), 'agent not connected in update', update);
    const modeAt = state.agent1.log.findIndex((entry, index) => index >= mark && entry.event === 'system-mode-update');
    const agentsAt = state.agent1.log.findIndex((entry, index) => index >= mark && entry.event === 'connected-agents-update');
    assert(modeAt < agentsAt, 'system-mode-update should come before connected-agents-update');
  });

  await check('customer starts a conversation over REST -> new-conversation', async () => {
    const mark = state.agent1.mark();
    const body = assertOk(await http('POST', '/api/conversations', { body: { visitorId: VISITOR, metadata: { page: '/pricing' } } }), 201, 'POST /api/conversations');
    assert(typeof body.conversationId === 'string', 'no conversationId', body);
    assert(body.conversation && body.conversation.id === body.conversationId, 'conversation.id', body);
    assert(body.conversation.visitorId === VISITOR, 'conversation.visitorId', body);
    assert(body.conversation.status === 'active', 'conversation.status', body);
    assert(isIsoTimestamp(body.conversation.startedAt), 'conversation.startedAt', body);
    if (TOKEN_MODE) assert(typeof body.token === 'string' && body.token.length > 0, 'no customer token', body);
    state.cid = body.conversationId;
    state.customerToken = body.token || undefined;
    const event = await state.agent1.waitFor('new-conversation', mark, (data) => data.conversationId === state.cid);
    assert(event.conversation && event.conversation.id === state.cid, 'new-conversation.conversation', event);
    assert(isIsoTimestamp(event.timestamp), 'new-conversation.timestamp', event);
  });

  await check('customer widget joins its conversation room (ack ok)', async () => {
    state.customer = new Peer('customer', { token: state.customerToken, transports: null });
    await state.customer.connectPromise;
    const ack = await state.customer.emitWithAck('join-conversation', state.cid);
    assert(ack && ack.ok === true, 'join-conversation ack', ack);
  });

  await check('customer-typing -> customer-typing-status to agents', async () => {
    const mark = state.agent1.mark();
    state.customer.emit('customer-typing', { conversationId: state.cid, isTyping: true });
    const status = await state.agent1.waitFor('customer-typing-status', mark, (data) => data.conversationId === state.cid);
    assert(status.isTyping === true, 'isTyping', status);
    assert(isIsoTimestamp(status.timestamp), 'timestamp', status);
    const mark2 = state.agent1.mark();
    const ack = await state.customer.emitWithAck('customer-typing', { conversationId: state.cid, isTyping: false });
    assert(ack && ack.ok === true, 'customer-typing ack', ack);
    const stopped = await state.agent1.waitFor('customer-typing-status', mark2, (data) => data.conversationId === state.cid);
    assert(stopped.isTyping === false, 'isTyping false', stopped);
  });

  await check('customer message via POST /api/messages -> new-message', async () => {
    const mark = state.agent1.mark();
    const body = assertOk(
      await http('POST', '/api/messages', { body: { conversationId: state.cid, message: 'Hello, I need help', visitorId: VISITOR }, token: state.customerToken }),
      200,
      'POST /api/messages',
    );
    assert(body.conversationId === state.cid, 'conversationId', body);
    assertMessage(body.userMessage, { conversationId: state.cid, content: 'Hello, I need help', sender: 'visitor' }, 'userMessage');
    assert('aiMessage' in body, 'no aiMessage field', body);
    const event = await state.agent1.waitFor('new-message', mark, (data) => data.message && data.message.id === body.userMessage.id);
    assert(event.conversationId === state.cid, 'new-message.conversationId', event);
    assertMessage(event.message, { sender: 'visitor', seq: body.userMessage.seq }, 'new-message');
    assert('aiSuggestion' in event, 'new-message without aiSuggestion', event);
    assert(isIsoTimestamp(event.timestamp), 'new-message.timestamp', event);
    state.lastSeq = body.userMessage.seq;
  });

  await check('first message to an unknown conversation -> new-conversation + new-message', async () => {
    const cid2 = `conv-${RUN}-implicit`;
    const mark = state.agent1.mark();
    const body = assertOk(await http('POST', '/api/messages', { body: { conversationId: cid2, message: 'First words', visitorId: `${VISITOR}-2` } }), 200, 'POST /api/messages (new)');
    assert(body.conversationId === cid2, 'conversationId', body);
    if (TOKEN_MODE) assert(typeof body.token === 'string' && body.token.length > 0, 'no token for the created conversation', body);
    await state.agent1.waitFor('new-conversation', mark, (data) => data.conversationId === cid2);
    const event = await state.agent1.waitFor('new-message', mark, (data) => data.conversationId === cid2);
    assertMessage(event.message, { content: 'First words', sender: 'visitor' }, 'new-message');
    const conversationAt = state.agent1.log.findIndex((entry, index) => index >= mark && entry.event === 'new-conversation');
    const messageAt = state.agent1.log.findIndex((entry, index) => index >= mark && entry.event === 'new-message' && entry.data.conversationId === cid2);
    assert(conversationAt < messageAt, 'new-conversation should come before its first new-message');
    assert(event.message.seq > state.lastSeq, 'seq must grow', event.message);
    state.cid2 = cid2;
    state.customer2Token = body.token || undefined;
  });

  await check('agent-typing -> agent-typing-status to the room, sender excluded', async () => {
    const joined = await state.agent1.emitWithAck('join-conversation', state.cid);
    assert(joined && joined.ok === true, 'agent join-conversation ack', joined);
    const agentMark = state.agent1.mark();
    const mark = state.customer.mark();
    state.agent1.emit('agent-typing', { conversationId: state.cid, isTyping: true });
    const status = await state.customer.waitFor('agent-typing-status', mark);
    assert(status.isTyping === true, 'isTyping', status);
    assert(isIsoTimestamp(status.timestamp), 'timestamp', status);
    await state.agent1.barrier();
    assert(state.agent1.since(agentMark, 'agent-typing-status').length === 0, 'the typing agent got its own agent-typing-status');
    const ack = await state.agent1.emitWithAck('agent-typing', { conversationId: state.cid, isTyping: false });
    assert(ack && ack.ok === true, 'agent-typing ack', ack);
    await state.customer.waitFor('agent-typing-status', mark, (data) => data.isTyping === false);
  });

  await check('agent responds via REST -> agent-message to customer, new-message to agents', async () => {
    const agentMark = state.agent1.mark();
    const mark = state.customer.mark();
    const body = assertOk(
      await http('POST', '/api/agent/respond', { body: { conversationId: state.cid, message: 'Hi! How can I help?', agentId: AGENT1 }, token: state.agent1Token }),
      200,
      'POST /api/agent/respond',
    );
    assert(body.success === true, 'success', body);
    assertMessage(body.message, { conversationId: state.cid, sender: 'agent', agentId: AGENT1, content: 'Hi! How can I help?' }, 'respond.message');
    const reply = await state.customer.waitFor('agent-message', mark);
    assertMessage(reply.message, { id: body.message.id, sender: 'agent' }, 'agent-message');
    assert(isIsoTimestamp(reply.timestamp), 'agent-message.timestamp', reply);
    const event = await state.agent1.waitFor('new-message', agentMark, (data) => data.message && data.message.id === body.message.id);
    assertMessage(event.message, { sender: 'agent', agentId: AGENT1 }, 'new-message (agent)');
  });

  await check('heartbeat -> heartbeat-ack (and ack ok)', async () => {
    const mark = state.agent1.mark();
    const now = Date.now();
    state.agent1.emit('heartbeat', { timestamp: now });
    const ackEvent = await state.agent1.waitFor('heartbeat-ack', mark);
    assert(ackEvent.agentId === AGENT1, 'heartbeat-ack.agentId', ackEvent);
    const echoed = typeof ackEvent.timestamp === 'number' ? ackEvent.timestamp : Date.parse(ackEvent.timestamp);
    assert(Number.isFinite(echoed), 'heartbeat-ack.timestamp', ackEvent);
    const ack = await state.agent1.emitWithAck('heartbeat', { timestamp: Date.now() });
    assert(ack && ack.ok === true, 'heartbeat ack', ack);
  });

  await check('request-current-state connected-agents and system-mode -> current-state', async () => {
    let mark = state.agent1.mark();
    state.agent1.emit('request-current-state', 'connected-agents');
    const agents = await state.agent1.waitFor('current-state', mark, (data) => data.type === 'connected-agents');
    assert(Array.isArray(agents.data), 'data is a list', agents);
    agents.data.forEach(assertAgentData);
    assert(agentIn(agents.data, AGENT1), 'the agent is listed', agents);
    mark = state.agent1.mark();
    const ack = await state.agent1.emitWithAck('request-current-state', 'system-mode');
    assert(ack && ack.ok === true, 'request-current-state ack', ack);
    const mode = await state.agent1.waitFor('current-state', mark, (data) => data.type === 'system-mode');
    assert(mode.data === 'hitl', 'system mode is hitl at start', mode);
  });

  await check('GET /api/system/mode, /api/agents/connected, /api/admin/conversations', async () => {
    const mode = assertOk(await http('GET', '/api/system/mode', { token: state.agent1Token }), 200, 'GET /api/system/mode');
    assert(mode.mode === 'hitl', 'mode', mode);
    const connected = assertOk(await http('GET', '/api/agents/connected', { token: state.agent1Token }), 200, 'GET /api/agents/connected');
    assert(agentIn(connected.agents, AGENT1), 'agents', connected);
    assert(connected.systemMode === 'hitl', 'systemMode', connected);
    const list = assertOk(await http('GET', '/api/admin/conversations?status=active', { token: state.agent1Token }), 200, 'GET /api/admin/conversations');
    const ids = list.conversations.map((conversation) => conversation.id);
    assert(ids.includes(state.cid) && ids.includes(state.cid2), 'both conversations listed', ids);
  });

  await check('system mode toggle -> system-mode-update; autopilot replies', async () => {
    let mark = state.agent1.mark();
    const body = assertOk(await http('POST', '/api/system/mode', { body: { mode: 'autopilot' }, token: state.agent1Token }), 200, 'POST /api/system/mode');
    assert(body.success === true && body.mode === 'autopilot', 'answer', body);
    await state.agent1.waitFor('system-mode-update', mark, (data) => data.mode === 'autopilot');
    const customerMark = state.customer.mark();
    mark = state.agent1.mark();
    const sent = assertOk(await http('POST', '/api/messages', { body: { conversationId: state.cid, message: 'Are you a bot?' }, token: state.customerToken }), 200, 'POST /api/messages (autopilot)');
    const reply = await state.customer.waitFor('agent-message', customerMark);
    assertMessage(reply.message, { conversationId: state.cid }, 'autopilot agent-message');
    await state.agent1.waitFor('new-message', mark, (data) => data.message && data.message.id === sent.userMessage.id);
    await state.agent1.waitFor('new-message', mark, (data) => data.message && data.message.id === reply.message.id);
    mark = state.agent1.mark();
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'hitl' }, token: state.agent1Token }), 200, 'POST /api/system/mode hitl');
    await state.agent1.waitFor('system-mode-update', mark, (data) => data.mode === 'hitl');
  });

  await check('mode off -> one-time offline notice (system message)', async () => {
    let mark = state.agent1.mark();
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'off' }, token: state.agent1Token }), 200, 'POST /api/system/mode off');
    await state.agent1.waitFor('system-mode-update', mark, (data) => data.mode === 'off');
    mark = state.agent1.mark();
    const first = assertOk(await http('POST', '/api/messages', { body: { conversationId: state.cid2, message: 'Anyone there?' }, token: state.customer2Token }), 200, 'POST /api/messages (off)');
    assertMessage(first.aiMessage, { conversationId: state.cid2, sender: 'system' }, 'offline notice');
    await state.agent1.waitFor('new-message', mark, (data) => data.message && data.message.id === first.aiMessage.id);
    const second = assertOk(await http('POST', '/api/messages', { body: { conversationId: state.cid2, message: 'Hello?' }, token: state.customer2Token }), 200, 'POST /api/messages (off, again)');
    assert(second.aiMessage === null || second.aiMessage === undefined, 'the offline notice is sent once', second);
    mark = state.agent1.mark();
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'hitl' }, token: state.agent1Token }), 200, 'POST /api/system/mode hitl');
    await state.agent1.waitFor('system-mode-update', mark, (data) => data.mode === 'hitl');
  });

  await check('a second agent joins -> tickets-reassigned (agent_joined) + connected-agents-update', async () => {
    // A conversation nobody has written in yet is unassigned: the joining agent picks it up.
    const created = assertOk(await http('POST', '/api/conversations', { body: { visitorId: `${VISITOR}-3` } }), 201, 'POST /api/conversations');
    assert(created.conversation.assignedAgent === null, 'a new conversation is unassigned', created);
    state.cid3 = created.conversationId;
    state.agent2Token = await agentToken(AGENT2);
    state.agent2 = new Peer('agent2', { token: state.agent2Token });
    await state.agent2.connectPromise;
    const mark1 = state.agent1.mark();
    const mark2 = state.agent2.mark();
    const ack = await state.agent2.emitWithAck('join-agent-dashboard', AGENT2);
    assert(ack && ack.ok === true, 'join-agent-dashboard ack', ack);
    await state.agent2.waitFor('system-mode-update', mark2);
    const both = (data) => agentIn(data.agents, AGENT1) && agentIn(data.agents, AGENT2, (agent) => agent.connected);
    await state.agent1.waitFor('connected-agents-update', mark1, both);
    await state.agent2.waitFor('connected-agents-update', mark2, both);
    const joined = await state.agent1.waitFor('tickets-reassigned', mark1, (data) => data.reason === 'agent_joined');
    assert(
      joined.reassignments.some((item) => item.conversationId === state.cid3 && item.fromAgentId === null && item.toAgentId === AGENT2),
      `${state.cid3} should go to the agent with the fewest chats (${AGENT2})`,
      joined,
    );
  });

  await check('personal status afk -> tickets-reassigned (agent_afk) + connected-agents-update', async () => {
    const mark = state.agent2.mark();
    const body = assertOk(
      await http('POST', '/api/agent/personal-status', { body: { agentId: AGENT1, personalStatus: 'afk' }, token: state.agent1Token }),
      200,
      'POST /api/agent/personal-status afk',
    );
    assert(body.success === true, 'success', body);
    assert(body.agent && body.agent.id === AGENT1 && body.agent.personalStatus === 'afk', 'agent', body);
    assert(Array.isArray(body.reassignments), 'reassignments', body);
    const moved = body.reassignments.find((item) => item.conversationId === state.cid);
    assert(moved && moved.fromAgentId === AGENT1 && moved.toAgentId === AGENT2, `${state.cid} should move from ${AGENT1} to ${AGENT2}`, body.reassignments);
    const event = await state.agent2.waitFor('tickets-reassigned', mark, (data) => data.reason === 'agent_afk');
    assert(event.reassignments.some((item) => item.conversationId === state.cid && item.toAgentId === AGENT2), 'event reassignments', event);
    await state.agent2.waitFor('connected-agents-update', mark, (data) => agentIn(data.agents, AGENT1, (agent) => agent.personalStatus === 'afk'));
  });

  await check('personal status back online -> connected-agents-update', async () => {
    const mark = state.agent2.mark();
    const body = assertOk(
      await http('POST', '/api/agent/personal-status', { body: { agentId: AGENT1, personalStatus: 'online' }, token: state.agent1Token }),
      200,
      'POST /api/agent/personal-status online',
    );
    assert(body.agent.personalStatus === 'online', 'agent', body);
    await state.agent2.waitFor('connected-agents-update', mark, (data) => agentIn(data.agents, AGENT1, (agent) => agent.personalStatus === 'online'));
  });

  await check('bulk-assign -> tickets-reassigned (bulk_assign)', async () => {
    const mark = state.agent1.mark();
    const body = assertOk(
      await http('POST', '/api/admin/conversations/bulk-assign', { body: { conversationIds: [state.cid, state.cid2], agentId: AGENT1 }, token: state.agent1Token }),
      200,
      'POST bulk-assign',
    );
    assert(body.success === true && Array.isArray(body.reassigned), 'answer', body);
    const event = await state.agent1.waitFor('tickets-reassigned', mark, (data) => data.reason === 'bulk_assign');
    for (const cid of [state.cid, state.cid2]) {
      assert(event.reassignments.some((item) => item.conversationId === cid && item.toAgentId === AGENT1), `${cid} in bulk reassignments`, event);
    }
  });

  await check('manual assign -> tickets-reassigned (manual_assign)', async () => {
    const mark = state.agent1.mark();
    const body = assertOk(
      await http('POST', `/api/conversations/${encodeURIComponent(state.cid2)}/assign`, { body: { agentId: AGENT2 }, token: state.agent1Token }),
      200,
      'POST assign',
    );
    assert(body.success === true && body.conversation.assignedAgent === AGENT2, 'answer', body);
    const event = await state.agent1.waitFor('tickets-reassigned', mark, (data) => data.reason === 'manual_assign');
    assert(event.reassignments.some((item) => item.conversationId === state.cid2 && item.fromAgentId === AGENT1 && item.toAgentId === AGENT2), 'reassignment', event);
  });

  await check('message history: per conversation and server-wide after a seq', async () => {
    const history = assertOk(await http('GET', `/api/conversations/${encodeURIComponent(state.cid)}/messages`, { token: state.customerToken }), 200, 'GET conversation messages');
    assert(history.conversationId === state.cid, 'conversationId', history);
    const seqs = history.messages.map((message) => message.seq);
    assert(seqs.length >= 4, 'at least 4 messages', seqs);
    assert(seqs.every((seq, index) => index === 0 || seq > seqs[index - 1]), 'seq order', seqs);
    const after = assertOk(await http('GET', `/api/conversations/${encodeURIComponent(state.cid)}/messages?after=${seqs[1]}`, { token: state.customerToken }), 200, 'GET ?after');
    assert(JSON.stringify(after.messages.map((message) => message.seq)) === JSON.stringify(seqs.slice(2)), 'after filters', after);
    const all = assertOk(await http('GET', `/api/messages?after=${state.lastSeq - 1}&limit=2`, { token: state.agent1Token }), 200, 'GET /api/messages');
    assert(Number.isInteger(all.lastSeq) && all.lastSeq >= seqs[seqs.length - 1], 'lastSeq is the head', all);
    assert(all.messages.length === 2 && all.messages[0].seq === state.lastSeq, 'page', all);
  });

  await check('end a conversation', async () => {
    const body = assertOk(await http('POST', `/api/conversations/${encodeURIComponent(state.cid2)}/end`, { body: { agentId: AGENT2 }, token: state.agent2Token }), 200, 'POST end');
    assert(body.success === true, 'success', body);
    const list = assertOk(await http('GET', '/api/admin/conversations?status=ended', { token: state.agent1Token }), 200, 'GET ended');
    assert(list.conversations.some((conversation) => conversation.id === state.cid2 && conversation.status === 'ended'), 'ended listed', list);
  });

  await check('malformed payloads for every event -> error-event invalid_payload', async () => {
    for (const [event, payloads] of Object.entries(MALFORMED)) {
      for (const payload of payloads) {
        const mark = state.agent1.mark();
        state.agent1.emit(event, payload);
        const error = await state.agent1.waitFor('error-event', mark);
        assert(error.code === 'invalid_payload' && error.event === event, `${event} ${JSON.stringify(payload)}`, error);
        assert(typeof error.message === 'string' && error.message.length > 0, 'error message', error);
        assert(error.details !== undefined && error.details !== null, 'invalid_payload without details', error);
      }
      const mark = state.agent1.mark();
      state.agent1.emit(event);
      const missing = await state.agent1.waitFor('error-event', mark);
      assert(missing.code === 'invalid_payload' && missing.event === event, `${event} with no payload`, missing);
    }
    await state.agent1.barrier();
  });

  await check('malformed payloads with an ack -> {ok:false, error:{code:invalid_payload}}', async () => {
    for (const [event, payloads] of Object.entries(MALFORMED)) {
      const mark = state.agent1.mark();
      const ack = await state.agent1.emitWithAck(event, payloads[0]);
      assert(ack && ack.ok === false && ack.error && ack.error.code === 'invalid_payload', `${event} ack`, ack);
      assert(typeof ack.error.message === 'string', 'ack error message', ack);
      await state.agent1.waitFor('error-event', mark, (data) => data.event === event);
    }
    await state.agent1.barrier();
  });

  await check('typing in an unknown conversation -> not_found', async () => {
    for (const event of ['agent-typing', 'customer-typing']) {
      const mark = state.agent1.mark();
      const ack = await state.agent1.emitWithAck(event, { conversationId: `missing-${RUN}`, isTyping: true });
      assert(ack && ack.ok === false && ack.error.code === 'not_found', `${event} ack`, ack);
      const error = await state.agent1.waitFor('error-event', mark);
      assert(error.code === 'not_found' && error.event === event, event, error);
    }
  });

  await check('heartbeat from a socket that never joined -> not_joined', async () => {
    const mark = state.customer.mark();
    const ack = await state.customer.emitWithAck('heartbeat', { timestamp: Date.now() });
    // With a customer token the server may refuse the identity before it checks the join.
    const codes = TOKEN_MODE ? ['not_joined', 'forbidden'] : ['not_joined'];
    assert(ack && ack.ok === false && ack.error && codes.includes(ack.error.code), 'heartbeat ack', ack);
    const error = await state.customer.waitFor('error-event', mark);
    assert(error.event === 'heartbeat' && codes.includes(error.code), 'error-event', error);
  });

  await check('REST errors are JSON {error, code, details}', async () => {
    assertErrorBody(await http('POST', '/api/messages', { raw: '{not json', token: state.customerToken }), 400, 'invalid_payload', 'bad JSON');
    assertErrorBody(await http('POST', '/api/agent/respond', { body: { conversationId: state.cid }, token: state.agent1Token }), [400, 422], 'invalid_payload', 'missing fields');
    assertErrorBody(await http('POST', '/api/system/mode', { body: { mode: 'turbo' }, token: state.agent1Token }), [400, 422], 'invalid_payload', 'bad mode');
    assertErrorBody(await http('GET', `/api/conversations/nope-${RUN}/messages`, { token: state.agent1Token }), 404, 'not_found', 'unknown conversation');
    assertErrorBody(await http('GET', '/api/messages?after=abc', { token: state.agent1Token }), 400, 'invalid_payload', 'after=abc');
  });

  await check('long-polling only client: join, events, acks', async () => {
    const peer = new Peer('polling-agent', { token: state.agent1Token, transports: ['polling'] });
    await peer.connectPromise;
    assert(peer.socket.io.engine.transport.name === 'polling', 'transport', peer.socket.io.engine.transport.name);
    const mark = peer.mark();
    const ack = await peer.emitWithAck('join-agent-dashboard', AGENT1);
    assert(ack && ack.ok === true, 'join ack', ack);
    await peer.waitFor('system-mode-update', mark);
    const sent = assertOk(await http('POST', '/api/messages', { body: { conversationId: state.cid, message: 'over polling' }, token: state.customerToken }), 200, 'POST /api/messages');
    await peer.waitFor('new-message', mark, (data) => data.message && data.message.id === sent.userMessage.id);
    peer.close();
  });

  await check('agent disconnect -> connected-agents-update marks it offline', async () => {
    const mark = state.agent1.mark();
    state.agent2.close();
    await state.agent1.waitFor('connected-agents-update', mark, (data) => agentIn(data.agents, AGENT2, (agent) => agent.connected === false) || !agentIn(data.agents, AGENT2));
  });

  if (TOKEN_MODE) await tokenDenials();

  for (const peer of ['agent1', 'agent2', 'customer']) if (state[peer]) state[peer].close();
}

async function tokenDenials() {
  await check('§8 no token -> connect_error', async () => {
    const peer = new Peer('anonymous', { connect: false });
    let refused = false;
    try {
      await peer.connect();
    } catch (error) {
      refused = !(error instanceof CheckError);
    }
    peer.close();
    assert(refused, 'a socket without a token connected');
  });

  await check('§8 forged token -> connect_error', async () => {
    const peer = new Peer('forged', { token: 'not-a-real-token', connect: false });
    let refused = false;
    try {
      await peer.connect();
    } catch (error) {
      refused = !(error instanceof CheckError);
    }
    peer.close();
    assert(refused, 'a socket with a forged token connected');
  });

  await check('§8 customer token joining agents -> forbidden', async () => {
    const peer = new Peer('customer-as-agent', { token: state.customerToken });
    await peer.connectPromise;
    const mark = peer.mark();
    peer.emit('join-agent-dashboard', AGENT1);
    const error = await peer.waitFor('error-event', mark);
    assert(error.code === 'forbidden' && error.event === 'join-agent-dashboard', 'error-event', error);
    const ack = await peer.emitWithAck('join-agent-dashboard', AGENT1);
    assert(ack && ack.ok === false && ack.error.code === 'forbidden', 'ack', ack);
    const typing = await peer.emitWithAck('agent-typing', { conversationId: state.cid, isTyping: true });
    assert(typing && typing.ok === false && typing.error.code === 'forbidden', 'agent-typing with a customer token', typing);
    assert(peer.since(mark, 'system-mode-update').length === 0, 'customer got system-mode-update');
    peer.close();
  });

  await check('§8 customer token joining another conversation -> forbidden', async () => {
    const peer = new Peer('customer-elsewhere', { token: state.customerToken });
    await peer.connectPromise;
    const ack = await peer.emitWithAck('join-conversation', state.cid2);
    assert(ack && ack.ok === false && ack.error.code === 'forbidden', 'join other conversation', ack);
    const typing = await peer.emitWithAck('customer-typing', { conversationId: state.cid2, isTyping: true });
    assert(typing && typing.ok === false && typing.error.code === 'forbidden', 'type in other conversation', typing);
    const own = await peer.emitWithAck('join-conversation', state.cid);
    assert(own && own.ok === true, 'join own conversation', own);
    peer.close();
  });

  await check('§8 agent token joining under another agentId -> forbidden', async () => {
    const peer = new Peer('agent-impostor', { token: state.agent1Token });
    await peer.connectPromise;
    const mark = peer.mark();
    peer.emit('join-agent-dashboard', AGENT2);
    const error = await peer.waitFor('error-event', mark);
    assert(error.code === 'forbidden' && error.event === 'join-agent-dashboard', 'error-event', error);
    const ack = await peer.emitWithAck('join-agent-dashboard', AGENT2);
    assert(ack && ack.ok === false && ack.error.code === 'forbidden', 'ack', ack);
    peer.close();
  });

  await check('§8 wrong agent key -> 401', async () => {
    assertErrorBody(await http('POST', '/api/auth/agent-token', { body: { agentId: AGENT1, agentKey: `${AGENT_KEY}-wrong` } }), 401, 'unauthorized', 'wrong key');
  });

  await check('§8 REST without or with a forged token -> 401', async () => {
    assertErrorBody(await http('GET', '/api/agents/connected'), 401, 'unauthorized', 'no token');
    assertErrorBody(await http('POST', '/api/agent/respond', { body: { conversationId: state.cid, message: 'x', agentId: AGENT1 }, token: 'forged' }), 401, 'unauthorized', 'forged token');
  });

  await check('§8 customer token on agent endpoints and other conversations -> 403', async () => {
    assertErrorBody(
      await http('POST', '/api/agent/respond', { body: { conversationId: state.cid, message: 'x', agentId: AGENT1 }, token: state.customerToken }),
      403,
      'forbidden',
      'respond as customer',
    );
    assertErrorBody(await http('GET', '/api/messages?after=0', { token: state.customerToken }), 403, 'forbidden', 'all messages as customer');
    assertErrorBody(await http('GET', `/api/conversations/${encodeURIComponent(state.cid2)}/messages`, { token: state.customerToken }), 403, 'forbidden', 'other conversation');
  });
}

run(main);
