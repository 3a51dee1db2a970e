// Third-party clients running a @defer query over graphql-transport-ws, or over HTTP
// (multipart/mixed incremental delivery).
//
//   node incremental_client.mjs SCENARIO '{"url": "ws://127.0.0.1:PORT/graphql"}'
//
// Scenarios:
//   graphql-ws  npm graphql-ws's createClient: next {result} for each message of the
//               operation, then complete.
//   apollo      Apollo Client 4 (GraphQLWsLink over graphql-ws, InMemoryCache, the
//               GraphQL17Alpha9Handler for incremental results) watching the query:
//               result {data, dataState, networkStatus} for each result it emits, until
//               the merged result is complete and the network is done (status 7).
//   apollo-http the same Apollo Client with HttpLink instead (url is http://...): the
//               query goes out as a POST asking for `multipart/mixed;incrementalSpec=v0.2`;
//               a response {status, contentType, ...} event tells what the server chose.
// Config: url, query (the document to run), timeoutMs.
// Events (one JSON line each, see common.mjs): open {protocol}, response, next, complete,
// error, result, socket-closed, done.

import { createClient } from 'graphql-ws';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { GraphQL17Alpha9Handler } from '@apollo/client/incremental';
import {
  RecordingWebSocket,
  emit,
  finish,
  installGuards,
  parseArguments,
  recordingFetch,
} from './common.mjs';

const { scenario, config } = parseArguments();
const clearGuards = installGuards(config.timeoutMs ?? 15000);

function wsClient() {
  return createClient({
    url: config.url,
    webSocketImpl: RecordingWebSocket,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: (error) => emit('error', { message: String(error?.message ?? error) }),
  });
}

async function closeAndFinish(client) {
  await client.dispose();
  await RecordingWebSocket.closed();
  finish(clearGuards);
}

// Apollo Client over `link` watching config.query until its merged result is complete.
async function watchDeferred(link) {
  const apollo = new ApolloClient({
    link,
    cache: new InMemoryCache(),
    incrementalHandler: new GraphQL17Alpha9Handler(),
  });
  await new Promise((resolve) => {
    const subscription = apollo
      .watchQuery({ query: gql(config.query), fetchPolicy: 'network-only' })
      .subscribe({
        next: (result) => {
          emit('result', {
            data: result.data ?? null,
            dataState: result.dataState,
            networkStatus: result.networkStatus,
            error: result.error ? String(result.error.message) : null,
          });
          // networkStatus 7 (ready): the last result; 9 (streaming) comes before it.
          if ((result.dataState === 'complete' && result.networkStatus === 7) || result.error) {
            subscription.unsubscribe();
            resolve();
          }
        },
        error: (error) => {
          emit('error', { error: String(error?.message ?? error) });
          resolve();
        },
      });
  });
  apollo.stop();
}

const scenarios = {
  async 'graphql-ws'() {
    const client = wsClient();
    await new Promise((resolve) => {
      client.subscribe(
        { query: config.query },
        {
          next: (result) => emit('next', { result }),
          error: (error) => {
            emit('error', { error: Array.isArray(error) ? error : String(error?.message ?? error) });
            resolve();
          },
          complete: () => {
            emit('complete');
            resolve();
          },
        },
      );
    });
    await closeAndFinish(client);
  },

  async apollo() {
    const client = wsClient();
    await watchDeferred(new GraphQLWsLink(client));
    await closeAndFinish(client);
  },

  async 'apollo-http'() {
    await watchDeferred(new HttpLink({ uri: config.url, fetch: recordingFetch('apollo') }));
    finish(clearGuards);
  },
};

const run = scenarios[scenario];
if (!run) {
  emit('uncaught', { message: `unknown scenario ${scenario}` });
  process.exit(2);
}
await run();
