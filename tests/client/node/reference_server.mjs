// The reference graphql-transport-ws server: npm graphql-ws `useServer` on `ws`.
//
//   node reference_server.mjs      -> {"event": "listening", "port": N}, then one line per
//                                     connect / subscribe / complete / close
//
// `onConnect` refuses connection params holding `reject: true` (the reference closes 4403)
// and acknowledges the others with the payload {"welcome": params.name}. SIGTERM disposes
// the server (every socket closes 1001 "Going away") and exits 0.

import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { emit, roots, schema } from './schema.mjs';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });

const server = useServer(
  {
    schema,
    roots: { query: roots, subscription: roots },
    onConnect: (ctx) => {
      const params = ctx.connectionParams ?? null;
      emit('connect', { params });
      if (params?.reject) return false;
      return { welcome: params?.name ?? null };
    },
    onSubscribe: (_ctx, id, payload) => {
      emit('subscribe', { id, payload });
    },
    onComplete: (_ctx, id) => {
      emit('complete', { id });
    },
    onClose: (_ctx, code, reason) => {
      emit('close', { code, reason: String(reason ?? '') });
    },
  },
  wss,
);

wss.on('listening', () => emit('listening', { port: wss.address().port }));

process.on('SIGTERM', async () => {
  await server.dispose();
  process.exit(0);
});
