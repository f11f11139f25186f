// The seed's WhatsApp page on wasim's bundled backend: the conversation list with unread counts,
// the open chat with status ticks, over a push transport or polling, with each message's
// webhook-to-screen latency. Plain JavaScript, no build step; the page's state is in its URL.
"use strict";

const PUSH = ["socketio", "sse", "websocket"];
const POLL = {
  // The seed: the list every 5 s (twice: the page and the notification context), the chat every 3 s.
  "poll": { list: 5000, chat: 3000, etag: false, hidden: true },
  // Optimized: 10 s / 5 s, ETag (304 when nothing changed), nothing while the tab is hidden.
  "poll-optimized": { list: 10000, chat: 5000, etag: true, hidden: false },
};
const NAMES = {
  "socketio": "Socket.IO", "sse": "SSE", "websocket": "WebSocket",
  "poll": "seed polling", "poll-optimized": "optimized polling",
};
const TICKS = { sent: "✓", delivered: "✓✓", read: "✓✓", played: "✓✓", failed: "!" };

let config = null;
const pageLoaded = Date.now();

function setStatus(text, error = false) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

async function api(token, path, options = {}) {
  const headers = { Authorization: `Bearer ${token}`, ...(options.headers || {}) };
  return fetch(path, { ...options, headers });
}

class Pane {
  constructor(root, transport, token) {
    this.root = root;
    this.transport = transport;
    this.token = token;
    this.conversations = new Map(); // id -> conversation
    this.openId = null;
    this.messages = new Map(); // wamid -> message of the open conversation
    this.seen = new Map(); // wamid -> {latency, via}: when this pane first held the message
    this.etags = new Map();
    this.timers = [];
    this.closers = [];
    this.lastEventId = null;
    root.dataset.transport = transport;
    root.querySelector(".pane-title").textContent = NAMES[transport];
    root.querySelector(".mark-read").addEventListener("click", () => this.markRead());
  }

  async start() {
    await this.loadList();
    if (PUSH.includes(this.transport)) this.connect();
    else this.poll();
  }

  stop() {
    this.timers.forEach(clearInterval);
    this.closers.forEach((close) => close());
  }

  // What this pane first holds: its latency, from the backend's stored time to now.
  note(message, via) {
    if (!message || !message.wamid || this.seen.has(message.wamid)) return;
    const stored = Date.parse(message.created_at);
    const live = Number.isFinite(stored) && stored >= pageLoaded - 1000;
    this.seen.set(message.wamid, { latency: live ? Math.max(0, Date.now() - stored) : null, via });
  }

  async get(path) {
    const poll = POLL[this.transport];
    const headers = {};
    if (poll && poll.etag && this.etags.has(path)) headers["If-None-Match"] = this.etags.get(path);
    const response = await api(this.token, path, { headers });
    if (response.status === 304) return null;
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    const etag = response.headers.get("ETag");
    if (etag) this.etags.set(path, etag);
    return response.json();
  }

  async loadList(via = "load") {
    const body = await this.get(config.conversations_path);
    if (body === null) return;
    for (const conversation of body.conversations) {
      this.note(conversation.last_message, via);
      this.conversations.set(conversation.id, conversation);
    }
    this.renderList();
  }

  async loadChat(via = "load") {
    if (this.openId === null) return;
    const body = await this.get(`${config.conversations_path}/${this.openId}`);
    if (body === null) return;
    for (const message of body.messages) {
      this.note(message, via);
      this.messages.set(message.wamid, message);
    }
    this.conversations.set(body.conversation.id, body.conversation);
    this.renderList();
    this.renderChat();
  }

  async open(id) {
    this.openId = id;
    this.messages = new Map();
    this.root.querySelector(".messages").replaceChildren();
    await this.loadChat();
    const conversation = this.conversations.get(id);
    if (conversation && conversation.unread_count > 0) await this.markRead();
  }

  async markRead() {
    if (this.openId === null) return;
    const response = await api(this.token, `${config.conversations_path}/${this.openId}/read`, {
      method: "POST",
    });
    if (!response.ok) return setStatus(`mark as read: ${response.status}`, true);
    const conversation = await response.json();
    this.conversations.set(conversation.id, conversation);
    this.renderList();
  }

  // Push events, whichever transport carried them.
  dispatch(name, data) {
    const events = config.events;
    if (data && data.event_id !== undefined) this.lastEventId = data.event_id;
    if (name === events.new_message) {
      this.note(data.message, this.transport);
      if (data.conversation_id === this.openId) {
        this.messages.set(data.message.wamid, data.message);
        this.renderChat();
        if (data.message.direction === "inbound" && !document.hidden) this.markRead();
      }
    } else if (name === events.conversation_updated) {
      const conversation = data.conversation;
      this.note(conversation.last_message, this.transport);
      this.conversations.set(conversation.id, conversation);
      this.renderList();
    } else if (name === events.message_status) {
      const message = this.messages.get(data.wamid);
      if (message) {
        message.status = data.status;
        this.renderChat();
      }
      for (const conversation of this.conversations.values()) {
        const last = conversation.last_message;
        if (last && last.wamid === data.wamid) last.status = data.status;
      }
    } else if (name === events.reset) {
      this.loadList().then(() => this.loadChat());
    }
  }

  connect() {
    const events = [...Object.values(config.events)];
    if (this.transport === "socketio") {
      // auth as a function: each reconnect resumes after the last event this page holds.
      const auth = (send) => send(this.lastEventId === null
        ? { token: this.token }
        : { token: this.token, last_event_id: this.lastEventId });
      const socket = io(location.origin, { path: config.socketio_path, auth });
      socket.on("connect", () => setStatus(`Socket.IO connected as ${socket.id}`));
      socket.on("connect_error", (error) => setStatus(`Socket.IO: ${error.message}`, true));
      events.forEach((name) => socket.on(name, (data) => this.dispatch(name, data)));
      this.closers.push(() => socket.close());
    } else if (this.transport === "sse") {
      const token = encodeURIComponent(this.token);
      const source = new EventSource(`${config.stream_path}?token=${token}`);
      source.onopen = () => setStatus("SSE connected");
      events.forEach((name) =>
        source.addEventListener(name, (event) => this.dispatch(name, JSON.parse(event.data))));
      this.closers.push(() => source.close());
    } else {
      this.openWebSocket(1000);
    }
  }

  openWebSocket(backoff) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${location.host}${config.ws_path}?token=${encodeURIComponent(this.token)}`;
    if (this.lastEventId !== null) url += `&last_event_id=${this.lastEventId}`;
    const ws = new WebSocket(url);
    let closed = false;
    ws.onopen = () => setStatus("WebSocket connected");
    ws.onmessage = (frame) => {
      const { event, data } = JSON.parse(frame.data);
      this.dispatch(event, data);
    };
    ws.onclose = (close) => {
      if (closed) return;
      setStatus(`WebSocket closed (${close.code} ${close.reason}); reconnecting`, true);
      const timer = setTimeout(() => this.openWebSocket(Math.min(backoff * 2, 30000)), backoff);
      this.closers.push(() => clearTimeout(timer));
    };
    this.closers.push(() => { closed = true; ws.close(); });
  }

  poll() {
    const plan = POLL[this.transport];
    const due = (load) => () => {
      if (document.hidden && !plan.hidden) return;
      load().catch((error) => setStatus(error.message, true));
    };
    this.timers.push(setInterval(due(() => this.loadList(this.transport)), plan.list));
    this.timers.push(setInterval(due(() => this.loadChat(this.transport)), plan.chat));
    setStatus(`${NAMES[this.transport]}: list every ${plan.list / 1000} s, chat every ${plan.chat / 1000} s`);
  }

  renderList() {
    const list = this.root.querySelector(".conversations");
    const sorted = [...this.conversations.values()].sort(
      (a, b) => (b.updated_at || "").localeCompare(a.updated_at || "") || b.id - a.id);
    list.replaceChildren(...sorted.map((conversation) => {
      const item = document.createElement("li");
      item.dataset.conversationId = conversation.id;
      item.dataset.phone = conversation.contact_phone;
      item.classList.toggle("open", conversation.id === this.openId);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = conversation.contact_name || `+${conversation.contact_phone}`;
      const last = document.createElement("span");
      last.className = "last";
      last.textContent = conversation.last_message ? describe(conversation.last_message) : "";
      const unread = document.createElement("span");
      unread.className = "unread";
      unread.dataset.count = conversation.unread_count;
      unread.textContent = conversation.unread_count;
      item.append(name, unread, last);
      item.addEventListener("click", () => this.open(conversation.id));
      return item;
    }));
    const open = this.conversations.get(this.openId);
    if (open) {
      this.root.querySelector(".chat-title").textContent =
        open.contact_name ? `${open.contact_name} (+${open.contact_phone})` : `+${open.contact_phone}`;
      this.root.querySelector(".mark-read").disabled = false;
    }
  }

  renderChat() {
    const list = this.root.querySelector(".messages");
    const sorted = [...this.messages.values()].sort((a, b) => a.id - b.id);
    list.replaceChildren(...sorted.map((message) => {
      const item = document.createElement("li");
      item.className = `msg ${message.direction}`;
      item.dataset.wamid = message.wamid;
      item.dataset.status = message.status;
      const text = document.createElement("div");
      text.className = "text";
      text.textContent = describe(message);
      const meta = document.createElement("div");
      meta.className = "meta";
      const seen = this.seen.get(message.wamid);
      if (seen && seen.latency !== null) {
        const latency = document.createElement("span");
        latency.className = "latency";
        latency.dataset.ms = seen.latency;
        latency.textContent = `${seen.latency} ms`;
        latency.title = `webhook to screen via ${NAMES[seen.via] || seen.via}: from the backend's `
          + "stored time (created_at, its clock) to this page holding the message";
        meta.append(latency);
      }
      meta.append(new Date(Date.parse(message.created_at)).toLocaleTimeString());
      if (message.direction === "outbound") {
        const tick = document.createElement("span");
        tick.className = "tick";
        tick.dataset.status = message.status;
        tick.title = message.status;
        tick.textContent = TICKS[message.status] || "";
        meta.append(tick);
      }
      item.append(text, meta);
      return item;
    }));
    list.scrollTop = list.scrollHeight;
  }
}

function describe(message) {
  return message.text || `[${message.type}]`;
}

let panes = [];

async function signIn(user, token) {
  if (!token) {
    const response = await fetch("/api/dev/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user }),
    });
    const body = await response.json();
    if (!response.ok) {
      throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
    }
    token = body.token;
  }
  return token;
}

async function start() {
  const params = new URLSearchParams(location.search);
  const user = params.get("user") || config.default_user;
  const transport = params.get("transport") || "socketio";
  const split = params.get("split") === "1";
  document.getElementById("user").value = user;
  document.getElementById("transport").value = transport;
  document.getElementById("split").checked = split;
  document.getElementById("sign-in").disabled = !config.dev_login;
  panes.forEach((pane) => pane.stop());
  panes = [];
  let token = params.get("token") || sessionStorage.getItem(`wasim-token:${user}`);
  if (!token && !config.dev_login) {
    setStatus("dev login is off on this backend: paste a token it issued", true);
    return;
  }
  try {
    token = await signIn(user, token);
  } catch (error) {
    setStatus(`sign in: ${error.message}`, true);
    return;
  }
  sessionStorage.setItem(`wasim-token:${user}`, token);
  // Split: the chosen push transport (Socket.IO if a poller was chosen) beside seed polling.
  const kinds = split
    ? [PUSH.includes(transport) ? transport : "socketio", POLL[transport] ? transport : "poll"]
    : [transport];
  const container = document.getElementById("panes");
  container.replaceChildren();
  for (const kind of kinds) {
    const root = document.getElementById("pane").content.firstElementChild.cloneNode(true);
    container.append(root);
    panes.push(new Pane(root, kind, token));
  }
  document.title = `wasim inbox: ${user} (${kinds.map((k) => NAMES[k]).join(" | ")})`;
  await Promise.all(panes.map((pane) => pane.start()));
}

function navigate() {
  const params = new URLSearchParams(location.search);
  params.set("user", document.getElementById("user").value.trim());
  params.set("transport", document.getElementById("transport").value);
  params.set("split", document.getElementById("split").checked ? "1" : "0");
  const token = document.getElementById("token").value.trim();
  if (token) params.set("token", token); else params.delete("token");
  history.pushState(null, "", `?${params}`);
  start().catch((error) => setStatus(error.message, true));
}

document.addEventListener("DOMContentLoaded", async () => {
  config = await (await fetch("/inbox/config.json")).json();
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    navigate();
  });
  for (const id of ["transport", "split"]) {
    document.getElementById(id).addEventListener("change", navigate);
  }
  window.addEventListener("popstate", () => start());
  start().catch((error) => setStatus(error.message, true));
});
