// The graphql-ws npm client (graphql-transport-ws) running one interop scenario.
//
//   node graphql_ws_client.mjs SCENARIO '{"url": "ws://127.0.0.1:PORT/graphql", "token": "T"}'
//
// Config: url, token (sent as connection params {token}), timeoutMs (default 15000),
// connectionParams (replaces {token}), pings (keepalive: how many server pings to wait for).
//
// Events (one JSON line each, see common.mjs): open {protocol}; connected {payload} (the
// ack payload); next {op, result}; error {op, errors} (an `error` message) or error
// {op, close: {code, reason}} (the socket closed under the operation); complete {op};
// ping (a server ping; the client answers it); non-lazy-error; closed {code, reason} (as
// the client reports it); socket-closed {code, reason} (as ws reports it); done.

import { createClient } from 'graphql-ws';
import {
  RecordingWebSocket,
  emit,
  finish,
  installGuards,
  parseArguments,
  signal,
  waitForGoAhead,
} from './common.mjs';

const { scenario, config } = parseArguments();
const clearGuards = installGuards(config.timeoutMs ?? 15000);
const closed = signal();

function describeError(error) {
  if (Array.isArray(error)) return { errors: error };
  if (error && typeof error.code === 'number') {
    return { close: { code: error.code, reason: error.reason } };
  }
  return { message: String(error?.message ?? error) };
}

function makeClient(connectionParams = config.connectionParams ?? { token: config.token }) {
  return createClient({
    url: config.url,
    webSocketImpl: RecordingWebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams,
    connectionAckWaitTimeout: 10000,
    onNonLazyError: (error) => emit('non-lazy-error', describeError(error)),
    on: {
      connected: (_socket, payload) => emit('connected', { payload: payload ?? null }),
      closed: (event) => {
        emit('closed', { code: event.code, reason: event.reason });
        closed.fire();
      },
      ping: (received, payload) => {
        if (received) emit('ping', { payload: payload ?? null });
      },
    },
  });
}

// Runs one operation; resolves with "complete" or "error" when it ends.
function run(client, op, payload, onNext = () => {}) {
  return new Promise((resolve) => {
    client.subscribe(payload, {
      next: (result) => {
        emit('next', { op, result });
        onNext(result);
      },
      error: (error) => {
        emit('error', { op, ...describeError(error) });
        resolve('error');
      },
      complete: () => {
        emit('complete', { op });
        resolve('complete');
      },
    });
  });
}

async function dispose(client) {
  await client.dispose();
  await closed.wait();
}

const HELLO = { query: 'query Hello($name: String) { hello(name: $name) }', variables: { name: 'interop' }, operationName: 'Hello' };
const COUNT = 'subscription Count($to: Int!, $delayMs: Int) { count(to: $to, delayMs: $delayMs) }';

const scenarios = {
  async query(client) {
    await run(client, 'hello', HELLO);
    await dispose(client);
  },

  async mutation(client) {
    await run(client, 'set', {
      query: 'mutation Set($token: String!, $greeting: String!) { setGreeting(token: $token, greeting: $greeting) }',
      variables: { token: config.token, greeting: 'hi from graphql-ws' },
    });
    await run(client, 'get', {
      query: 'query Get($token: String!) { greeting(token: $token) }',
      variables: { token: config.token },
    });
    await dispose(client);
  },

  async subscription(client) {
    await run(client, 'count', { query: COUNT, variables: { to: 5, delayMs: 5 } });
    await dispose(client);
  },

  // Each kind of error in turn on one socket, then a query: the socket outlived them.
  async errors(client) {
    await run(client, 'validation', { query: '{ nope }' });
    await run(client, 'resolver', { query: '{ hello fail }' });
    await run(client, 'flaky', { query: 'subscription { flaky(to: 3) }' });
    await run(client, 'boom', { query: 'subscription { boom(after: 2) }' });
    await run(client, 'after', HELLO);
    await dispose(client);
  },

  // Completes a never-ending subscription after its first value, then holds the socket
  // open until the test (having checked the server) lets it go on.
  async 'complete-early'(client) {
    const first = signal();
    let unsubscribe;
    const ended = new Promise((resolve) => {
      unsubscribe = client.subscribe(
        { query: 'subscription Forever($token: String!) { forever(token: $token) }', variables: { token: config.token } },
        {
          next: (result) => {
            emit('next', { op: 'forever', result });
            first.fire();
          },
          error: (error) => {
            emit('error', { op: 'forever', ...describeError(error) });
            resolve();
          },
          complete: () => {
            emit('complete', { op: 'forever' });
            resolve();
          },
        },
      );
    });
    await first.wait();
    unsubscribe();
    await ended;
    emit('completed-early');
    await waitForGoAhead();
    await run(client, 'after', HELLO);
    await dispose(client);
  },

  async 'connection-params'(client) {
    await run(client, 'hello', HELLO);
    await dispose(client);
  },

  async refused(client) {
    // No operation: the non-lazy client connects by itself and reports the close.
    await closed.wait();
  },

  async concurrent(client) {
    await Promise.all([
      run(client, 'a', { query: COUNT, variables: { to: 3, delayMs: 30 } }),
      run(client, 'b', { query: COUNT, variables: { to: 6, delayMs: 10 } }),
      run(client, 'c', { query: COUNT, variables: { to: 2, delayMs: 50 } }),
      run(client, 'q', HELLO),
    ]);
    await dispose(client);
  },

  // The server pings (protocol `ping` messages); the client answers each with `pong`.
  async keepalive(client) {
    const pings = config.pings ?? 5;
    let seen = 0;
    const enough = signal();
    client.on('ping', (received) => {
      if (received && ++seen >= pings) enough.fire();
    });
    await enough.wait();
    await run(client, 'after', HELLO);
    await dispose(client);
  },
};

const body = scenarios[scenario];
if (!body) throw new Error(`unknown scenario ${scenario}`);
const connectionParams =
  scenario === 'connection-params'
    ? { token: config.token, client: 'graphql-ws', nested: { list: [1, 'two', null], flag: true } }
    : scenario === 'refused'
      ? { token: config.token, reject: true }
      : undefined;
await body(makeClient(connectionParams));
finish(clearGuards);
