// The subscriptions-transport-ws npm client (legacy graphql-ws) running one interop scenario.
//
//   node legacy_client.mjs SCENARIO '{"url": "ws://127.0.0.1:PORT/graphql", "token": "T"}'
//
// Config: url, token (sent as connection params {token}), timeoutMs (default 15000),
// kaTimeoutMs (keepalive: the client's `timeout`, within which each `ka` must follow the
// previous one), kas (keepalive: how many `ka` to wait for).
//
// This client sends `start` right after `connection_init`, without waiting for the ack,
// and throws "Invalid message type!" (event `uncaught`) on any message type it does not
// know. Events (one JSON line each, see common.mjs): open {protocol}; connected {payload}
// (the ack payload); connection-error {payload}; next {op, result} (a `data` message: a
// result or {errors}); error {op, error} (an `error` message: one error object); complete
// {op}; received {type: "ka", count}; disconnected (the client gave up the socket);
// client-error; socket-closed {code, reason}; done.

import subscriptionsTransportWs from 'subscriptions-transport-ws';
import {
  RecordingWebSocket,
  emit,
  finish,
  installGuards,
  parseArguments,
  signal,
  waitForGoAhead,
} from './common.mjs';

const { SubscriptionClient } = subscriptionsTransportWs;
const { scenario, config } = parseArguments();
const clearGuards = installGuards(config.timeoutMs ?? 15000);

function makeClient(connectionParams = { token: config.token }, options = {}) {
  const client = new SubscriptionClient(
    config.url,
    {
      reconnect: false,
      connectionParams,
      // Called with the payload of a `connection_error`, and with nothing on the ack.
      connectionCallback: (payload) => {
        if (payload !== undefined) emit('connection-error', { payload });
      },
      ...options,
    },
    RecordingWebSocket,
  );
  client.onConnected((payload) => emit('connected', { payload: payload ?? null }));
  client.onDisconnected(() => emit('disconnected'));
  client.onError((error) => emit('client-error', { message: String(error?.message ?? error) }));
  return client;
}

// Runs one operation; resolves with "complete" or "error" when it ends.
function run(client, op, request, onNext = () => {}) {
  return new Promise((resolve) => {
    const subscription = client.request(request).subscribe({
      next: (result) => {
        emit('next', { op, result });
        onNext(result, subscription);
      },
      error: (error) => {
        emit('error', { op, error });
        resolve('error');
      },
      complete: () => {
        emit('complete', { op });
        resolve('complete');
      },
    });
  });
}

// `close()` sends connection_terminate and closes; wait for the closing handshake.
async function close(client) {
  client.close();
  await RecordingWebSocket.closed();
}

const HELLO = { query: 'query Hello($name: String) { hello(name: $name) }', variables: { name: 'interop' }, operationName: 'Hello' };
const COUNT = 'subscription Count($to: Int!, $delayMs: Int) { count(to: $to, delayMs: $delayMs) }';

const scenarios = {
  async query(client) {
    await run(client, 'hello', HELLO);
    await close(client);
  },

  async mutation(client) {
    await run(client, 'set', {
      query: 'mutation Set($token: String!, $greeting: String!) { setGreeting(token: $token, greeting: $greeting) }',
      variables: { token: config.token, greeting: 'hi from subscriptions-transport-ws' },
    });
    await run(client, 'get', {
      query: 'query Get($token: String!) { greeting(token: $token) }',
      variables: { token: config.token },
    });
    await close(client);
  },

  async subscription(client) {
    await run(client, 'count', { query: COUNT, variables: { to: 5, delayMs: 5 } });
    await close(client);
  },

  // Each kind of error in turn on one socket, then a query: the socket outlived them.
  async errors(client) {
    await run(client, 'validation', { query: '{ nope }' });
    await run(client, 'resolver', { query: '{ hello fail }' });
    await run(client, 'flaky', { query: 'subscription { flaky(to: 3) }' });
    await run(client, 'boom', { query: 'subscription { boom(after: 2) }' });
    await run(client, 'after', HELLO);
    await close(client);
  },

  // Stops a never-ending subscription after its first value (`stop`), then holds the
  // socket open until the test (having checked the server) lets it go on.
  async 'complete-early'(client) {
    const first = signal();
    const subscription = client
      .request({ query: 'subscription Forever($token: String!) { forever(token: $token) }', variables: { token: config.token } })
      .subscribe({
        next: (result) => {
          emit('next', { op: 'forever', result });
          first.fire();
        },
        error: (error) => emit('error', { op: 'forever', error }),
        complete: () => emit('complete', { op: 'forever' }),
      });
    await first.wait();
    subscription.unsubscribe();
    emit('completed-early');
    await waitForGoAhead();
    await run(client, 'after', HELLO);
    await close(client);
  },

  async 'connection-params'(client) {
    await run(client, 'hello', HELLO);
    await close(client);
  },

  async refused(client) {
    // The start goes out before the server refuses the init: it must never run.
    const outcome = run(client, 'hello', HELLO);
    await RecordingWebSocket.closed();
    emit('outcome-pending', { pending: (await Promise.race([outcome, 'pending'])) === 'pending' });
  },

  async concurrent(client) {
    await Promise.all([
      run(client, 'a', { query: COUNT, variables: { to: 3, delayMs: 30 } }),
      run(client, 'b', { query: COUNT, variables: { to: 6, delayMs: 10 } }),
      run(client, 'c', { query: COUNT, variables: { to: 2, delayMs: 50 } }),
      run(client, 'q', HELLO),
    ]);
    await close(client);
  },

  // The server sends `ka` every KEEP_ALIVE s; the client drops the socket if one is more
  // than kaTimeoutMs late. Wait for many of them, across a running subscription.
  async keepalive(client) {
    const first = signal();
    const subscription = client
      .request({ query: 'subscription Forever($token: String!) { forever(token: $token) }', variables: { token: config.token } })
      .subscribe({
        next: (result) => {
          if (result.data?.forever === 0) emit('next', { op: 'forever', result });
          first.fire();
        },
        error: (error) => emit('error', { op: 'forever', error }),
        complete: () => emit('complete', { op: 'forever' }),
      });
    await first.wait();
    await RecordingWebSocket.received('ka', config.kas ?? 10);
    subscription.unsubscribe();
    await run(client, 'after', HELLO);
    await close(client);
  },
};

const body = scenarios[scenario];
if (!body) throw new Error(`unknown scenario ${scenario}`);
if (scenario === 'keepalive') RecordingWebSocket.watched.add('ka');
const connectionParams =
  scenario === 'connection-params'
    ? { token: config.token, client: 'subscriptions-transport-ws', nested: { list: [1, 'two', null], flag: true } }
    : scenario === 'refused'
      ? { token: config.token, reject: true }
      : undefined;
const options = scenario === 'keepalive' ? { timeout: config.kaTimeoutMs ?? 1000 } : {};
await body(makeClient(connectionParams, options));
finish(clearGuards);
