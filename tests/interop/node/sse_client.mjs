// The graphql-sse npm client (GraphQL over Server-Sent Events, distinct connections mode:
// one event stream per operation) running one interop scenario.
//
//   node sse_client.mjs SCENARIO '{"url": "http://127.0.0.1:PORT/graphql", "token": "T"}'
//
// Scenarios:
//   query        { hello }
//   subscription count(to: 5), to its end
//   invalid      a document that does not validate
//   boom         boom(after: 2): two results, then its source raises
//   dispose      forever(token), disposed of after its third event; waits for the test's
//                go-ahead (the stream is gone, the process still runs), then ends
// Config: url, token, timeoutMs.
// Events (one JSON line each, see common.mjs): response {label, status, contentType, ...}
// for each HTTP response; next {op, result}; error {op, errors | message}; complete
// {op}; disposed {op}; done.

import { createClient } from 'graphql-sse';
import {
  describeErrors,
  emit,
  finish,
  installGuards,
  parseArguments,
  recordingFetch,
  waitForGoAhead,
} from './common.mjs';

const { scenario, config } = parseArguments();
const clearGuards = installGuards(config.timeoutMs ?? 15000);

const client = createClient({
  url: config.url,
  singleConnection: false,
  retryAttempts: 0,
  fetchFn: recordingFetch('graphql-sse'),
});

// Runs one operation; resolves with "complete" or "error" when it ends. `onNext` may
// return true to dispose of the operation (then resolves with "disposed").
function run(op, payload, onNext = () => false) {
  return new Promise((resolve) => {
    let dispose = () => {};
    let disposed = false;
    dispose = client.subscribe(payload, {
      next: (result) => {
        if (disposed) return;
        emit('next', { op, result });
        if (onNext(result)) {
          disposed = true;
          dispose();
          emit('disposed', { op });
          resolve('disposed');
        }
      },
      error: (error) => {
        if (disposed) return;
        if (Array.isArray(error)) emit('error', { op, errors: describeErrors(error) });
        else emit('error', { op, message: String(error?.message ?? error) });
        resolve('error');
      },
      complete: () => {
        if (disposed) return;
        emit('complete', { op });
        resolve('complete');
      },
    });
  });
}

const scenarios = {
  async query() {
    await run('hello', { query: '{ hello }' });
  },

  async subscription() {
    await run('count', {
      query: 'subscription Count($to: Int!) { count(to: $to) }',
      variables: { to: 5 },
    });
  },

  async invalid() {
    await run('invalid', { query: '{ hello nope }' });
  },

  async boom() {
    await run('boom', { query: 'subscription Boom { boom(after: 2) }' });
  },

  async dispose() {
    let seen = 0;
    await run(
      'forever',
      {
        query: 'subscription Forever($token: String!) { forever(token: $token) }',
        variables: { token: config.token },
      },
      () => ++seen >= 3,
    );
    await waitForGoAhead();
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
