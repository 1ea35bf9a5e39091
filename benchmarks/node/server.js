// The thinnest Node.js socket.io 4 server doing the Vilnius fan-out (benchmark baseline).
// customer-typing -> customer-typing-status to room "agents";
// POST /api/messages -> new-message to room "agents".
// Usage: node server.js --port 3011
"use strict";
const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const portArg = process.argv.indexOf("--port");
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 3011;
let seq = 0;

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

const httpServer = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    return sendJson(res, 200, { status: "ok" });
  }
  if (req.method === "POST" && req.url === "/api/messages") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        return sendJson(res, 400, { error: "bad json", code: "invalid_payload" });
      }
      const now = new Date().toISOString();
      const conversationId = String(body.conversationId);
      const message = {
        id: crypto.randomUUID(),
        conversationId,
        content: body.message,
        sender: "visitor",
        timestamp: now,
        metadata: {},
        seq: ++seq,
      };
      io.to("agents").emit("new-message", { conversationId, message, aiSuggestion: null, timestamp: now });
      sendJson(res, 200, { conversationId, userMessage: message, aiMessage: null });
    });
    return;
  }
  if (req.url.startsWith("/socket.io/")) return; // handled by socket.io
  sendJson(res, 404, { error: "not found", code: "not_found" });
});

const io = new Server(httpServer, { cors: { origin: "*" } });

io.on("connection", (socket) => {
  socket.on("join-agent-dashboard", (agentId, ack) => {
    socket.join("agents");
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("join-conversation", (conversationId, ack) => {
    socket.join(String(conversationId));
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("customer-typing", (data, ack) => {
    io.to("agents").emit("customer-typing-status", {
      conversationId: data.conversationId,
      isTyping: data.isTyping,
      timestamp: new Date().toISOString(),
    });
    if (typeof ack === "function") ack({ ok: true });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`node fan-out server on http://127.0.0.1:${port}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
