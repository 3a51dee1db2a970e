// The GraphiQL page of a gqlwire endpoint. The page is served by the endpoint itself, at
// whatever path it is mounted, so every URL is computed from `location`: queries and
// mutations are POSTed to the page's own URL, subscriptions run over graphql-transport-ws
// on the same URL (ws: or wss:, following the page).
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { createClient } from "graphql-ws";
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import "graphiql/style.css";
import "./page.css";

const DEFAULT_QUERY = `# Welcome to GraphiQL, served offline by gqlwire.
#
# Queries and mutations go over HTTP POST to this URL; subscriptions run over
# graphql-transport-ws on this same URL. Press Ctrl-Enter to run.
{
  __typename
}
`;

function endpointUrls() {
  const path = location.pathname;
  const socketScheme = location.protocol === "https:" ? "wss:" : "ws:";
  return {
    url: `${location.origin}${path}`,
    subscriptionUrl: `${socketScheme}//${location.host}${path}`,
  };
}

function start() {
  const { url, subscriptionUrl } = endpointUrls();
  // One lazy client: it connects on the first subscription and closes when none is left.
  const wsClient = createClient({ url: subscriptionUrl });
  const fetcher = createGraphiQLFetcher({ url, wsClient });
  const container = document.getElementById("graphiql");
  createRoot(container).render(createElement(GraphiQL, { fetcher, defaultQuery: DEFAULT_QUERY }));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
