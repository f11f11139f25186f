// The seed design's backend (shared/seed/realtime-feasibility.md), built as it describes, in
// memory: Express, socket.io with the JWT checked in io.use, a room `user:{userId}` per user, the
// webhook handler emitting `new_message` and `conversation_updated` to every conversation of the
// sender's phone (Solution 1), and SSE as in Solution 2. It is the yardstick of
// benchmarks/fanout.py: every figure of `wasim serve` there is printed beside this one's.
//
// Where the seed leaves a gap, this fills it the way `wasim serve` does, so both do the same work:
// the webhook's X-Hub-Signature-256 is checked on the raw bytes (Meta requires it); a message id
// already stored is not stored or pushed again; a phone nobody has a conversation with gets one
// for the default owner; the SSE route takes `?token=` too (EventSource cannot send headers).
// One deliberate fix: the seed's `clients.set(userId, res)` keeps one stream per user (a second
// tab replaces the first, and the first tab's close deletes the second's entry), so streams are
// kept in a Set per user. Prisma's tables are Maps here: this backend never touches a disk.
//
// Usage: node server.js [port]   (0 or nothing: a free port; prints the URL when listening)
"use strict";

const crypto = require("crypto");
const http = require("http");
const express = require("express");
const jwt = require("jsonwebtoken");
const { Server } = require("socket.io");

const APP_SECRET = process.env.WASIM_APP_SECRET || "wasim-dev-app-secret";
const VERIFY_TOKEN = process.env.WASIM_VERIFY_TOKEN || "wasim-dev-verify-token";
const JWT_SECRET = process.env.WASIM_JWT_SECRET || "wasim-dev-jwt-secret-not-for-production";
const DEFAULT_OWNER = process.env.WASIM_DEFAULT_OWNER || "demo";
const READY_PREFIX = "reference: listening on ";

const app = express();
const server = http.createServer(app);
const io = new Server(server, {
  cors: { origin: process.env.FRONTEND_URL || "http://localhost:5173" },
});

// In memory, in place of the seed's Prisma tables.
const conversations = new Map(); // id -> {id, userId, contactPhone, contactName, unreadCount, ...}
const conversationsByPhone = new Map(); // contactPhone -> [conversation]
const messages = new Map(); // wamid -> saved message
let nextConversationId = 1;
let nextMessageId = 1;

function userOf(token) {
  const claims = jwt.verify(token, JWT_SECRET, { algorithms: ["HS256"] });
  if (claims.userId === undefined || claims.userId === null || claims.userId === "") {
    throw new Error("token has no userId claim");
  }
  return String(claims.userId);
}

// Middleware to authenticate socket connections
io.use((socket, next) => {
  const token = socket.handshake.auth.token;
  try {
    socket.userId = userOf(token);
    next();
  } catch (err) {
    next(new Error(err.message));
  }
});

io.on("connection", (socket) => {
  const userId = socket.userId;
  socket.join(`user:${userId}`); // Room per user
});

function authenticate(req, res, next) {
  const header = req.headers.authorization || "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : req.query.token;
  try {
    req.user = { id: userOf(token) };
    next();
  } catch (err) {
    res.status(401).json({ detail: err.message });
  }
}

function openConversation(userId, contactPhone, contactName) {
  const list = conversationsByPhone.get(contactPhone) || [];
  const found = list.find((c) => c.userId === userId);
  if (found) return [found, false];
  const now = new Date().toISOString();
  const conv = {
    id: nextConversationId++,
    userId,
    contactPhone,
    contactName: contactName || null,
    unreadCount: 0,
    lastMessage: null,
    createdAt: now,
    updatedAt: now,
  };
  conversations.set(conv.id, conv);
  list.push(conv);
  conversationsByPhone.set(contactPhone, list);
  return [conv, true];
}

// Solution 2: Server-Sent Events
const clients = new Map(); // userId -> Set of open responses

function notifyUser(userId, eventType, data) {
  const streams = clients.get(userId);
  if (!streams) return;
  for (const client of streams) {
    client.write(`event: ${eventType}\n`);
    client.write(`data: ${JSON.stringify(data)}\n\n`);
  }
}

function processIncomingMessage(message, value) {
  const fromPhone = message.from;
  if (messages.has(message.id)) return; // Meta delivers again: store and push once
  const messageText = message.text ? message.text.body : `[${message.type}]`;
  const contact = (value.contacts || []).find((c) => c.wa_id === fromPhone);
  let list = conversationsByPhone.get(fromPhone);
  if (!list || list.length === 0) {
    openConversation(DEFAULT_OWNER, fromPhone, contact && contact.profile && contact.profile.name);
    list = conversationsByPhone.get(fromPhone);
  }
  const savedMessage = {
    id: nextMessageId++,
    wamid: message.id,
    from: fromPhone,
    type: message.type,
    text: messageText,
    timestamp: message.timestamp,
    status: "received",
    createdAt: new Date().toISOString(),
  };
  messages.set(message.id, savedMessage);

  // Broadcast to connected clients
  for (const conv of list) {
    conv.unreadCount += 1;
    conv.lastMessage = savedMessage;
    conv.updatedAt = savedMessage.createdAt;
    const newMessage = { conversationId: conv.id, message: savedMessage };
    const updated = {
      conversationId: conv.id,
      lastMessage: messageText,
      unreadCount: conv.unreadCount,
    };
    io.to(`user:${conv.userId}`).emit("new_message", newMessage);
    io.to(`user:${conv.userId}`).emit("conversation_updated", updated);
    notifyUser(conv.userId, "new_message", newMessage);
    notifyUser(conv.userId, "conversation_updated", updated);
  }
}

function signatureOk(raw, header) {
  if (typeof header !== "string" || !header.startsWith("sha256=")) return false;
  const expected = crypto.createHmac("sha256", APP_SECRET).update(raw).digest("hex");
  const given = Buffer.from(header.slice(7).toLowerCase());
  return given.length === expected.length && crypto.timingSafeEqual(given, Buffer.from(expected));
}

app.get("/api/whatsapp/webhook", (req, res) => {
  if (req.query["hub.mode"] === "subscribe" && req.query["hub.verify_token"] === VERIFY_TOKEN) {
    res.type("text/plain").send(req.query["hub.challenge"] || "");
  } else {
    res.status(403).type("text/plain").send("verification failed");
  }
});

app.post(
  "/api/whatsapp/webhook",
  express.raw({ type: () => true, limit: "3mb" }),
  (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!signatureOk(raw, req.headers["x-hub-signature-256"])) {
      return res.status(401).json({ detail: "missing or bad X-Hub-Signature-256" });
    }
    let body;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      return res.status(400).json({ detail: "body is not a JSON object" });
    }
    for (const entry of body.entry || []) {
      for (const change of entry.changes || []) {
        const value = change.value || {};
        for (const message of value.messages || []) {
          processIncomingMessage(message, value);
        }
      }
    }
    res.json({ status: "ok" });
  }
);

app.get("/api/whatsapp/conversations", authenticate, (req, res) => {
  const mine = [...conversations.values()].filter((c) => c.userId === req.user.id);
  mine.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
  res.json({ conversations: mine });
});

app.post("/api/whatsapp/conversations", authenticate, express.json(), (req, res) => {
  const phone = String((req.body && (req.body.contact_phone || req.body.contactPhone)) || "");
  if (!phone) return res.status(422).json({ detail: "contact_phone is required" });
  const name = req.body.contact_name || req.body.contactName;
  const [conv, created] = openConversation(req.user.id, phone.replace(/^\+/, ""), name);
  res.status(created ? 201 : 200).json(conv);
});

app.get("/api/whatsapp/stream", authenticate, (req, res) => {
  res.setHeader("Content-Type", "text/event-stream");
  res.setHeader("Cache-Control", "no-cache");
  res.setHeader("Connection", "keep-alive");
  res.flushHeaders();

  const userId = req.user.id;

  // Store client connection
  if (!clients.has(userId)) clients.set(userId, new Set());
  clients.get(userId).add(res);

  req.on("close", () => {
    const streams = clients.get(userId);
    if (!streams) return;
    streams.delete(res);
    if (streams.size === 0) clients.delete(userId);
  });
});

app.get("/healthz", (req, res) => res.json({ status: "ok", messages: messages.size }));

const port = Number(process.argv[2] || process.env.PORT || 0);
server.listen(port, "127.0.0.1", 511, () => {
  const { address, port: bound } = server.address();
  process.stdout.write(`${READY_PREFIX}http://${address}:${bound}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
