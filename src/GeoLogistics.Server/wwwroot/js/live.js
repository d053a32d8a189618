// The dashboard's one WebSocket (docs/realtime.md). It keeps, per subscription, the newest durable seq it has seen;
// after a drop it reconnects with backoff and resubscribes with `since`, so the server replays what was missed
// before the live stream resumes. States: connecting → catching-up → live; reconnecting after a drop.

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 5000];

export class LiveSocket {
  /**
   * @param subscriptions [{ id, topic, owns: (type) => boolean }]: `owns` says which durable events move its `since`.
   * @param handlers { onAck(ack, first), onMessage(message), onState(state, detail), onReplayUnavailable(id), onSessionEnded() }
   */
  constructor(subscriptions, handlers) {
    this.subscriptions = subscriptions.map((s) => ({ ...s, since: null }));
    this.handlers = handlers;
    this.attempt = 0;
    this.everConnected = false;
    this.stopped = false;
    this.pending = new Set();
  }

  start() {
    this.connect();
  }

  /** Logout: close for good. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000, 'logout');
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.setState(this.everConnected ? 'reconnecting' : 'connecting');
    const socket = new WebSocket(`${scheme}://${location.host}/api/ws`);
    this.socket = socket;
    socket.addEventListener('message', (e) => this.receive(e.data));
    socket.addEventListener('close', (e) => this.closed(socket, e));
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    switch (message.type) {
      case 'connection_ack': {
        const first = !this.everConnected;
        this.everConnected = true;
        this.attempt = 0;
        this.setState('catching-up');
        this.pending = new Set(this.subscriptions.map((s) => s.id));
        for (const s of this.subscriptions) {
          // The first time there is nothing to catch up on: the REST snapshot that follows is the state.
          s.since ??= message.headSeq;
          this.send({ type: 'subscribe', id: s.id, topic: s.topic, since: s.since });
        }
        this.handlers.onAck?.(message, first);
        return;
      }
      case 'subscribed':
        this.pending.delete(message.id);
        if (this.pending.size === 0) this.setState('live');
        return;
      case 'replay_unavailable':
        this.handlers.onReplayUnavailable?.(message.id);
        return;
      case 'pong':
      case 'unsubscribed':
      case 'authenticated':
        return;
      case 'error':
        console.warn('socket error', message.code, message.message);
        return;
      default:
        if (message.seq > 0) {
          for (const s of this.subscriptions) {
            if (s.owns(message.type) && message.seq > (s.since ?? 0)) s.since = message.seq;
          }
        }
        this.handlers.onMessage(message);
    }
  }

  async closed(socket, event) {
    if (socket !== this.socket || this.stopped) return;
    this.setState('reconnecting', event.code);
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
    this.attempt++;
    // A refused handshake looks like any other drop; after a few, ask whether the session is still good.
    if (event.code === 1008 || this.attempt >= 3) {
      if (await this.handlers.sessionEnded?.()) return;
    }
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state, detail) {
    this.state = state;
    this.handlers.onState?.(state, detail);
  }
}
