// graphql-http's server audit: the checks of the GraphQL-over-HTTP specification, run
// against a URL. Prints one "audit" event per check (its id, name, status: ok, notice,
// warn or error, and the reason when not ok).
//
//   node http_audit.mjs run '{"url": "http://.../graphql"}'

import { serverAudits } from 'graphql-http';
import { emit, finish, installGuards, parseArguments } from './common.mjs';

const { config } = parseArguments();
const clearGuards = installGuards(config.timeoutMs);
for (const audit of serverAudits({ url: config.url, fetchFn: fetch })) {
  // One at a time: the server's log shows each check's requests in order.
  const result = await audit.fn();
  emit('audit', {
    id: audit.id,
    name: audit.name,
    status: result.status,
    ...(result.status === 'ok' ? {} : { reason: result.reason }),
  });
}
finish(clearGuards);
