// The annotation page's entry point: reads the feed the server embedded in
// the page and starts annotating.

import { AnnotationPage } from "./page.js";

function readConfig() {
  const feed = JSON.parse(document.getElementById("feed-config").textContent);
  const body = document.body.dataset;
  return {
    feed,
    reauthUrl: body.reauthUrl || "",
    userId: body.userId || "anonymous",
    base: `/api/feeds/${encodeURIComponent(feed.id)}`,
  };
}

new AnnotationPage(readConfig()).start();
