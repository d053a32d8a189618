// A @microsoft/signalr client of the orders hub, driven by a test (tests/GeoLogistics.Tests/Support/NodeClient.cs).
// Environment: SERVER (http://host:port), TOKEN, PROTOCOL (json or messagepack).
// Writes one JSON line per thing seen: {kind:"connected"}, {kind:"connect_error",message},
// {kind:"event",type,payload}, {kind:"result",ref,value}, {kind:"error",ref,message}, {kind:"closed",error}.
// Reads one JSON line per command: {op:"invoke",ref,method,args:[…]}, {op:"send",method,args:[…]}, {op:"stop"}.
import signalR from "@microsoft/signalr";
import msgpack from "@microsoft/signalr-protocol-msgpack";
import readline from "node:readline";

const EVENT_TYPES = [
  "order.created", "order.updated", "order.status_changed", "order.assigned", "order.cancelled", "order.deleted",
  "order.dispatch_failed", "driver.status_changed", "driver.location", "order.eta", "order.conflict",
  "order.driver_arriving", "subscribed", "replay_unavailable",
];

// MessagePack may decode a 64-bit integer as a BigInt, which JSON cannot hold.
const out = (line) => process.stdout.write(JSON.stringify(line, (_, v) => (typeof v === "bigint" ? Number(v) : v)) + "\n");

const builder = new signalR.HubConnectionBuilder()
  .withUrl(`${process.env.SERVER}/hubs/orders`, {
    accessTokenFactory: () => process.env.TOKEN,
    transport: signalR.HttpTransportType.WebSockets,
  })
  .configureLogging(signalR.LogLevel.None);
if (process.env.PROTOCOL === "messagepack") {
  builder.withHubProtocol(new msgpack.MessagePackHubProtocol());
}
const connection = builder.build();
for (const type of EVENT_TYPES) {
  connection.on(type, (payload) => out({ kind: "event", type, payload }));
}
connection.onclose((error) => {
  out({ kind: "closed", error: error ? String(error.message ?? error) : null });
  process.exit(0);
});

try {
  await connection.start();
  out({ kind: "connected", protocol: connection.protocol?.name ?? process.env.PROTOCOL });
} catch (error) {
  out({ kind: "connect_error", message: String(error.message ?? error), statusCode: error.statusCode ?? null });
  process.exit(0);
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  switch (command.op) {
    case "invoke":
      connection.invoke(command.method, ...(command.args ?? [])).then(
        (value) => out({ kind: "result", ref: command.ref, value: value ?? null }),
        (error) => out({ kind: "error", ref: command.ref, message: String(error.message ?? error) }));
      break;
    case "send":
      connection.send(command.method, ...(command.args ?? [])).catch(
        (error) => out({ kind: "error", ref: command.ref, message: String(error.message ?? error) }));
      break;
    case "stop":
      await connection.stop();
      break;
  }
}
