// The schema both reference servers serve: the core of tests/apps/client_app.py, with
// graphql-js root resolvers.
//
//   type Query { hello(name: String = "world"): String!  throwing: String }
//   type Subscription { greetings: String!  count(to: Int!): Int!  boom: Int! }
//
// `throwing` raises "Query Kaboom!" (a result with errors); `boom` yields 1 and then its
// source raises "Boom!" (an `error` message).

import { buildSchema } from 'graphql';

export const schema = buildSchema(`
  type Query {
    hello(name: String = "world"): String!
    throwing: String
  }
  type Subscription {
    greetings: String!
    count(to: Int!): Int!
    boom: Int!
  }
`);

const GREETINGS = ['Hi', 'Bonjour', 'Hola', 'Ciao', 'Zdravo'];

// One root object for queries and subscriptions: a subscription field's function returns
// its source, and each event is the root value of the result's execution.
export const roots = {
  hello: ({ name }) => `Hello, ${name}!`,
  throwing: () => {
    throw new Error('Query Kaboom!');
  },
  greetings: async function* () {
    for (const greetings of GREETINGS) yield { greetings };
  },
  count: async function* ({ to }) {
    for (let count = 1; count <= to; count++) yield { count };
  },
  boom: async function* () {
    yield { boom: 1 };
    throw new Error('Boom!');
  },
};

// Every line on stdout is one JSON object with an "event" field; the first is
// {"event": "listening", "port": N}.
export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}
