// The reference servers of GraphQL over SSE and GraphQL over HTTP on one port: npm
// graphql-sse's `createHandler` (distinct connections mode) answers requests with
// `Accept: text/event-stream` at /graphql, npm graphql-http's `createHandler` every
// other request there, both with the schema below.
//
//   node sse_server.mjs            -> {"event": "listening", "port": N}, then one line per
//                                     request / subscribe / complete / aborted /
//                                     source_finally
//
// Other paths, for what a broken server answers:
//   /status/500    500 text/plain "Internal kaboom"
//   /html          200 text/html (no GraphQL response)
//   /hang          never answers
//   /sse-json      200 application/json {"data": {"hello": "not a stream"}}
//   anything else  404
//
// `aborted` is printed when a response closed before it ended: the client went away.
// A `tag` query parameter (ignored otherwise) is printed with `request` and `aborted`, so
// that a test finds its own requests.
// SIGTERM closes every connection and exits 0.
//
//   type Query { hello(name: String = "world"): String!  throwing: String }
//   type Mutation { add(a: Int!, b: Int!): Int! }
//   type Subscription {
//     count(to: Int!, delayMs: Int = 0): Int!   # 1..to, delayMs apart
//     boom: Int!                                # 1, then its source raises "Boom!"
//     forever(tag: String!): Int!               # 1, 2, ... every 20 ms, never ends
//     countdown(start: Int!): Int!              # start..0, as examples/hello.py's (the
//   }                                           # README's SSE command runs against it)
//
// `count` and `forever` print {"event": "source_finally", "field": ..., "tag": ...} when
// their source is closed (the subscription ended, or the client went away).

import http from 'node:http';
import { buildSchema, execute, subscribe } from 'graphql';
import { createHandler as createSSEHandler } from 'graphql-sse/lib/use/http';
import { createHandler as createHTTPHandler } from 'graphql-http/lib/use/http';

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

const schema = buildSchema(`
  type Query {
    hello(name: String = "world"): String!
    throwing: String
  }
  type Mutation {
    add(a: Int!, b: Int!): Int!
  }
  type Subscription {
    count(to: Int!, delayMs: Int = 0): Int!
    boom: Int!
    forever(tag: String!): Int!
    countdown(start: Int!): Int!
  }
`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const roots = {
  hello: ({ name }) => `Hello, ${name}!`,
  throwing: () => {
    throw new Error('Query Kaboom!');
  },
  add: ({ a, b }) => a + b,
  count: async function* ({ to, delayMs }) {
    try {
      for (let count = 1; count <= to; count++) {
        if (count > 1 && delayMs) await sleep(delayMs);
        yield { count };
      }
    } finally {
      emit('source_finally', { field: 'count', tag: null });
    }
  },
  boom: async function* () {
    yield { boom: 1 };
    throw new Error('Boom!');
  },
  countdown: async function* ({ start }) {
    for (let value = start; value >= 0; value--) yield { countdown: value };
  },
  forever: async function* ({ tag }) {
    try {
      for (let n = 1; ; n++) {
        yield { forever: n };
        await sleep(20);
      }
    } finally {
      emit('source_finally', { field: 'forever', tag });
    }
  },
};

const sse = createSSEHandler({
  schema,
  execute: (args) => execute({ ...args, rootValue: roots }),
  subscribe: (args) => subscribe({ ...args, rootValue: roots }),
  onSubscribe: (_req, params) => {
    emit('subscribe', { query: params.query, variables: params.variables ?? null });
  },
  onComplete: () => {
    emit('complete');
  },
});

const graphqlHTTP = createHTTPHandler({ schema, rootValue: roots });

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  const tag = url.searchParams.get('tag'); // a test's name for its requests
  emit('request', {
    method: req.method,
    path,
    tag,
    accept: req.headers.accept ?? null,
    contentType: req.headers['content-type'] ?? null,
    authorization: req.headers.authorization ?? null,
    lastEventId: req.headers['last-event-id'] ?? null,
  });
  res.on('close', () => {
    if (!res.writableEnded) emit('aborted', { path, tag });
  });
  try {
    if (path === '/graphql') {
      if (req.headers.accept === 'text/event-stream') await sse(req, res);
      else await graphqlHTTP(req, res);
    } else if (path === '/status/500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal kaboom');
    } else if (path === '/html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>hello</body></html>');
    } else if (path === '/sse-json') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ data: { hello: 'not a stream' } }));
    } else if (path === '/hang') {
      // never answers
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
    }
  } catch (error) {
    // A source that throws (`boom`) rejects graphql-sse's handler mid-stream: the
    // protocol has no event for it, so the stream is cut.
    emit('handler_error', { message: String(error?.message ?? error) });
    if (res.headersSent) res.destroy();
    else res.writeHead(500).end();
  }
});

server.listen(0, '127.0.0.1', () => emit('listening', { port: server.address().port }));

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
