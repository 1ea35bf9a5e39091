// The Vilnius console: a customer widget (left) and a live view of the whole server (right).
//
// It uses only what the server offers to any client (the REST API and Socket.IO, through
// the small client in sio.js) plus the console's own read-only feed (/console/feed), and
// it branches on capabilities, never on profile names: /console/config lists the
// contract features the server offers (CONTRACT.md §0; none for production) and whether
// agents log in as users.

import { SocketIO } from "./sio.js";

const $ = (selector) => document.querySelector(selector);
const TOKEN_KEY = `vilnius-console:${location.host}:agent-token`;
const CHAT_KEY = `vilnius-console:${location.host}:conversation`;
const MAX_LOG = 3000;
const TYPING_IDLE_MS = 2000;

let config = null; // /console/config
const has = (feature) => config.features.includes(feature);

// -- small helpers ---------------------------------------------------------------------

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function randomId(length) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

function clock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function shortId(id) {
  return id && id.length > 22 ? `${id.slice(0, 10)}…${id.slice(-8)}` : id || "";
}

/** A REST call; resolves to {status, body} (body parsed as JSON when it is JSON). */
async function api(method, path, body, { auth = null, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (auth) init.headers.Authorization = `Bearer ${auth}`;
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: response.status, body: parsed };
}

function errorText(reply) {
  const body = reply.body;
  const message = body && typeof body === "object" ? body.error || body.message : body;
  return `${reply.status}${message ? `: ${message}` : ""}`;
}

// -- the agent key (auth mode token) ---------------------------------------------------

const agentToken = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The token the console's own agent actions use (null when the server needs none). */
function adminAuth() {
  return config.keyRequired ? agentToken.get() : null;
}

function askForKey(message = "") {
  $("#app").hidden = true;
  $("#gate").hidden = false;
  $("#key-error").textContent = message;
  $("#key-input").focus();
  feed.stop();
}

async function submitKey(event) {
  event.preventDefault();
  const key = $("#key-input").value;
  $("#key-submit").disabled = true;
  try {
    const reply = await api("POST", "/api/auth/agent-token", { agentId: "console", agentKey: key });
    if (reply.status !== 200) {
      $("#key-error").textContent =
        reply.status === 401 ? "Wrong agent key." : `Refused (${errorText(reply)}).`;
      return;
    }
    agentToken.set(reply.body.token);
    $("#key-input").value = "";
    openConsole();
  } catch (error) {
    $("#key-error").textContent = `Server unreachable (${error.message}).`;
  } finally {
    $("#key-submit").disabled = false;
  }
}

// -- the customer widget ---------------------------------------------------------------

const widget = {
  conversationId: null,
  customerToken: null,
  visitorId: null,
  messages: new Map(), // id -> message
  socket: null,
  typing: false,
  typingTimer: null,
  agentTypingTimer: null,

  restore() {
    const saved = JSON.parse(sessionStorage.getItem(CHAT_KEY) || "null");
    if (saved && saved.conversationId) {
      Object.assign(this, saved);
      this.showConversation();
      this.connect();
    }
  },

  save() {
    const { conversationId, customerToken, visitorId } = this;
    sessionStorage.setItem(CHAT_KEY, JSON.stringify({ conversationId, customerToken, visitorId }));
  },

  /** Start a new conversation as the server's own widget would. */
  async start() {
    this.close();
    $("#widget-error").textContent = "";
    this.messages.clear();
    this.render();
    this.visitorId = `console-visitor-${randomId(8)}`;
    if (has("customer-token")) {
      // The contract: create the conversation, get its customer token.
      const reply = await api("POST", "/api/conversations", { visitorId: this.visitorId });
      if (reply.status !== 201 && reply.status !== 200) {
        throw new Error(`could not start a conversation (${errorText(reply)})`);
      }
      this.conversationId = reply.body.conversationId;
      this.customerToken = reply.body.token || null;
    } else {
      // Production's widget: a session id of its own; the first message creates it.
      this.conversationId = `session-${randomId(9)}`;
      this.customerToken = null;
    }
    this.save();
    this.showConversation();
    this.connect();
  },

  showConversation() {
    $("#conversation-id").textContent = this.conversationId;
    $("#conversation-id").title = this.conversationId;
    $("#conversation-id").classList.remove("muted");
  },

  close() {
    if (this.socket) this.socket.close();
    this.socket = null;
    this.setStatus("idle", "no conversation");
  },

  connect() {
    const socket = new SocketIO({
      auth: () => (this.customerToken ? { token: this.customerToken } : null),
      onEvent: (event, data) => this.onEvent(event, data),
      onState: (state, detail) => this.onState(state, detail),
    });
    this.socket = socket;
    socket.open();
  },

  setStatus(state, text) {
    const status = $("#widget-status");
    status.dataset.state = state;
    status.querySelector("span").textContent = text;
  },

  async onState(state, detail) {
    if (state === "connecting") this.setStatus("connecting", "connecting…");
    else if (state === "disconnected") this.setStatus("disconnected", "disconnected, reconnecting…");
    else if (state === "refused") {
      const reason = (detail && detail.message) || "connect_error";
      this.setStatus("refused", `refused: ${reason}`);
      $("#widget-error").textContent =
        `The server refused this conversation's socket (${reason}): start a new conversation.`;
    } else if (state === "connected") {
      await this.join();
    }
  },

  /** (Re-)join the conversation's room, then fetch what was missed while away. */
  async join() {
    const socket = this.socket;
    try {
      if (config.acks) {
        const ack = await socket.call("join-conversation", this.conversationId);
        if (!ack || ack.ok !== true) {
          const code = ack && ack.error ? ack.error.code : "no answer";
          if (code === "disconnected") return; // the next connect joins again
          this.setStatus("refused", `join refused: ${code}`);
          if (code === "not_found") {
            $("#widget-error").textContent =
              "The server does not know this conversation (restarted without its database?): start a new one.";
          }
          return;
        }
      } else {
        socket.emit("join-conversation", this.conversationId); // production never acknowledges
      }
      this.setStatus("connected", "connected");
      await this.catchUp();
    } catch (error) {
      this.setStatus("disconnected", error.message);
    }
  },

  async catchUp() {
    let after = 0;
    for (const message of this.messages.values()) {
      if (typeof message.seq === "number") after = Math.max(after, message.seq);
    }
    const query = has("catch-up") && after ? `?after=${after}` : "";
    const path = `/api/conversations/${encodeURIComponent(this.conversationId)}/messages${query}`;
    const reply = await api("GET", path, undefined, { auth: this.customerToken });
    if (reply.status === 200 && reply.body && Array.isArray(reply.body.messages)) {
      for (const message of reply.body.messages) this.add(message);
    }
  },

  onEvent(event, data) {
    if (event === "agent-message" && data && data.message) {
      this.add(data.message);
      this.showAgentTyping(false);
    } else if (event === "agent-typing-status" && data) {
      this.showAgentTyping(Boolean(data.isTyping));
    } else if (event === "error-event" && data) {
      $("#widget-error").textContent = `error-event ${data.code}: ${data.message}`;
    }
  },

  showAgentTyping(on) {
    $("#agent-typing").hidden = !on;
    clearTimeout(this.agentTypingTimer);
    // An agent that stops without saying so (a crash) must not type for ever.
    if (on) this.agentTypingTimer = setTimeout(() => this.showAgentTyping(false), 15000);
  },

  /** customer-typing: true on the first key, false after a pause or on send. */
  keyTyped() {
    if (!this.socket || !this.socket.connected) return;
    if (!this.typing) {
      this.typing = true;
      this.socket.emit("customer-typing", { conversationId: this.conversationId, isTyping: true });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  },

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typing && this.socket && this.socket.connected) {
      this.socket.emit("customer-typing", { conversationId: this.conversationId, isTyping: false });
    }
    this.typing = false;
  },

  async send(text) {
    $("#widget-error").textContent = "";
    if (!this.conversationId) await this.start();
    this.stopTyping();
    const body = { conversationId: this.conversationId, message: text, visitorId: this.visitorId };
    const headers = has("idempotency") ? { "Idempotency-Key": `console-${randomId(16)}` } : {};
    // A send is retried with the same key when the server offers idempotency (no double).
    const attempts = has("idempotency") ? 3 : 1;
    let reply = null;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        reply = await api("POST", "/api/messages", body, { auth: this.customerToken, headers });
        break;
      } catch (error) {
        if (attempt === attempts) {
          $("#widget-error").textContent = `not sent: ${error.message}`;
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
    if (reply.status !== 200 && reply.status !== 201) {
      $("#widget-error").textContent = `not sent (${errorText(reply)})`;
      return false;
    }
    if (reply.body.token && !this.customerToken) {
      this.customerToken = reply.body.token;
      this.save();
    }
    this.add(reply.body.userMessage);
    if (reply.body.aiMessage) this.add(reply.body.aiMessage);
    return true;
  },

  add(message) {
    if (!message || !message.id) return;
    if (this.hiddenFromCustomers(message)) return;
    this.messages.set(message.id, { ...this.messages.get(message.id), ...message });
    this.render();
  },

  /** Internal workflow notes that a customer never sees (production's widget hides them). */
  hiddenFromCustomers(message) {
    if (message.sender !== "system") return false;
    const metadata = message.metadata || {};
    return metadata.pendingAgent === true || /^\[(Message pending|No agents online)/.test(message.content || "");
  },

  render() {
    const chat = $("#chat");
    const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
    const messages = [...this.messages.values()].sort(
      (a, b) => (a.seq ?? 0) - (b.seq ?? 0) || String(a.timestamp).localeCompare(String(b.timestamp)),
    );
    chat.replaceChildren(
      ...messages.map((message) => {
        const who = message.sender === "agent" ? agentName(message.agentId) : message.sender;
        return element(
          "div",
          { class: `msg ${message.sender}`, dataset: { id: message.id } },
          message.sender === "visitor" ? null : element("small", {}, who),
          message.content,
        );
      }),
    );
    if (atBottom) chat.scrollTop = chat.scrollHeight;
  },
};

/** An agent's display name (production's agent ids are user UUIDs), as the panels know it. */
function agentName(id) {
  if (!id) return "agent";
  const state = panels.state;
  const known = state && (state.agents.find((a) => a.id === id) || state.assignees.find((a) => a.id === id));
  return known && known.name ? known.name : id;
}

// -- the agent desk: read a conversation (all of it) and reply as an agent ---------------

const desk = {
  conversationId: null,
  suggestion: null, // the pending suggestion's text (servers with suggestions)
  editing: false, // the composer holds the suggestion, maybe changed
  timer: null,

  /** Open a conversation: its whole history, from before the page was opened too. */
  async open(conversationId) {
    this.conversationId = conversationId;
    this.suggestion = null;
    this.editing = false;
    $("#desk-error").textContent = "";
    $("#desk-conversation").textContent = conversationId;
    $("#desk-conversation").title = conversationId;
    $("#desk-conversation").classList.remove("muted");
    $("#desk-message").disabled = false;
    $("#desk-send").disabled = false;
    $("#desk-message").value = "";
    $("#desk-history").replaceChildren();
    document.querySelectorAll("#conversations tr.open").forEach((row) => row.classList.remove("open"));
    document.querySelector(`#conversations tr[data-id="${CSS.escape(conversationId)}"]`)?.classList.add("open");
    await this.refresh();
  },

  /** Read the conversation again soon (a burst of events is one read). */
  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh().catch((error) => this.fail(error.message)), 150);
  },

  fail(text) {
    $("#desk-error").textContent = text;
  },

  async refresh() {
    const id = this.conversationId;
    if (!id) return;
    const path = `/api/conversations/${encodeURIComponent(id)}/messages`;
    const reply = await api("GET", path, undefined, { auth: adminAuth() });
    if (id !== this.conversationId) return;
    if (reply.status !== 200 || !reply.body || !Array.isArray(reply.body.messages)) {
      this.fail(`history not read (${errorText(reply)})`);
      return;
    }
    this.render(reply.body.messages);
    if (config.suggestions) await this.readSuggestion();
  },

  render(messages) {
    const history = $("#desk-history");
    const shown = messages.map((message) => {
      const pending = message.sender === "system" && widget.hiddenFromCustomers(message);
      const metadata = message.metadata || {};
      // production's history has no agentId: its replies name who sent them
      const attribution = metadata.responseAttribution && metadata.responseAttribution.respondedBy;
      const who = message.sender !== "agent" ? message.sender : message.agentId || !attribution ? agentName(message.agentId) : attribution;
      const action = metadata.suggestionAction;
      return element(
        "div",
        { class: `msg ${message.sender}${pending ? " pending" : ""}`, dataset: { id: message.id } },
        message.sender === "system" ? null : element("small", {}, action ? `${who} · ${action}` : who),
        message.content,
      );
    });
    history.replaceChildren(
      ...(shown.length ? shown : [element("div", { class: "note" }, "no message yet")]),
    );
    history.scrollTop = history.scrollHeight;
  },

  /** The pending AI suggestion (production: an agent user's login reads it). */
  async readSuggestion() {
    if (!panels.jwt) {
      this.showSuggestion(null);
      $("#login-form").hidden = false;
      this.fail("log in as an agent user (Conversations) to see the suggestion and reply");
      return;
    }
    const path = `/api/conversations/${encodeURIComponent(this.conversationId)}/pending-suggestion`;
    const reply = await api("GET", path, undefined, { auth: panels.jwt });
    if (reply.status === 401) {
      panels.expired();
      return;
    }
    const suggestion = reply.status === 200 && reply.body ? reply.body.suggestion : null;
    const text = suggestion && typeof suggestion === "object" ? suggestion.response : suggestion;
    this.showSuggestion(typeof text === "string" ? text : null);
  },

  showSuggestion(text) {
    this.suggestion = text;
    $("#suggestion").hidden = text === null;
    $("#suggestion-text").textContent = text || "";
    if (text === null) this.editing = false;
  },

  edit() {
    if (this.suggestion === null) return;
    this.editing = true;
    $("#desk-message").value = this.suggestion;
    $("#desk-message").focus();
  },

  /** Reply: the suggestion as is, edited, or a text of one's own (``from-scratch``). */
  async send(text, { accept = false } = {}) {
    $("#desk-error").textContent = "";
    const body = { conversationId: this.conversationId, message: text };
    let auth = adminAuth();
    if (config.userLogin) {
      if (!panels.user) {
        $("#login-form").hidden = false;
        this.fail("log in as an agent user (Conversations) to reply");
        return false;
      }
      body.agentId = panels.user.id;
      auth = null; // production's respond takes no token
    } else {
      body.agentId = "console";
    }
    if (this.suggestion !== null) {
      // what production's statistics read: a suggestion was there, and how it was used
      body.usedSuggestion = true;
      body.suggestionAction =
        accept || (this.editing && text === this.suggestion) ? "as-is" : this.editing ? "edited" : "from-scratch";
    }
    const reply = await api("POST", "/api/agent/respond", body, { auth });
    if (reply.status !== 200) {
      this.fail(`not sent (${errorText(reply)})`);
      return false;
    }
    this.editing = false;
    await this.refresh();
    return true;
  },
};

// -- the feed and the event log --------------------------------------------------------

const log = {
  bySeq: new Map(), // seq -> element (to place a REST call before the events it caused)
  names: new Set(),
  conversations: new Set(),

  add(entry) {
    const node = this.render(entry);
    const container = $("#log");
    const follow = $("#autoscroll").checked;
    let before = null;
    if (entry.kind === "http" && typeof entry.after === "number") {
      // The request came in before the events it caused were published: show it first.
      for (let seq = entry.after + 1; seq < entry.seq && !before; seq++) {
        const candidate = this.bySeq.get(seq);
        if (candidate && candidate.isConnected) before = candidate;
      }
    }
    container.insertBefore(node, before);
    this.bySeq.set(entry.seq, node);
    while (container.childElementCount > MAX_LOG) {
      const first = container.firstElementChild;
      this.bySeq.delete(Number(first.dataset.seq));
      first.remove();
    }
    this.learn(entry);
    this.apply(node);
    if (desk.conversationId && entry.conversationId === desk.conversationId) desk.refreshSoon();
    if (follow) container.scrollTop = container.scrollHeight;
    this.count();
  },

  marker(text) {
    const node = element("details", { class: "entry marker" }, element("summary", {}, element("span", {}, `— ${text} —`)));
    $("#log").append(node);
  },

  render(entry) {
    const out = entry.dir === "out";
    const where = entry.kind === "http"
      ? String(entry.status)
      : out
        ? `to ${entry.to || entry.room}`
        : entry.from || (entry.sid ? `socket ${entry.sid.slice(0, 8)}` : "");
    const name = entry.kind === "http" ? entry.path : entry.name;
    const payload = entry.kind === "http" ? entry.payload && entry.payload.request : entry.payload;
    let preview = payload === undefined || payload === null ? "" : JSON.stringify(payload);
    if (preview.length > 160) preview = `${preview.slice(0, 160)}…`;
    const failed = entry.kind === "http" ? entry.status >= 400 : entry.name === "error-event" || entry.name === "connect_error";
    const summary = element(
      "summary",
      {},
      element("span", { class: "time" }, clock(entry.time)),
      element("span", { class: `dir ${out ? "out" : "in"}` }, out ? "← server" : "→ server"),
      element("span", { class: `kind ${entry.kind}` }, entry.kind === "event" ? "ws" : entry.kind),
      element("span", { class: "name", title: name }, name),
      element("span", { class: "where", title: entry.room || entry.sid || "" }, where),
      element(
        "span",
        { class: "preview" },
        entry.conversationId ? element("span", { class: "conv-link", title: entry.conversationId }, `[${shortId(entry.conversationId)}] `) : null,
        preview,
      ),
    );
    const details = element(
      "details",
      {
        class: `entry ${entry.kind}${failed ? " failed" : ""}`,
        dataset: {
          seq: entry.seq,
          name: entry.name,
          event: entry.kind === "http" ? entry.method + " " + entry.path : entry.name,
          kind: entry.kind,
          dir: entry.dir,
          conversation: entry.conversationId || "",
          room: entry.room || "",
        },
      },
      summary,
    );
    // The JSON is laid out only when the entry is opened (the log may hold thousands).
    details.addEventListener("toggle", () => {
      if (details.open && !details.querySelector("pre")) {
        const full = { ...entry };
        delete full.type;
        details.append(element("pre", {}, JSON.stringify(full, null, 2)));
      }
    });
    summary.querySelector(".conv-link")?.addEventListener("click", (event) => {
      event.preventDefault();
      filterByConversation(entry.conversationId);
    });
    return details;
  },

  learn(entry) {
    const name = entry.kind === "http" ? entry.name : entry.name;
    if (!this.names.has(name)) {
      this.names.add(name);
      $("#event-names").append(element("option", { value: name }));
    }
    if (entry.conversationId) addConversationOption(entry.conversationId);
  },

  apply(node) {
    const conversation = $("#filter-conversation").value;
    const wanted = $("#filter-event").value.trim().toLowerCase();
    const hideBeats = $("#filter-heartbeats").checked;
    const name = (node.dataset.event || "").toLowerCase();
    node.hidden =
      (conversation && node.dataset.conversation !== conversation) ||
      (wanted && !name.includes(wanted)) ||
      (hideBeats && name.startsWith("heartbeat"));
  },

  applyAll() {
    for (const node of $("#log").children) if (!node.classList.contains("marker")) this.apply(node);
    this.count();
  },

  count() {
    const all = $("#log").querySelectorAll(".entry:not(.marker)");
    const shown = [...all].filter((node) => !node.hidden).length;
    $("#log-count").textContent = shown === all.length ? `${all.length}` : `${shown} of ${all.length}`;
  },
};

function addConversationOption(id) {
  if (log.conversations.has(id)) return;
  log.conversations.add(id);
  $("#filter-conversation").append(element("option", { value: id }, shortId(id)));
}

function filterByConversation(id) {
  addConversationOption(id);
  $("#filter-conversation").value = id;
  log.applyAll();
}

const feed = {
  ws: null,
  attempt: 0,
  stopped: true,
  timer: null,
  everConnected: false,

  start() {
    this.stopped = false;
    this.connect();
  },

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  },

  setStatus(state, text) {
    const status = $("#feed-status");
    status.dataset.state = state;
    status.querySelector("span").textContent = text;
  },

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/console/feed`);
    this.ws = ws;
    this.setStatus("connecting", "feed: connecting…");
    ws.onopen = () => ws.send(JSON.stringify({ token: adminAuth() }));
    ws.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "hello") {
        this.attempt = 0;
        this.setStatus("connected", "feed: live");
        if (this.everConnected) log.marker("feed reconnected: events while it was away are not shown");
        this.everConnected = true;
      } else if (data.type === "state") panels.update(data);
      else if (data.type === "entry") log.add(data);
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (close.code === 4401) {
        agentToken.clear();
        askForKey("The server refused the console's token (restarted with another key?). Type the key again.");
        return;
      }
      if (this.stopped) return;
      this.setStatus("disconnected", "feed: reconnecting…");
      const base = Math.min(5000, 500 * 2 ** this.attempt++);
      this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
    };
  },
};

// -- the state panels ------------------------------------------------------------------

const panels = {
  state: null,
  jwt: null, // an agent user's access token (servers whose agents log in as users)
  user: null, // that user (its id is the agent id there)
  choices: new Map(), // conversation id -> the assignee picked but not assigned yet

  update(state) {
    this.state = state;
    for (const button of document.querySelectorAll("#mode button")) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === state.mode));
    }
    const agentRows = state.agents.map((agent) =>
      element(
        "tr",
        { dataset: { id: agent.id } },
        element("td", { class: "mono", title: agent.id }, agent.name && agent.name !== agent.id ? `${agent.name}` : agent.id),
        element("td", {}, element("span", { class: `pill ${agent.status}` }, agent.status)),
        element("td", {}, element("span", { class: `pill ${agent.personalStatus}` }, agent.personalStatus)),
        element("td", {}, String(agent.activeChats ?? "")),
      ),
    );
    $("#agents tbody").replaceChildren(
      ...(agentRows.length ? agentRows : [element("tr", {}, element("td", { colspan: 4, class: "muted" }, "no agent online: start your bot"))]),
    );
    $("#agent-count").textContent = `${state.agents.length}`;
    const names = new Map(state.assignees.map((a) => [a.id, a.name]));
    // Rows are rebuilt only when their data changed, so that a reassign choice being made
    // survives the state updates that keep arriving (every event brings one).
    const body = $("#conversations tbody");
    const existing = new Map([...body.children].map((row) => [row.dataset.id, row]));
    const rows = state.conversations.map((conversation) => {
      const signature = JSON.stringify([conversation, state.assignees, widget.conversationId]);
      const row = existing.get(conversation.id);
      if (row && row.dataset.signature === signature) return row;
      const fresh = this.conversationRow(conversation, names);
      fresh.dataset.signature = signature;
      return fresh;
    });
    const empty = [element("tr", {}, element("td", { colspan: 5, class: "muted" }, "no conversation yet"))];
    const wanted = rows.length ? rows : empty;
    if (wanted.length !== body.children.length || wanted.some((row, i) => body.children[i] !== row)) {
      body.replaceChildren(...wanted);
    }
    const shown = state.conversations.length;
    $("#conversation-count").textContent =
      shown < state.conversationCount ? `newest ${shown} of ${state.conversationCount}` : `${shown}`;
    for (const conversation of state.conversations) addConversationOption(conversation.id);
  },

  conversationRow(conversation, names) {
    const select = element("select", { class: "assignee", "aria-label": "assign to" });
    const choice = this.choices.get(conversation.id) ?? conversation.assignedAgent;
    for (const [id, name] of names) {
      const option = element("option", { value: id }, name);
      if (id === choice) option.selected = true;
      select.append(option);
    }
    select.addEventListener("change", () => this.choices.set(conversation.id, select.value));
    const button = element("button", { type: "button", class: "assign-button" }, "assign");
    button.disabled = names.size === 0 || conversation.status !== "active";
    button.addEventListener("click", () => this.assign(conversation.id, select.value));
    const assigned = conversation.assignedAgent;
    const open = element("button", { type: "button", class: "open-button link", title: "read it and reply as an agent" }, "open");
    open.addEventListener("click", () => desk.open(conversation.id).catch((error) => desk.fail(error.message)));
    const classes = [conversation.id === widget.conversationId ? "mine" : "", conversation.id === desk.conversationId ? "open" : ""];
    return element(
      "tr",
      { dataset: { id: conversation.id, assigned: assigned || "" }, class: classes.join(" ").trim() || null },
      element("td", { class: "mono conv-link", title: `${conversation.id} (click: filter the log)`, onclick: () => filterByConversation(conversation.id) }, shortId(conversation.id)),
      element("td", { class: "mono", title: assigned || "" }, assigned ? names.get(assigned) || assigned : "—"),
      element("td", {}, element("span", { class: `pill ${conversation.status}` }, conversation.status)),
      element("td", {}, element("span", { class: "assign" }, select, button)),
      element("td", {}, open),
    );
  },

  async setMode(mode) {
    $("#panel-error").textContent = "";
    const reply = await api("POST", "/api/system/mode", { mode }, { auth: adminAuth() });
    if (reply.status !== 200) $("#panel-error").textContent = `mode not changed (${errorText(reply)})`;
  },

  async assign(conversationId, agentId) {
    $("#panel-error").textContent = "";
    if (!agentId) return;
    let auth = adminAuth();
    if (config.userLogin) {
      // Agents are users there: assigning takes a user's access token.
      if (!this.jwt) {
        $("#login-form").hidden = false;
        $("#panel-error").textContent = "log in as an agent user to reassign";
        $("#login-email").focus();
        return;
      }
      auth = this.jwt;
    }
    const path = `/api/conversations/${encodeURIComponent(conversationId)}/assign`;
    const reply = await api("POST", path, { agentId }, { auth });
    if (reply.status === 200) this.choices.delete(conversationId);
    if (reply.status === 401 && config.userLogin) {
      this.expired();
    } else if (reply.status !== 200) {
      $("#panel-error").textContent = `not assigned (${errorText(reply)})`;
    }
  },

  expired() {
    this.jwt = null;
    this.user = null;
    $("#login-form").hidden = false;
    $("#panel-error").textContent = "the login expired: log in again";
  },

  async login(event) {
    event.preventDefault();
    const reply = await api("POST", "/api/auth/login", {
      email: $("#login-email").value,
      password: $("#login-password").value,
    });
    if (reply.status === 200 && reply.body && reply.body.data && reply.body.data.tokens) {
      this.jwt = reply.body.data.tokens.accessToken;
      this.user = reply.body.data.user;
      $("#login-password").value = "";
      $("#desk-error").textContent = "";
      desk.refreshSoon();
      $("#login-form").hidden = true;
      $("#panel-error").textContent = `logged in as ${reply.body.data.user.email}`;
    } else {
      $("#panel-error").textContent = `login failed (${errorText(reply)})`;
    }
  },
};

// -- start ---------------------------------------------------------------------------

function openConsole() {
  $("#gate").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = !config.keyRequired;
  if (feed.stopped) feed.start();
  if (!widget.socket) widget.restore();
  $("#message").focus();
}

async function main() {
  config = await (await fetch("/console/config")).json();
  $("#profile").textContent = config.features.length
    ? `${config.profile} · contract features: ${config.features.length}`
    : `${config.profile} · production behaviour`;
  $("#key-form").addEventListener("submit", submitKey);
  $("#logout").addEventListener("click", () => {
    agentToken.clear();
    askForKey();
  });
  $("#start").addEventListener("click", () =>
    widget.start().catch((error) => ($("#widget-error").textContent = error.message)),
  );
  $("#message").addEventListener("input", () => widget.keyTyped());
  $("#send-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#message");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    try {
      if (!(await widget.send(text))) input.value = text;
    } catch (error) {
      $("#widget-error").textContent = error.message;
      input.value = text;
    }
  });
  for (const button of document.querySelectorAll("#mode button")) {
    button.addEventListener("click", () => panels.setMode(button.dataset.mode));
  }
  $("#login-form").addEventListener("submit", (event) => panels.login(event));
  $("#desk-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#desk-message");
    const text = input.value;
    if (!text.trim() || !desk.conversationId) return;
    input.value = "";
    if (!(await desk.send(text).catch((error) => desk.fail(error.message)))) input.value = text;
  });
  $("#suggestion-accept").addEventListener("click", () =>
    desk.send(desk.suggestion, { accept: true }).catch((error) => desk.fail(error.message)),
  );
  $("#suggestion-edit").addEventListener("click", () => desk.edit());
  for (const id of ["#filter-conversation", "#filter-event", "#filter-heartbeats"]) {
    $(id).addEventListener("input", () => log.applyAll());
  }
  $("#clear-log").addEventListener("click", () => {
    $("#log").replaceChildren();
    log.bySeq.clear();
    log.count();
  });
  if (config.keyRequired && !agentToken.get()) askForKey();
  else openConsole();
}

main().catch((error) => {
  document.body.prepend(element("p", { class: "error" }, `The console could not start: ${error.message}`));
});
