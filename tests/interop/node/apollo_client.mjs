// Apollo Client 4 (InMemoryCache) running one interop scenario, over HTTP with its
// HttpLink (subscriptions as Apollo's multipart HTTP protocol) or over graphql-ws with
// its GraphQLWsLink.
//
//   node apollo_client.mjs SCENARIO '{"url": "http://127.0.0.1:PORT/graphql", "token": "T"}'
//
// Scenarios:
//   query              { hello } through HttpLink
//   multipart          subscription count(to: 5) through HttpLink, to its end
//   multipart-boom     subscription boom(after: 2) through HttpLink: two results, then
//                      its source raises
//   multipart-dispose  subscription forever(token) through HttpLink, unsubscribed after
//                      its third result; waits for the test's go-ahead, then ends
//   ws                 subscription count(to: 5) through GraphQLWsLink (config.wsUrl,
//                      connection params {token}), to its end
// Config: url (http://...), wsUrl (ws://...), token, timeoutMs.
// Events (one JSON line each, see common.mjs): response {label, status, contentType, ...}
// for each HTTP response; next {op, result: {data, error}}; error {op, message}; complete
// {op}; disposed {op}; socket-closed {code, reason} (GraphQLWsLink's socket); done.

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';
import {
  RecordingWebSocket,
  emit,
  finish,
  installGuards,
  parseArguments,
  recordingFetch,
  waitForGoAhead,
} from './common.mjs';

const { scenario, config } = parseArguments();
const clearGuards = installGuards(config.timeoutMs ?? 15000);

function httpApollo() {
  return new ApolloClient({
    link: new HttpLink({ uri: config.url, fetch: recordingFetch('apollo') }),
    cache: new InMemoryCache(),
  });
}

// What Apollo hands the application for one result.
function described(result) {
  return { data: result.data ?? null, error: result.error ? String(result.error.message) : null };
}

// Subscribes; resolves with "complete", "error" or (when `stopAfter` results came)
// "disposed" after unsubscribing.
function subscribe(apollo, op, query, variables, stopAfter = Infinity) {
  return new Promise((resolve) => {
    let seen = 0;
    const subscription = apollo.subscribe({ query: gql(query), variables }).subscribe({
      next: (result) => {
        emit('next', { op, result: described(result) });
        if (++seen >= stopAfter) {
          subscription.unsubscribe();
          emit('disposed', { op });
          resolve('disposed');
        }
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

const COUNT = 'subscription Count($to: Int!) { count(to: $to) }';

const scenarios = {
  async query() {
    const apollo = httpApollo();
    const result = await apollo.query({ query: gql('query Hello { hello }') });
    emit('next', { op: 'hello', result: described(result) });
    emit('complete', { op: 'hello' });
    apollo.stop();
  },

  async multipart() {
    const apollo = httpApollo();
    await subscribe(apollo, 'count', COUNT, { to: 5 });
    apollo.stop();
  },

  async 'multipart-boom'() {
    const apollo = httpApollo();
    await subscribe(apollo, 'boom', 'subscription Boom { boom(after: 2) }', {});
    apollo.stop();
  },

  async 'multipart-dispose'() {
    const apollo = httpApollo();
    await subscribe(
      apollo,
      'forever',
      'subscription Forever($token: String!) { forever(token: $token) }',
      { token: config.token },
      3,
    );
    await waitForGoAhead();
    apollo.stop();
  },

  async ws() {
    const client = createClient({
      url: config.wsUrl,
      webSocketImpl: RecordingWebSocket,
      retryAttempts: 0,
      connectionParams: { token: config.token },
    });
    const apollo = new ApolloClient({ link: new GraphQLWsLink(client), cache: new InMemoryCache() });
    await subscribe(apollo, 'count', COUNT, { to: 5 });
    apollo.stop();
    await client.dispose();
    await RecordingWebSocket.closed();
  },
};

const play = scenarios[scenario];
if (!play) {
  emit('uncaught', { message: `unknown scenario ${scenario}` });
  process.exit(2);
}
await play();
finish(clearGuards);
