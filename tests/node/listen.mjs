// Connects with the official socket.io-client and prints what happens as JSON lines.
// Usage: node listen.mjs <url> <token|""> [event]
import { io } from "socket.io-client";

const [url, token, event = "new_message"] = process.argv.slice(2);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const socket = io(url, {
  auth: token ? { token } : {},
  transports: ["websocket"],
  reconnection: false,
});
socket.on("connect", () => say({ connected: true }));
socket.on("connect_error", (err) => {
  say({ connect_error: err.message });
  process.exit(2);
});
socket.on(event, (data) => {
  say({ event, data });
  socket.close();
  process.exit(0);
});
setTimeout(() => {
  say({ timeout: true });
  process.exit(3);
}, 20000);
