// A tiny Socket.IO v5 client (Engine.IO v4, WebSocket transport only) for the console.
//
// The protocol, as much of it as a customer widget needs:
//   Engine.IO packets are text frames "<type><data>": 0 open {sid, pingInterval, pingTimeout},
//   1 close, 2 ping (server -> client; answer 3 pong), 4 message, 6 noop.
//   A message carries a Socket.IO packet "<type>[<ackId>][<json>]" on namespace "/":
//   0 connect (client sends 0 + auth JSON; server answers 0 {sid}), 1 disconnect,
//   2 event ["name", data...], 3 ack [data...], 4 connect_error {message, data}.
// Binary packets (5, 6) are never used by the Vilnius events.
//
// The client reconnects on its own, with exponential backoff and jitter, after any close
// (a server restart, a ping that did not come in time), but not after the server refused
// the connection (connect_error: the same auth would be refused again), as socket.io-client.

export class SocketIO {
  /**
   * @param {object} options
   * @param {() => (object|null)} [options.auth] called at every connect; its result is the
   *   CONNECT packet's auth object (e.g. {token}).
   * @param {(event: string, data: any) => void} [options.onEvent]
   * @param {(state: string, detail?: any) => void} [options.onState] "connecting",
   *   "connected", "disconnected" (with the reason) or "refused" (the connect_error).
   * @param {(event: string, args: any[]) => void} [options.onSend] every event sent.
   */
  constructor({ auth, onEvent, onState, onSend } = {}) {
    this.auth = auth || (() => null);
    this.onEvent = onEvent || (() => {});
    this.onState = onState || (() => {});
    this.onSend = onSend || (() => {});
    this.ws = null;
    this.connected = false;
    this.closedByUs = false;
    this.attempt = 0;
    this.nextAckId = 0;
    this.acks = new Map();
    this.pingTimer = null;
    this.retryTimer = null;
  }

  /** Open the connection (and keep it open until close()). */
  open() {
    this.closedByUs = false;
    this.#connect();
  }

  /** Close for good. */
  close() {
    this.closedByUs = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.pingTimer);
    if (this.ws) this.ws.close();
  }

  /** Send an event without asking for an acknowledgement. */
  emit(event, ...args) {
    if (!this.connected) return false;
    this.onSend(event, args);
    this.#send("42" + JSON.stringify([event, ...args]));
    return true;
  }

  /**
   * Send an event and wait for its acknowledgement (servers that answer them only).
   * @returns {Promise<any>} the first argument of the acknowledgement.
   */
  call(event, data, timeoutMs = 5000) {
    if (!this.connected) return Promise.reject(new Error("not connected"));
    const id = this.nextAckId++;
    this.onSend(event, [data]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        reject(new Error(`no acknowledgement of ${event} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.acks.set(id, (args) => {
        clearTimeout(timer);
        resolve(args[0]);
      });
      this.#send("42" + id + JSON.stringify([event, data]));
    });
  }

  #connect() {
    clearTimeout(this.retryTimer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`);
    this.ws = ws;
    this.onState("connecting");
    ws.onmessage = (message) => {
      if (this.ws === ws) this.#receive(String(message.data));
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const was = this.connected;
      this.connected = false;
      clearTimeout(this.pingTimer);
      for (const resolve of this.acks.values()) resolve([{ ok: false, error: { code: "disconnected" } }]);
      this.acks.clear();
      if (this.closedByUs) return;
      if (was) this.onState("disconnected", close.reason || `transport closed (${close.code})`);
      this.#retry();
    };
  }

  #retry() {
    // 0.5 s, 1 s, 2 s, 4 s, then every 5 s; each delay jittered down by up to half.
    const base = Math.min(5000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #send(text) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  #armPing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      if (this.ws) this.ws.close(4000, "ping timeout");
    }, this.pingInterval + this.pingTimeout);
  }

  #receive(text) {
    const type = text[0];
    if (type === "0") {
      const open = JSON.parse(text.slice(1));
      this.pingInterval = open.pingInterval;
      this.pingTimeout = open.pingTimeout;
      this.#armPing();
      const auth = this.auth();
      this.#send("40" + (auth ? JSON.stringify(auth) : ""));
    } else if (type === "2") {
      this.#armPing();
      this.#send("3");
    } else if (type === "1") {
      if (this.ws) this.ws.close();
    } else if (type === "4") {
      this.#packet(text.slice(1));
    }
  }

  #packet(text) {
    const type = text[0];
    let rest = text.slice(1);
    if (rest.startsWith("/")) rest = rest.slice(rest.indexOf(",") + 1); // namespace "/x,"
    const id = /^\d*/.exec(rest)[0];
    const body = rest.slice(id.length);
    if (type === "0") {
      this.connected = true;
      this.attempt = 0;
      this.onState("connected", body ? JSON.parse(body) : {});
    } else if (type === "2") {
      const [event, ...args] = JSON.parse(body);
      this.onEvent(event, args[0]);
      if (id !== "") this.#send("43" + id + "[]"); // the server asked for an ack
    } else if (type === "3") {
      const ack = this.acks.get(Number(id));
      if (ack) {
        this.acks.delete(Number(id));
        ack(JSON.parse(body));
      }
    } else if (type === "4") {
      this.closedByUs = true; // do not retry with the same auth
      this.onState("refused", body ? JSON.parse(body) : {});
      if (this.ws) this.ws.close();
    } else if (type === "1") {
      if (this.ws) this.ws.close(); // the server disconnected us: come back
    }
  }
}
