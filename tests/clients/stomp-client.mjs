// A STOMP client for the tests: @stomp/stompjs over a plain WebSocket (`ws`, brokerURL and the v1x.stomp
// subprotocols), or, with STOMP_TRANSPORT=sockjs, sockjs-client with Stomp.over as the Spring seeds' page does.
// Env: STOMP_URL (ws://host:port/ws-registry, or http://host:port/ws-registry for SockJS), STOMP_TOKEN (sent in
// CONNECT as Authorization: Bearer; STOMP_TOKEN_HEADER=passcode sends it as passcode), STOMP_HEARTBEAT ("out,in" ms).
// Reads JSON commands on stdin, one a line: {"op":"subscribe","destination":…,"id":…,"headers":{…}},
// {"op":"unsubscribe","id":…}, {"op":"send","destination":…,"body":…}, {"op":"disconnect"}.
// Writes JSON lines: connected, message, receipt, error, closed.
import readline from 'node:readline';
import WebSocket from 'ws';
import SockJS from 'sockjs-client';
import { Client, Stomp } from '@stomp/stompjs';

Object.assign(globalThis, { WebSocket });

const url = process.env.STOMP_URL;
const sockjs = process.env.STOMP_TRANSPORT === 'sockjs';
const token = process.env.STOMP_TOKEN;
const [heartbeatOut, heartbeatIn] = (process.env.STOMP_HEARTBEAT ?? '10000,10000').split(',').map(Number);
const connectHeaders = {};
if (token) {
  if (process.env.STOMP_TOKEN_HEADER === 'passcode') connectHeaders.passcode = token;
  else connectHeaders.Authorization = `Bearer ${token}`;
}

const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const debug = process.env.STOMP_DEBUG ? (text) => process.stderr.write(text + '\n') : () => {};

const onMessage = (message) => out({
  kind: 'message',
  subscription: message.headers.subscription,
  destination: message.headers.destination,
  messageId: message.headers['message-id'],
  eventType: message.headers['event-type'],
  contentType: message.headers['content-type'],
  seq: message.headers.seq === undefined ? null : Number(message.headers.seq),
  body: JSON.parse(message.body),
});
const onError = (frame) => out({ kind: 'error', message: frame.headers.message, body: frame.body });
const onClose = (event) => out({ kind: 'closed', code: event.code, reason: event.reason });
const onReceipt = (frame) => out({ kind: 'receipt', id: frame.headers['receipt-id'] });

let client;
if (sockjs) {
  // The seed's page: var socket = new SockJS('/ws-registry'); stompClient = Stomp.over(socket); stompClient.connect(…).
  client = Stomp.over(() => new SockJS(url));
  client.reconnectDelay = 0;
  client.heartbeatOutgoing = heartbeatOut;
  client.heartbeatIncoming = heartbeatIn;
  client.debug = debug;
  client.onUnhandledReceipt = onReceipt;
  client.connect(connectHeaders,
    (frame) => out({ kind: 'connected', headers: frame.headers }),
    onError,
    onClose);
} else {
  client = new Client({
    brokerURL: url,
    connectHeaders,
    reconnectDelay: 0,
    heartbeatOutgoing: heartbeatOut,
    heartbeatIncoming: heartbeatIn,
    debug,
    onConnect: (frame) => out({ kind: 'connected', headers: frame.headers, protocol: client.webSocket?.protocol }),
    onStompError: onError,
    onWebSocketClose: onClose,
    onUnhandledReceipt: onReceipt,
  });
  client.activate();
}

const subscriptions = new Map();
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  switch (command.op) {
    case 'subscribe': {
      const headers = { id: command.id, ...(command.headers ?? {}) };
      subscriptions.set(command.id, client.subscribe(command.destination, onMessage, headers));
      break;
    }
    case 'unsubscribe':
      subscriptions.get(command.id)?.unsubscribe(command.headers ?? {});
      break;
    case 'send':
      (client.publish ? client.publish({ destination: command.destination, body: command.body, headers: command.headers ?? {} })
        : client.send(command.destination, command.headers ?? {}, command.body));
      break;
    case 'disconnect':
      if (sockjs) client.disconnect(() => out({ kind: 'disconnected' }), command.headers ?? {});
      else await client.deactivate();
      break;
  }
}
