// The reference legacy graphql-ws server: `SubscriptionServer` of npm
// subscriptions-transport-ws (0.11), on a `ws` server.
//
//   node legacy_server.mjs         -> {"event": "listening", "port": N}, then one line per
//                                     connect / subscribe / complete / close
//
// `onConnect` refuses connection params holding `reject: true` (the reference sends
// `connection_error` "Prohibited connection!" and closes 1011). Keep-alive `ka` every
// 100 ms. SIGTERM closes every socket with 1001 and exits 0.

import { WebSocketServer } from 'ws';
import { execute, subscribe } from 'graphql';
import subscriptionsTransportWs from 'subscriptions-transport-ws';
import { emit, roots, schema } from './schema.mjs';

const { SubscriptionServer } = subscriptionsTransportWs;

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });

SubscriptionServer.create(
  {
    schema,
    rootValue: roots,
    execute,
    subscribe,
    keepAlive: 100,
    onConnect: (params) => {
      emit('connect', { params: params ?? null });
      return !params?.reject;
    },
    onOperation: (message, params) => {
      emit('subscribe', { id: message.id, payload: message.payload });
      return params;
    },
    onOperationComplete: (_socket, id) => {
      emit('complete', { id });
    },
    onDisconnect: () => {
      emit('close', {});
    },
  },
  wss,
);

wss.on('listening', () => emit('listening', { port: wss.address().port }));

process.on('SIGTERM', () => {
  for (const socket of wss.clients) socket.close(1001, 'Going away');
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref(); // a client that never answers the close
});
