// urql (@urql/core, fetchExchange, `fetchSubscriptions: true`) running one interop
// scenario over HTTP: queries as GraphQL over HTTP, subscriptions as whatever streaming
// response the server picks for urql's `Accept: text/event-stream, multipart/mixed`.
//
//   node urql_client.mjs SCENARIO '{"url": "http://127.0.0.1:PORT/graphql", "token": "T"}'
//
// Scenarios:
//   query         { hello }
//   subscription  count(to: 5), to its end
//   dispose       forever(token), unsubscribed after its third result; waits for the
//                 test's go-ahead, then ends
// Config: url, token, timeoutMs.
// Events (one JSON line each, see common.mjs): response {label, status, contentType, ...}
// for each HTTP response; next {op, result: {data, errors, hasNext}}; complete {op}
// (urql's source ended); disposed {op}; done.

import { Client, fetchExchange, gql } from '@urql/core';
import { onEnd, pipe, subscribe } from 'wonka';
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

const client = new Client({
  url: config.url,
  exchanges: [fetchExchange],
  fetchSubscriptions: true,
  requestPolicy: 'network-only',
  fetch: recordingFetch('urql'),
});

// What urql hands the application for one result.
function described(result) {
  const errors = result.error
    ? [
        ...describeErrors(result.error.graphQLErrors ?? []),
        ...(result.error.networkError ? [{ message: String(result.error.networkError) }] : []),
      ]
    : null;
  return { data: result.data ?? null, errors, hasNext: Boolean(result.hasNext) };
}

// Runs one operation's source; resolves with "complete" when it ends, or "disposed" once
// `stopAfter` results came and it was unsubscribed.
function run(op, source, stopAfter = Infinity) {
  return new Promise((resolve) => {
    let seen = 0;
    let disposed = false;
    const { unsubscribe } = pipe(
      source,
      onEnd(() => {
        if (disposed) return;
        emit('complete', { op });
        resolve('complete');
      }),
      subscribe((result) => {
        if (disposed) return;
        emit('next', { op, result: described(result) });
        if (++seen >= stopAfter) {
          disposed = true;
          // urql may deliver the result before `subscribe` returned its handle.
          queueMicrotask(() => {
            unsubscribe();
            emit('disposed', { op });
            resolve('disposed');
          });
        }
      }),
    );
  });
}

const scenarios = {
  async query() {
    // A query's source stays open for cache updates: its one network result is the answer.
    await run('hello', client.query(gql('query Hello { hello }'), {}), 1);
  },

  async subscription() {
    await run(
      'count',
      client.subscription(gql('subscription Count($to: Int!) { count(to: $to) }'), { to: 5 }),
    );
  },

  async dispose() {
    await run(
      'forever',
      client.subscription(gql('subscription Forever($token: String!) { forever(token: $token) }'), {
        token: config.token,
      }),
      3,
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
finish(clearGuards);
