#!/usr/bin/env node
// Replays, with the stock socket.io-client 4 and plain HTTP, the calls and socket events that
// production's own web clients make (Lizdeika at 0dec8e5, custom-widget/: login.html,
// setup-2fa.html, agent-dashboard.html + js/agent-dashboard/**, widget.js, index.html) in the
// flow of docs/guides/production.md, against `--profile lizdeika`. Each step names the file
// and line of the client that makes the call, and checks that the answer has the fields that
// code reads, in production's shape.
//
//   node production_web_flows.js http://127.0.0.1:3002 --email a@x.io --password p \
//        --email2 b@x.io --password2 q
//
// Prints one JSON line per check and a final summary line; exits 1 when a check failed.
// Left out here, as other work's (issue 21) or tests': GET /api/templates
// (agent-dashboard.js:814), GET /api/agents/all (APIManager.js:497), the suggestions
// (APIManager.js:403, :475), POST /api/auth/logout (auth-actions.js:16), uploads.
'use strict';

const crypto = require('node:crypto');
const { BASE, option, assert, Peer, http, assertOk, check, run } = require('./harness');

const EMAIL = option('--email');
const PASSWORD = option('--password');
const EMAIL2 = option('--email2');
const PASSWORD2 = option('--password2');

if (!BASE || !EMAIL || !PASSWORD || !EMAIL2 || !PASSWORD2) {
  process.stderr.write('usage: node production_web_flows.js <url> --email E --password P --email2 E --password2 P\n');
  process.exit(64);
}

/** The current RFC 6238 code of a base32 secret, as an authenticator app shows it. */
function totp(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of secret.replace(/=+$/, '')) bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const digest = crypto.createHmac('sha1', key).update(counter).digest();
  const offset = digest[digest.length - 1] & 0xf;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1e6).padStart(6, '0');
}

/** widget.js:1371 generateSessionId */
const sessionId = () => `session-${Math.random().toString(36).substring(2, 11)}`;

async function main() {
  const s = {};

  await check('login.html:164 POST /api/auth/login -> tokens, user without 2FA -> setup-2fa.html', async () => {
    const body = assertOk(await http('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } }), 200, 'login');
    assert(!body.requires2FASetup && !body.requiresTotp, 'no 2FA step (login.html:176, :195)', body);
    const { user, tokens } = body.data; // login.html:202-204 stores these three
    assert(typeof tokens.accessToken === 'string' && typeof tokens.refreshToken === 'string', 'tokens', tokens);
    assert(user.role === 'agent' && user.totp_enabled === false, 'login.html:211-216 reads role and totp_enabled', user);
    Object.assign(s, { agentId: user.id, access: tokens.accessToken, refresh: tokens.refreshToken, user });
  });

  await check('setup-2fa.html:231 POST /api/users/:id/totp/initiate -> QR code, key, backup codes', async () => {
    const response = await http('POST', `/api/users/${s.agentId}/totp/initiate`, { token: s.access });
    const body = assertOk(response, 200, 'initiate');
    assert(body.success === true, 'setup-2fa.html:241 reads success', body);
    const { qrCode, manualEntryKey, backupCodes } = body.data; // setup-2fa.html:244-250
    assert(/^data:image\/png;base64,/.test(qrCode), 'qrCode is an <img> source', qrCode.slice(0, 40));
    assert(/^[A-Z2-7]{32}$/.test(manualEntryKey), 'manualEntryKey', manualEntryKey);
    assert(Array.isArray(backupCodes) && backupCodes.length === 10, 'backupCodes', backupCodes);
    assert(/no-store/.test(response.headers.get('cache-control')), 'not cached', response.headers.get('cache-control'));
    // "Later" (setup-2fa.html:366-371) goes to the dashboard without another call
  });

  await check('agent-dashboard.html:685 GET /api/auth/verify -> ok', async () => {
    const body = assertOk(await http('GET', '/api/auth/verify', { token: s.access }), 200, 'verify');
    assert(body.success === true && body.data.user.id === s.agentId, 'verify body', body);
    const refused = await http('GET', '/api/auth/verify', { token: 'null' }); // no token stored
    assert(refused.status === 401, 'a bad token sends the page back to login.html (:32-37)', refused.json);
  });

  await check('agent-dashboard.js:427 -> APIManager.js:54 POST /api/agent/personal-status (before the socket)', async () => {
    const body = { agentId: s.agentId, personalStatus: 'online', forceUpdate: false };
    const answer = assertOk(await http('POST', '/api/agent/personal-status', { body, token: s.access }), 200, 'status');
    assert(answer.success === true, 'personal-status', answer);
  });

  await check('AgentAuthManager.js:116 GET /api/auth/profile -> data.role', async () => {
    const body = assertOk(await http('GET', '/api/auth/profile', { token: s.access }), 200, 'profile');
    assert(body.data.role === 'agent' && body.data.id === s.agentId, 'AgentAuthManager.js:122-125 reads data.role', body);
    assert(body.data.agent_status && body.data.agent_status.status === 'online', 'agent_status', body.data);
  });

  await check('SocketManager.js:54 io(origin) -> agent-dashboard.js:421 join-agent-dashboard -> mode and agents', async () => {
    s.dashboard = new Peer('dashboard', { transports: null }); // io(apiUrl): the default transports
    await s.dashboard.connectPromise;
    const mark = s.dashboard.mark();
    s.dashboard.emit('join-agent-dashboard', s.agentId);
    const mode = await s.dashboard.waitFor('system-mode-update', mark); // SocketManager.js:115
    assert(mode.mode === 'hitl', 'agent-dashboard.js:176 reads data.mode', mode);
    const update = await s.dashboard.waitFor('connected-agents-update', mark); // SocketManager.js:108
    const me = update.agents.find((agent) => agent.id === s.agentId);
    assert(me && me.personalStatus === 'online' && typeof me.name === 'string', 'agent-dashboard.js:665-689', update);
    // agent-dashboard.js:427 registers the status once more, now that the socket is up
    assertOk(await http('POST', '/api/agent/personal-status', { body: { agentId: s.agentId, personalStatus: 'online', forceUpdate: false }, token: s.access }), 200, 'status');
  });

  await check('ConversationLoader.js:41 GET /api/admin/conversations -> conversations', async () => {
    const body = assertOk(await http('GET', '/api/admin/conversations', { token: s.access }), 200, 'list');
    assert(Array.isArray(body.conversations), 'ConversationLoader.js:50 reads conversations', body);
  });

  await check('SocketManager.js:179 heartbeat {timestamp, agentId, source} -> heartbeat-ack', async () => {
    const mark = s.dashboard.mark();
    s.dashboard.emit('heartbeat', { timestamp: Date.now(), agentId: s.agentId, source: 'dashboard' });
    const ack = await s.dashboard.waitFor('heartbeat-ack', mark);
    assert(ack.agentId === s.agentId, 'heartbeat-ack', ack);
  });

  await check('widget.js:786 GET /api/config/branding -> the privacy checkbox text', async () => {
    const body = assertOk(await http('GET', '/api/config/branding'), 200, 'branding');
    const text = body.data.privacy_checkbox_text && body.data.privacy_checkbox_text.value; // widget.js:789
    assert(typeof text === 'string' && text.includes('Privacy Policy'), 'privacy text', body);
  });

  await check('widget.js:703 io(ws origin), widget.js:1033 POST /api/messages -> queue live on the dashboard', async () => {
    s.widget = new Peer('widget', { transports: null, url: BASE.replace('http', 'ws') });
    await s.widget.connectPromise;
    s.cid = sessionId();
    s.visitor = `visitor-${Math.random().toString(36).substring(2, 11)}`; // widget.js:1222
    const mark = s.dashboard.mark();
    const body = assertOk(await http('POST', '/api/messages', { body: { conversationId: s.cid, message: 'Labas, reikia pagalbos', visitorId: s.visitor } }), 200, 'send');
    assert(body.userMessage && typeof body.userMessage.id === 'string', 'widget.js:1052-1053 reads userMessage.id', body);
    const hidden = body.aiMessage.sender === 'system' && body.aiMessage.content.includes('[Message pending agent response');
    assert(hidden, 'widget.js:1068 hides the pending note (isInternalSystemMessage, :1232-1242)', body.aiMessage);
    s.widget.emit('join-conversation', s.cid); // widget.js:1062, after the first message
    const created = await s.dashboard.waitFor('new-conversation', mark); // SocketManager.js:135
    assert(created.conversationId === s.cid, 'agent-dashboard.js:1411 reads conversationId', created);
    const message = await s.dashboard.waitFor('new-message', mark); // SocketManager.js:101
    assert(message.conversationId === s.cid && message.message.content === 'Labas, reikia pagalbos', 'agent-dashboard.js:1264-1269', message);
    assert(message.message.sender === 'visitor' && typeof message.message.id === 'string', 'new-message sender', message);
    // agent-dashboard.js:1415 -> ConversationLoader.js:41: the queue now lists it
    const list = assertOk(await http('GET', '/api/admin/conversations', { token: s.access }), 200, 'list');
    const listed = list.conversations.find((conversation) => conversation.id === s.cid);
    assert(listed && listed.lastMessage.content === 'Labas, reikia pagalbos', 'ConversationRenderer reads lastMessage', list);
    assert(listed.assignedAgent === s.agentId && listed.archived === false, 'the filters read assignedAgent and archived', listed);
  });

  await check('opening the chat: ConversationRenderer.js:781 mark-seen, APIManager.js:324 messages', async () => {
    const seen = assertOk(await http('POST', `/api/conversations/${s.cid}/mark-seen`, { body: {}, token: s.access }), 200, 'mark-seen');
    assert(seen.success === true, 'mark-seen', seen);
    const history = assertOk(await http('GET', `/api/conversations/${s.cid}/messages`), 200, 'messages');
    const shown = history.messages.filter((m) => !(m.sender === 'system' && m.content.includes('[Message pending agent response')));
    assert(shown.length === 1 && shown[0].content === 'Labas, reikia pagalbos', 'ConversationRenderer.js:361-367', history);
  });

  await check('typing: widget.js:777 customer-typing -> dashboard; EventManager.js:217 agent-typing -> widget', async () => {
    let mark = s.dashboard.mark();
    s.widget.emit('customer-typing', { conversationId: s.cid, isTyping: true });
    const customer = await s.dashboard.waitFor('customer-typing-status', mark); // SocketManager.js:129
    assert(customer.conversationId === s.cid && customer.isTyping === true, 'agent-dashboard.js:1393-1394', customer);
    mark = s.widget.mark();
    s.dashboard.emit('agent-typing', { conversationId: s.cid, isTyping: true });
    const agent = await s.widget.waitFor('agent-typing-status', mark); // widget.js:736
    assert(agent.isTyping === true, 'widget.js:737 reads isTyping', agent);
  });

  await check('a follow-up: new-message for the open chat, agent-dashboard.js:1283 reloads its messages', async () => {
    const mark = s.dashboard.mark();
    assertOk(await http('POST', '/api/messages', { body: { conversationId: s.cid, message: 'Ar kas nors čia?', visitorId: s.visitor } }), 200, 'send');
    const message = await s.dashboard.waitFor('new-message', mark, (data) => data.conversationId === s.cid);
    assert(message.message.content === 'Ar kas nors čia?', 'follow-up', message);
    const history = assertOk(await http('GET', `/api/conversations/${s.cid}/messages`), 200, 'messages');
    const contents = history.messages.filter((m) => m.sender === 'visitor').map((m) => m.content);
    assert(contents.join('|') === 'Labas, reikia pagalbos|Ar kas nors čia?', 'both in the open chat', history);
  });

  await check('APIManager.js:353 POST /api/agent/respond -> agent-message in the widget, agent-sent-message', async () => {
    const widgetMark = s.widget.mark();
    const dashboardMark = s.dashboard.mark();
    const body = { conversationId: s.cid, message: 'Sveiki! Kuo galiu padėti?', agentId: s.agentId, suggestionAction: 'from-scratch', autoAssign: false };
    const answer = assertOk(await http('POST', '/api/agent/respond', { body, token: s.access }), 200, 'respond');
    assert(answer.success === true, 'ChatManager.js:194 reads success === true', answer);
    const reply = await s.widget.waitFor('agent-message', widgetMark); // widget.js:719
    const { message } = reply;
    assert(message.content === 'Sveiki! Kuo galiu padėti?' && message.sender === 'agent', 'widget.js:723-732', reply);
    assert(typeof message.id === 'string' && 'metadata' in message, 'widget.js:729 reads metadata', message);
    const sent = await s.dashboard.waitFor('agent-sent-message', dashboardMark); // SocketManager.js:143
    assert(sent.conversationId === s.cid && sent.message.content === message.content, 'agent-dashboard.js:1427-1433', sent);
  });

  await check('widget.js:865 a reloaded widget reads the history', async () => {
    const history = assertOk(await http('GET', `/api/conversations/${s.cid}/messages`), 200, 'messages');
    const shown = history.messages.filter((m) => ['visitor', 'agent', 'ai'].includes(m.sender)); // widget.js:882-884
    assert(shown.map((m) => m.sender).join(',') === 'visitor,visitor,agent', 'widget.js:875-933', history);
    assert(shown.every((m) => typeof m.id === 'string'), 'ids for de-duplication (widget.js:911)', shown);
  });

  await check('system mode: POST /api/system/mode -> system-mode-update on the open dashboard', async () => {
    const mark = s.dashboard.mark();
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'autopilot' } }), 200, 'mode');
    await s.dashboard.waitFor('system-mode-update', mark, (data) => data.mode === 'autopilot');
    assertOk(await http('POST', '/api/system/mode', { body: { mode: 'hitl' } }), 200, 'mode');
    await s.dashboard.waitFor('system-mode-update', mark, (data) => data.mode === 'hitl');
  });

  await check('ErrorHandler.js:182 POST /api/logs/frontend with X-Correlation-ID -> success', async () => {
    const report = { level: 'error', message: 'Error loading templates', correlationId: 'corr-1', module: 'agent-dashboard', userId: null, metadata: { context: 'x' } };
    const body = assertOk(await http('POST', '/api/logs/frontend', { body: report, headers: { 'x-correlation-id': 'corr-1' } }), 200, 'log');
    assert(body.success === true, 'frontend log', body);
  });

  await check('index.html:96 verify, index.html:74 refresh, login.html:92 verify of a stored token', async () => {
    const refreshed = assertOk(await http('POST', '/api/auth/refresh', { body: { refreshToken: s.refresh } }), 200, 'refresh');
    // production answers data.accessToken; index.html:82 reads data.data.tokens.accessToken, which
    // production does not send either, so that page goes on to login.html (as it does there)
    assert(typeof refreshed.data.accessToken === 'string' && !('tokens' in refreshed.data), 'refresh shape', refreshed);
    assertOk(await http('GET', '/api/auth/verify', { token: refreshed.data.accessToken }), 200, 'verify');
    const status = assertOk(await http('GET', '/api/auth/status'), 200, 'status');
    assert(status.data.isAuthenticated === false && status.data.user === null, 'status without a token', status);
  });

  await check('setup-2fa.html:279 POST /api/users/:id/totp/verify, then login.html:263 with totpCode', async () => {
    const login = assertOk(await http('POST', '/api/auth/login', { body: { email: EMAIL2, password: PASSWORD2 } }), 200, 'login');
    const { user, tokens } = login.data;
    const setup = assertOk(await http('POST', `/api/users/${user.id}/totp/initiate`, { token: tokens.accessToken }), 200, 'initiate');
    const wrong = await http('POST', `/api/users/${user.id}/totp/verify`, { body: { code: '12345' }, token: tokens.accessToken });
    assert(wrong.status === 400 && typeof wrong.json.error === 'string', 'setup-2fa.html:302 shows data.error', wrong.json);
    const code = totp(setup.data.manualEntryKey);
    const enabled = assertOk(await http('POST', `/api/users/${user.id}/totp/verify`, { body: { code }, token: tokens.accessToken }), 200, 'verify');
    assert(enabled.success === true, 'setup-2fa.html:290 reads success', enabled);
    const challenge = assertOk(await http('POST', '/api/auth/login', { body: { email: EMAIL2, password: PASSWORD2 } }), 200, 'login');
    assert(challenge.requiresTotp === true, 'login.html:195 shows the code form', challenge);
    const second = assertOk(await http('POST', '/api/auth/login', { body: { email: EMAIL2, password: PASSWORD2, totpCode: totp(setup.data.manualEntryKey) } }), 200, 'login with code');
    assert(second.data.tokens && second.data.user.totp_enabled === true, 'login.html:277-281', second);
  });
}

run(main);
