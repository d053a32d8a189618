// socket.io-client under test (tests/GeoLogistics.Tests/Realtime/SocketIo): connects to the namespaces in NAMESPACES
// (comma-separated, one Engine.IO connection for all, as the library multiplexes them) and writes one JSON line per
// thing it sees: {"kind":"open"|"upgrade"|"connect"|"connect_error"|"disconnect"|"event"|"ack", "ns", …}.
// Reads commands from stdin: {"cmd":"emit","ns":"/orders","name":"join:hospital","payload":{…},"ack":true}.
//
// Environment: SERVER (http://127.0.0.1:port), NAMESPACES, TOKEN, AUTH ("auth": auth.token, "header": an Authorization
// header in extraHeaders), SINCE (auth.since), TRANSPORTS ("websocket" for WebSocket only; default: polling, then upgrade).
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const server = process.env.SERVER;
const namespaces = (process.env.NAMESPACES ?? "/orders").split(",");
const useHeader = process.env.AUTH === "header";
const auth = {};
if (process.env.TOKEN && !useHeader) auth.token = process.env.TOKEN;
if (process.env.SINCE) auth.since = Number(process.env.SINCE);

const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const sockets = new Map();
for (const ns of namespaces) {
  const socket = io(server + ns, {
    auth,
    reconnection: false,
    transports: process.env.TRANSPORTS === "websocket" ? ["websocket"] : ["polling", "websocket"],
    extraHeaders: useHeader && process.env.TOKEN ? { Authorization: `Bearer ${process.env.TOKEN}` } : {},
  });
  sockets.set(ns, socket);
  socket.on("connect", () => print({ kind: "connect", ns, id: socket.id, transport: socket.io.engine.transport.name }));
  socket.on("connect_error", (err) => print({ kind: "connect_error", ns, message: err.message }));
  socket.on("disconnect", (reason) => print({ kind: "disconnect", ns, reason }));
  socket.onAny((name, payload) => print({ kind: "event", ns, name, payload }));
}
const manager = sockets.values().next().value.io;
manager.on("open", () => {
  print({ kind: "open", transport: manager.engine.transport.name });
  manager.engine.on("upgrade", (t) => print({ kind: "upgrade", transport: t.name }));
});

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  const socket = sockets.get(command.ns ?? namespaces[0]);
  switch (command.cmd) {
    case "emit":
      if (command.ack) {
        socket.emit(command.name, command.payload, (answer) => print({ kind: "ack", ns: command.ns, name: command.name, payload: answer }));
      } else {
        socket.emit(command.name, command.payload);
      }
      break;
    case "close":
      for (const s of sockets.values()) s.disconnect();
      process.exit(0);
  }
});
