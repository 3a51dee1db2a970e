// What both interop clients share: reading the command line, printing events as JSON
// lines, a hard time limit, and a `ws` WebSocket that reports what happens on the wire
// (negotiated subprotocol, raw message types, close code and reason), which the
// high-level clients hide or drop.
//
//   node <script>.mjs SCENARIO '{"url": "ws://...", "token": "...", "timeoutMs": 10000}'
//
// Every line on stdout is one JSON object with an "event" field. The last line is
// {"event": "done"} and the exit status 0, unless the scenario failed in the client
// ({"event": "uncaught"}, status 1) or ran out of time ({"event": "timeout"}, status 3).

import WebSocket from 'ws';

export function emit(event, fields = {}) {
  // stdout is a pipe: writes are synchronous on POSIX, so nothing is lost on exit
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

export function parseArguments() {
  const [scenario, configText] = process.argv.slice(2);
  if (!scenario) {
    emit('uncaught', { message: 'usage: SCENARIO [JSON config]' });
    process.exit(2);
  }
  const config = JSON.parse(configText ?? '{}');
  if (!config.url) {
    emit('uncaught', { message: 'the config needs a "url"' });
    process.exit(2);
  }
  return { scenario, config };
}

export function installGuards(timeoutMs) {
  const timer = setTimeout(() => {
    emit('timeout', { ms: timeoutMs });
    process.exit(3);
  }, timeoutMs);
  const fail = (error) => {
    emit('uncaught', { message: String(error?.stack ?? error?.message ?? error) });
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  return () => clearTimeout(timer);
}

export function finish(clearGuards) {
  clearGuards();
  emit('done');
  process.exit(0);
}

// Resolves once the test closes our stdin (or writes a line to it): lets the test look
// at the server while this client holds its state (a socket still open, say).
export function waitForGoAhead() {
  return new Promise((resolve) => {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      if (chunk.includes('\n')) resolve();
    });
    process.stdin.on('end', resolve);
    process.stdin.resume();
  });
}

// A one-shot signal: `wait()` resolves once `fire(value)` was called, before or after.
export function signal() {
  let fire;
  const fired = new Promise((resolve) => {
    fire = resolve;
  });
  return { fire, wait: () => fired };
}

// The `ws` WebSocket, reporting on the wire what the client library above it sees only in
// part: `open` (with the subprotocol the server chose), `socket-closed` (code, reason),
// and, for every received message whose type is in `RecordingWebSocket.watched`, a
// `received` event. `RecordingWebSocket.closed` resolves with the close event.
export class RecordingWebSocket extends WebSocket {
  static watched = new Set();
  static counts = new Map();
  static #closed = signal();

  static #waiters = [];

  static closed() {
    return RecordingWebSocket.#closed.wait();
  }

  // Resolves once `count` messages of `type` were received (over every socket).
  static received(type, count) {
    if ((RecordingWebSocket.counts.get(type) ?? 0) >= count) return Promise.resolve();
    return new Promise((resolve) => RecordingWebSocket.#waiters.push({ type, count, resolve }));
  }

  constructor(address, protocols, ...rest) {
    super(address, protocols, ...rest);
    this.on('open', () => emit('open', { protocol: this.protocol }));
    this.on('message', (data) => {
      let type;
      try {
        type = JSON.parse(data.toString()).type;
      } catch {
        type = null;
      }
      RecordingWebSocket.counts.set(type, (RecordingWebSocket.counts.get(type) ?? 0) + 1);
      const count = RecordingWebSocket.counts.get(type);
      if (RecordingWebSocket.watched.has(type)) emit('received', { type, count });
      RecordingWebSocket.#waiters = RecordingWebSocket.#waiters.filter((waiter) => {
        if (waiter.type !== type || count < waiter.count) return true;
        waiter.resolve();
        return false;
      });
    });
    this.on('close', (code, reason) => {
      const closed = { code, reason: reason.toString() };
      emit('socket-closed', closed);
      RecordingWebSocket.#closed.fire(closed);
    });
  }
}

// The global fetch, reporting each response's status and media type as a `response`
// event (with the request's `accept` and a `label`): the HTTP clients hide which transport
// the server chose, and the tests check it.
export function recordingFetch(label) {
  return async (input, init = {}) => {
    const headers = new Headers(init.headers ?? {});
    const response = await fetch(input, init);
    emit('response', {
      label,
      method: init.method ?? 'GET',
      accept: headers.get('accept'),
      status: response.status,
      contentType: response.headers.get('content-type'),
    });
    return response;
  };
}

// A GraphQL error or list of them as plain JSON: messages (and extensions, when any).
export function describeErrors(errors) {
  const list = Array.isArray(errors) ? errors : [errors];
  return list.map((error) => ({
    message: String(error?.message ?? error),
    ...(error?.extensions && Object.keys(error.extensions).length
      ? { extensions: error.extensions }
      : {}),
  }));
}
