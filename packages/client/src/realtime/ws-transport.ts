import { recoveryOf, type Transport, type TransportContext } from './transport.js';

/** The native WebSocket protocol: one connection, many channels, each with its own position. */
export function webSocketTransport(ctx: TransportContext): Transport {
  const Ctor = ctx.WebSocket!;
  const url = `${ctx.baseUrl.replace(/^http/, 'ws')}/v1/ws`;
  const ws = new Ctor(url);
  const subscribed = new Set<string>();
  let opened = false;
  let done = false;
  let nextId = 1;

  const send = (frame: object) => {
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      /* closing: onclose follows */
    }
  };
  const sync = () => {
    if (!opened) return;
    const wanted = new Map(ctx.channels().map((c) => [c.channel, c.position]));
    for (const channel of [...subscribed]) {
      if (!wanted.has(channel)) {
        subscribed.delete(channel);
        send({ type: 'unsubscribe', id: nextId++, channel });
      }
    }
    for (const [channel, position] of wanted) {
      if (subscribed.has(channel)) continue;
      subscribed.add(channel);
      send({ type: 'subscribe', id: nextId++, channel, ...(position ? { position } : {}) });
    }
  };
  const finish = (info: { code?: number; reason: string }) => {
    if (done) return;
    done = true;
    ctx.events.closed({ opened, ...info });
  };

  ws.onopen = () => send({ type: 'connect', version: 1, ...(ctx.token ? { token: ctx.token } : {}) });
  const handle = (msg: any) => {
    switch (msg.type) {
      case 'connected':
        opened = true;
        ctx.events.open(2 * (msg.pingIntervalMs ?? 25_000));
        sync();
        break;
      case 'subscribed':
        ctx.events.recovery(msg.channel, recoveryOf(msg));
        break;
      case 'pub':
        ctx.events.event({ channel: msg.channel, epoch: msg.epoch, seq: msg.seq, event: msg.event, data: msg.data, time: msg.time });
        break;
      case 'ping':
        send({ type: 'pong' });
        break;
      case 'error':
        if (msg.channel) {
          subscribed.delete(msg.channel);
          ctx.events.channelError(msg.channel, msg.code, msg.message);
        }
        break;
    }
  };
  ws.onmessage = (ev) => {
    if (done) return;
    ctx.events.alive();
    // A frame may carry several messages, one JSON per line (replays are batched).
    for (const line of String(ev.data).split('\n')) {
      if (done) return;
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      handle(msg);
    }
  };
  ws.onclose = (ev) => finish({ code: ev.code, reason: ev.reason || 'closed' });
  ws.onerror = () => undefined; // onclose follows

  return {
    name: 'websocket',
    sync,
    close() {
      finish({ reason: 'closed by client' });
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    },
  };
}
