/**
 * Request/response over a forked child's IPC channel: `request(cmd, args)` sends {id, cmd, args}
 * and resolves with the child's {id, ok, result} (rejects on {ok: false, error}). Messages
 * with a `type` (e.g. `ready`) go to `onEvent`. Rejects everything pending if the child exits.
 */
export function ipcRequests(child, name, onEvent = () => {}) {
  const pending = new Map();
  let nextId = 0;
  child.on('message', (msg) => {
    if (msg.type) return onEvent(msg);
    const w = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.ok) w?.resolve(msg.result);
    else w?.reject(new Error(msg.error));
  });
  child.once('exit', (code) => {
    for (const w of pending.values()) w.reject(new Error(`${name} exited (${code})`));
    pending.clear();
  });
  return (cmd, args) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, args });
    });
}

/** Answers a parent's ipcRequests with `handlers[cmd](args)`. */
export function serveRequests(handlers) {
  process.on('message', async ({ id, cmd, args }) => {
    try {
      process.send({ id, ok: true, result: await handlers[cmd](args ?? {}) });
    } catch (err) {
      process.send({ id, ok: false, error: err?.stack ?? String(err) });
    }
  });
}
