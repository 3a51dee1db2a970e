// The graphql-sse npm client in single connection mode running one scenario.
//
//   node sse_single_client.mjs SCENARIO '{"url": "http://127.0.0.1:PORT/graphql", "key": "K"}'
//
// Config: url, key (sent as an x-key header on every request, under which the server
// records what its hooks and sources saw), timeoutMs (default 15000).
//
// Scenarios:
//   query         one query;
//   subscription  one subscription of three events;
//   concurrent    two subscriptions and a query at once, on the client's one stream;
//   dispose       a subscription that never ends: after its first result the client
//                 prints `ready`, waits for the go-ahead (stdin), then stops it and
//                 disposes of itself.
//
// Events (one JSON line each, see common.mjs): next {op, result}; error {op, message};
// complete {op}; ready {op}; disposed; done.

import { createClient } from 'graphql-sse';
import { emit, finish, installGuards, parseArguments, waitForGoAhead } from './common.mjs';

const { scenario, config } = parseArguments();
const clearGuards = installGuards(config.timeoutMs ?? 15000);

const client = createClient({
  url: config.url,
  singleConnection: true,
  retryAttempts: 0,
  headers: () => ({ 'x-key': config.key ?? '' }),
});

// Runs one operation; resolves when it ends ("complete" or "error").
function run(op, payload, onNext = () => {}) {
  return new Promise((resolve) => {
    const dispose = client.subscribe(payload, {
      next: (result) => {
        emit('next', { op, result });
        onNext(dispose);
      },
      error: (error) => {
        emit('error', { op, message: String(error?.message ?? error) });
        resolve('error');
      },
      complete: () => {
        emit('complete', { op });
        resolve('complete');
      },
    });
  });
}

const scenarios = {
  async query() {
    await run('q', { query: '{ hello }' });
  },
  async subscription() {
    await run('s', { query: 'subscription { count(to: 3) }' });
  },
  async concurrent() {
    await Promise.all([
      run('s1', { query: 'subscription { count(to: 3) }' }),
      run('s2', { query: 'subscription { count(to: 2) }' }),
      run('q', { query: '{ hello(name: "together") }' }),
    ]);
  },
  async dispose() {
    let ready = false;
    const stopped = new Promise((resolve) => {
      run('t', { query: `subscription { tracked(key: "${config.key}") }` }, async (dispose) => {
        if (ready) return;
        ready = true;
        emit('ready', { op: 't' });
        await waitForGoAhead();
        dispose(); // sends the DELETE, then closes the stream (no operation left)
        resolve();
      });
    });
    await stopped;
    client.dispose();
    emit('disposed');
  },
};

const play = scenarios[scenario];
if (!play) {
  emit('uncaught', { message: `unknown scenario ${scenario}` });
  process.exit(2);
}
await play();
client.dispose();
finish(clearGuards);
