#!/usr/bin/env node
// Plays production's agent dashboard and customer widget with the real JavaScript
// socket.io-client 4 against the reference server started with `--profile lizdeika`
// (shared/PRODUCTION.md): login, a dashboard join that is never acknowledged, heartbeat,
// a widget's `session-…` conversation, hitl/autopilot/off, typing both ways, respond,
// agent-sent-message, current-state, the 429 rate limit and JWT-only endpoints.
//
//   node lizdeika_flows.js http://127.0.0.1:3002 --email bot@example.com --password secret
//
// Prints one JSON line per check and a final summary line; exits 1 when a check failed.
'use strict';

const { BASE, option, assert, Peer, http, assertOk, check, run } = require('./harness');

const EMAIL = option('--email');
const PASSWORD = option('--password');
const NO_ACK_MS = 300;

if (!BASE || !EMAIL || !PASSWORD) {
  process.stderr.write('usage: node lizdeika_flows.js <server-url> --email E --password P\n');
  process.exit(64);
}

// ---------------------------------------------------------------------------------------------
// The flows

const session = () => `session-${Math.random().toString(36).substring(2, 11)}`;

async function noAck(peer, event, payload) {
  try {
    await peer.socket.timeout(NO_ACK_MS).emitWithAck(event, payload);
  } catch {
    return true; // timed out: production never acknowledges
  }
  return false;
}

async function main() {
  const state = {};

  await check('health has no contract object', async () => {
    const health = assertOk(await http('GET', '/health'), 200, 'health');
    assert(health.status === 'ok' && !('contract' in health), 'production health', health);
    assert('uptime' in health && 'connections' in health, 'production health fields', health);
  });

  await check('login with email and password -> JWTs, user UUID', async () => {
    const body = assertOk(await http('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } }), 200, 'login');
    assert(body.success === true && body.data.tokens.tokenType === 'Bearer', 'login body', body);
    assert(body.data.tokens.expiresIn === 900, 'access tokens last 15 minutes', body.data.tokens);
    assert(/^[0-9a-f-]{36}$/.test(body.data.user.id), 'user id is a UUID', body.data.user);
    state.agentId = body.data.user.id;
    state.access = body.data.tokens.accessToken;
    state.refresh = body.data.tokens.refreshToken;
    const wrong = await http('POST', '/api/auth/login', { body: { email: EMAIL, password: `${PASSWORD}x` } });
    assert(wrong.status === 401 && wrong.json.code === 'LOGIN_FAILED', 'wrong password', wrong.json);
  });

  await check('refresh -> a new access token', async () => {
    const body = assertOk(await http('POST', '/api/auth/refresh', { body: { refreshToken: state.refresh } }), 200, 'refresh');
    assert(typeof body.data.accessToken === 'string' && body.data.expiresIn === 900, 'refresh body', body);
    state.access = body.data.accessToken;
  });

  await check('dashboard join: never acknowledged, system-mode-update + connected-agents-update', async () => {
    state.dashboard = new Peer('dashboard', { transports: null });
    await state.dashboard.connectPromise;
    const mark = state.dashboard.mark();
    assert(await noAck(state.dashboard, 'join-agent-dashboard', state.agentId), 'join was acknowledged');
    const mode = await state.dashboard.waitFor('system-mode-update', mark);
    assert(mode.mode === 'hitl', 'mode', mode);
    const update = await state.dashboard.waitFor('connected-agents-update', mark, (data) => data.agents.length > 0);
    const me = update.agents.find((agent) => agent.id === state.agentId);
    assert(me && me.userId === state.agentId && !('activeChats' in me), 'AgentData', update);
  });

  await check('heartbeat -> heartbeat-ack with the server clock, no ack', async () => {
    const mark = state.dashboard.mark();
    assert(await noAck(state.dashboard, 'heartbeat', { timestamp: 1, source: 'dashboard' }), 'heartbeat acknowledged');
    const ack = await state.dashboard.waitFor('heartbeat-ack', mark);
    assert(ack.agentId === state.agentId && Date.parse(ack.timestamp) > 1e12, 'heartbeat-ack', ack);
  });

  await check('request-current-state -> current-state', async () => {
    const mark = state.dashboard.mark();
    state.dashboard.emit('request-current-state', 'connected-agents');
    const current = await state.dashboard.waitFor('current-state', mark);
    assert(current.type === 'connected-agents' && Array.isArray(current.data), 'current-state', current);
  });

  await check('widget session conversation in hitl -> new-conversation, new-message (production shape)', async () => {
    state.cid = session();
    state.widget = new Peer('widget', { transports: null });
    await state.widget.connectPromise;
    state.widget.emit('join-conversation', state.cid);
    const mark = state.dashboard.mark();
    const body = assertOk(await http('POST', '/api/messages', { body: { conversationId: state.cid, message: ' Hello ', visitorId: 'visitor-1' } }), 200, 'post');
    assert(body.userMessage.content === 'Hello' && !('seq' in body.userMessage), 'trimmed, no seq', body);
    assert(body.aiMessage.sender === 'system' && body.aiMessage.metadata.pendingAgent === true, 'pending suggestion', body);
    assert(!('token' in body), 'no customer token', body);
    const created = await state.dashboard.waitFor('new-conversation', mark);
    assert(created.conversationId === state.cid && created.conversation.assignedAgent === state.agentId, 'new-conversation', created);
    const message = await state.dashboard.waitFor('new-message', mark);
    assert(message.type === 'new-message' && message.conversation.unseenByAgent === true, 'new-message', message);
    assert(!('conversationId' in message.message) && !('seq' in message.message), 'message shape', message);
  });

  await check('typing both ways', async () => {
    let mark = state.dashboard.mark();
    state.widget.emit('customer-typing', { conversationId: state.cid, isTyping: true });
    const typing = await state.dashboard.waitFor('customer-typing-status', mark);
    assert(typing.conversationId === state.cid && typing.isTyping === true, 'customer-typing-status', typing);
    mark = state.widget.mark();
    state.dashboard.emit('agent-typing', { conversationId: state.cid, isTyping: true });
    const status = await state.widget.waitFor('agent-typing-status', mark);
    assert(status.isTyping === true && !('conversationId' in status), 'agent-typing-status', status);
  });

  await check('respond -> agent-message to the widget, agent-sent-message to agents', async () => {
    const widgetMark = state.widget.mark();
    const dashboardMark = state.dashboard.mark();
    const body = assertOk(await http('POST', '/api/agent/respond', { body: { conversationId: state.cid, message: 'Hi there', agentId: state.agentId } }), 200, 'respond');
    assert(body.success === true && body.message.sender === 'agent', 'respond body', body);
    const message = await state.widget.waitFor('agent-message', widgetMark);
    assert(message.message.content === 'Hi there' && message.message.agentId === state.agentId, 'agent-message', message);
    const sent = await state.dashboard.waitFor('agent-sent-message', dashboardMark);
    assert(sent.conversationId === state.cid, 'agent-sent-message', sent);
    const history = assertOk(await http('GET', `/api/conversations/${state.cid}/messages`), 200, 'history');
    assert(history.messages.map((m) => m.sender).join(',') === 'visitor,agent', 'history', history);
  });

  await check('autopilot: the reply is in the answer only', async () => {
    const mark = state.dashboard.mark();
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'autopilot' } }), 200, 'mode');
    await state.dashboard.waitFor('system-mode-update', mark, (data) => data.mode === 'autopilot');
    const body = assertOk(await http('POST', '/api/messages', { body: { conversationId: session(), message: 'auto?' } }), 200, 'post');
    assert(body.aiMessage.sender === 'agent' && body.aiMessage.metadata.isAutopilotResponse === true, 'autopilot reply', body);
    await state.dashboard.barrier();
    assert(state.dashboard.since(mark, 'new-message').length === 0, 'no new-message in autopilot');
  });

  await check('off: the offline notice, no events', async () => {
    const mark = state.dashboard.mark();
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'off' } }), 200, 'mode');
    await state.dashboard.waitFor('system-mode-update', mark, (data) => data.mode === 'off');
    const body = assertOk(await http('POST', '/api/messages', { body: { conversationId: session(), message: 'anyone?' } }), 200, 'post');
    assert(body.aiMessage.metadata.messageType === 'offline_notification', 'offline notice', body);
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'hitl' } }), 200, 'mode');
  });

  await check('JWT-only endpoints refused without a token', async () => {
    const refused = await http('POST', `/api/conversations/${state.cid}/assign`, { body: { agentId: state.agentId } });
    assert(refused.status === 401 && refused.json.code === 'TOKEN_MISSING', 'assign without token', refused.json);
    const forged = await http('POST', '/api/admin/conversations/bulk-assign', { body: { conversationIds: [state.cid], agentId: state.agentId }, token: 'forged' });
    assert(forged.status === 401 && forged.json.code === 'TOKEN_INVALID', 'forged token', forged.json);
    const ok = assertOk(await http('POST', `/api/conversations/${state.cid}/assign`, { body: { agentId: state.agentId }, token: state.access }), 200, 'assign with token');
    assert(ok.success === true, 'assign', ok);
  });

  await check('POST /api/messages over 10 per minute -> 429 with Retry-After', async () => {
    let limited;
    for (let i = 0; i < 12 && !limited; i += 1) {
      const response = await http('POST', '/api/messages', { body: { conversationId: session(), message: `m${i}` } });
      if (response.status === 429) limited = response;
    }
    assert(limited, 'no 429 within 12 messages');
    assert(limited.json.code === 'RATE_LIMIT_EXCEEDED', '429 body', limited.json);
    assert(Number(limited.headers.get('retry-after')) > 0, 'Retry-After', limited.headers.get('retry-after'));
  });
}

run(main);
